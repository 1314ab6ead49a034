// Volumes in `system df` and `system prune --volumes`, through the built CLI.
import t from 'tap';
import { writeFile, stat } from 'node:fs/promises';
import { Engine } from '../../core/engine';
import { builtins } from '../../plugins/builtins';
import { PluginType } from '../../core/plugin-types';
import type { VolumeDriver } from '../../core/contracts/volume';
import { ANONYMOUS_LABEL } from '../../core/volumes/service';
import { berth, tempRoot } from '../helpers/cli';

t.test('df counts volumes; prune --volumes removes unused anonymous volumes only', async (t) => {
  const root = await tempRoot(t);
  const engine = await Engine.open({ registrations: builtins, root, onlyTypes: [PluginType.Volume] });
  const local = engine.plugins.getById<VolumeDriver>(PluginType.Volume, 'local');
  const named = await local.create('named-data', {});
  const anon = await local.create('0123456789abcdef0123', {}, { [ANONYMOUS_LABEL]: '' });
  const busy = await local.create('busy-anon', {}, { [ANONYMOUS_LABEL]: '' });
  await writeFile(`${named.path()}/f`, Buffer.alloc(3000));
  await writeFile(`${anon.path()}/f`, Buffer.alloc(5000));
  await busy.mount('container-1');
  await engine.close();

  const df = await berth(['system', 'df', '--format', '{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}'], { root });
  t.equal(df.code, 0, df.stderr);
  t.ok(df.stdout.split('\n').includes('Local Volumes|3|1|8kB'), df.stdout);

  const noVolumes = await berth(['system', 'prune', '-f'], { root });
  t.equal(noVolumes.code, 0, noVolumes.stderr);
  t.ok((await stat(anon.path())).isDirectory(), 'without --volumes no volume is removed');

  const prune = await berth(['system', 'prune', '-f', '--volumes'], { root });
  t.equal(prune.code, 0, prune.stderr);
  t.match(prune.stdout, /Deleted volumes:\n0123456789abcdef0123\n/);
  await t.rejects(stat(anon.path()), { code: 'ENOENT' });
  t.ok((await stat(named.path())).isDirectory(), 'named volumes stay');
  t.ok((await stat(busy.path())).isDirectory(), 'volumes in use stay');
  t.match(prune.stdout, /Total reclaimed space: 5kB/);
});
