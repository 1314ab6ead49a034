/**
 * The storage drivers through the built CLI: both listed by `berth plugin ls`, overlay the
 * default, and `system check` / `system prune` finding and removing leftovers of interrupted
 * snapshot operations in both drivers; a state root on overlayfs makes overlay skip (with the
 * fix) and the engine fall back to vfs. Needs dist/ (npm run build) and root.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { berth, tempRoot } from '../helpers/cli';

t.test('plugin ls lists overlay and vfs; info names overlay as the storage driver', async (t) => {
  const root = await tempRoot(t, 'berth-storage-cli-');
  const ls = await berth(['plugin', 'ls'], { root });
  t.equal(ls.code, 0, ls.stderr);
  t.match(ls.stdout, /berth\.storage\.v1\s+overlay\s+ok/);
  t.match(ls.stdout, /berth\.storage\.v1\s+vfs\s+ok/);
  const info = await berth(['info'], { root });
  t.match(info.stdout, /Storage Driver: overlay/);
});

t.test('system check reports snapshot leftovers; system prune removes them', async (t) => {
  const root = await tempRoot(t, 'berth-storage-cli-');
  t.equal((await berth(['system', 'check'], { root })).code, 0, 'a fresh root is clean');
  const orphan = path.join(root, 'plugins', 'berth.storage.v1.overlay', 'snapshots', '77', 'fs');
  const temp = path.join(root, 'plugins', 'berth.storage.v1.vfs', 'snapshots', '.tmp-99999999-3', 'fs');
  fs.mkdirSync(orphan, { recursive: true });
  fs.mkdirSync(temp, { recursive: true });
  fs.writeFileSync(path.join(temp, 'half'), 'x');
  const check = await berth(['system', 'check'], { root });
  t.equal(check.code, 0, 'leftovers of interrupted operations are not inconsistencies → exit 0');
  t.match(check.stdout, /No problems found\.\n2 leftover\(s\) of interrupted operations/);
  t.match(check.stdout, /storage: orphan-dir: .*overlay\/snapshots\/77/);
  t.match(check.stdout, /storage: temp-dir: .*vfs\/snapshots\/\.tmp-99999999-3/);
  const prune = await berth(['system', 'prune', '-f'], { root });
  t.equal(prune.code, 0, prune.stderr);
  t.notOk(fs.existsSync(path.dirname(orphan)), 'orphan removed');
  t.notOk(fs.existsSync(path.dirname(temp)), 'temp dir removed');
  const again = await berth(['system', 'check'], { root });
  t.equal(again.code, 0, again.stdout);
  t.notMatch(again.stdout, /leftover/);
});

t.test('a state root on overlayfs: overlay is skipped with the reason and fix, vfs takes over', async (t) => {
  const base = await tempRoot(t, 'berth-storage-cli-ovl-');
  for (const d of ['l', 'u', 'w', 'm']) fs.mkdirSync(path.join(base, d));
  const m = path.join(base, 'm');
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${base}/l,upperdir=${base}/u,workdir=${base}/w`, m]);
  t.teardown(() => execFileSync('umount', [m]));
  const root = path.join(m, 'root');
  const ls = await berth(['plugin', 'ls'], { root });
  t.match(ls.stdout, /berth\.storage\.v1\s+overlay\s+skipped\s+\S+\s+the state root .* is itself on overlayfs/);
  const info = await berth(['info'], { root });
  t.match(info.stdout, /Storage Driver: vfs/, 'the engine falls back to vfs');
  const doctor = await berth(['doctor'], { root });
  t.match(doctor.stdout + doctor.stderr, /storage-driver: vfs|--root on ext4/, 'doctor shows the fix');
});
