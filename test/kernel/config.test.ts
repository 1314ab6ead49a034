import t from 'tap';
import { parseEngineConfig, defaultEngineConfig } from '../../core/config';
import { hasCode } from '../../core/errors';
import { Engine } from '../../core/engine';
import { mkdtemp, writeFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

t.test('defaults', async (t) => {
  const c = defaultEngineConfig();
  t.equal(c['storage-driver'], 'overlay');
  t.equal(c.isolation, 'oci');
  t.same(c.registries, { mirrors: {}, insecure: [] });
});

t.test('a full file parses', async (t) => {
  const c = parseEngineConfig(`
storage-driver: vfs
isolation: ns
registries:
  mirrors: { docker.io: ["http://127.0.0.1:5000"] }
  insecure: ["127.0.0.1:5000"]
required-plugins: [berth.storage.v1.vfs]
plugins:
  vfs: { anything: 1 }
`, 'cfg.yaml');
  t.equal(c['storage-driver'], 'vfs');
  t.same(c.registries.mirrors, { 'docker.io': ['http://127.0.0.1:5000'] });
  t.same(c.plugins, { vfs: { anything: 1 } });
});

const bad: Array<[string, RegExp]> = [
  ['storage-driver: 3', /cfg\.yaml: storage-driver: expected a string, got number 3/],
  ['registries:\n  insecure: 5', /cfg\.yaml: registries\.insecure: expected a list of strings, got number/],
  ['registries:\n  mirrors: { docker.io: "x" }', /registries\.mirrors\.docker\.io: expected a list of strings, got string/],
  ['log-level: loud', /log-level: expected one of debug, info, warn, error, got "loud"/],
  ['storge-driver: vfs', /cfg\.yaml: storge-driver: unknown key/],
  ['- a\n- b', /\(top level\): expected a mapping, got list/],
];
for (const [text, want] of bad) {
  t.test(`rejects ${JSON.stringify(text)}`, async (t) => {
    try {
      parseEngineConfig(text, 'cfg.yaml');
      t.fail('accepted');
    } catch (e) {
      t.ok(hasCode(e, 'ERR_CONFIG_INVALID'), (e as Error).message);
      t.match((e as Error).message, want);
    }
  });
}

t.test('YAML syntax errors name the file', async (t) => {
  t.throws(() => parseEngineConfig('a: [1, 2\nb: c', 'x.yaml'), /x\.yaml: not valid YAML/);
  t.throws(() => parseEngineConfig('isolation: a\nisolation: b', 'x.yaml'), /x\.yaml: not valid YAML/);
});

t.test('parsed config files are cached by their text; a change is read again', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-cfgcache-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.yaml');
  const root = join(dir, 'root');
  await writeFile(file, 'storage-driver: vfs\nlog-level: error\n');
  const open = async () => {
    const e = await Engine.open({ root, configFile: file, registrations: [] });
    const c = e.config;
    await e.close();
    return c;
  };
  t.equal((await open())['storage-driver'], 'vfs');
  const cached = (await readdir(join(root, 'cache'))).filter((f) => f.startsWith('config-'));
  t.equal(cached.length, 1, 'one cache entry');
  t.equal((await open())['storage-driver'], 'vfs', 'a hit gives the same config');
  await writeFile(file, 'storage-driver: overlay\nlog-level: error\n');
  t.equal((await open())['storage-driver'], 'overlay', 'an edit is seen at once');
  t.equal((await readdir(join(root, 'cache'))).filter((f) => f.startsWith('config-')).length, 1, 'the edit replaced the entry');
  await writeFile(file, 'storage-driver: [oops\n');
  await t.rejects(open(), { code: 'ERR_CONFIG_PARSE' }, 'a broken file is an error, not a stale hit');
});
