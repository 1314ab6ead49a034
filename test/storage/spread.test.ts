/**
 * Snapshot dirs are spread over ext4 block groups: the first prepare on a root marks
 * `snapshots/` with EXT4_TOPDIR_FL (`chattr +T`, shown as `T` by `lsattr -d`) and records that in
 * `<dataDir>/topdir`; on a filesystem without the flag (tmpfs) prepare works all the same.
 * Why: plugins/storage/common/snapshots.ts, spreadLayerDirs().
 */
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OverlayDriver } from '../../plugins/storage/overlay/overlay';
import { VfsDriver } from '../../plugins/storage/vfs/vfs';

const fsType = (p: string) => execFileSync('stat', ['-f', '-c', '%T', p]).toString().trim();
// The parent of the per-test roots goes too (when empty: another run may share it).
t.teardown(() => {
  try { fs.rmdirSync('/var/lib/berth-test'); } catch { /* not empty, or gone */ }
});

for (const [name, make] of [['overlay', (d: string) => new OverlayDriver(d)], ['vfs', (d: string) => new VfsDriver(d)]] as const) {
  t.test(`${name}: snapshots/ gets the ext4 top-directory flag on first prepare`, async (t) => {
    fs.mkdirSync('/var/lib/berth-test', { recursive: true });
    const root = fs.mkdtempSync('/var/lib/berth-test/spread-');
    t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
    if (!/ext[234]/.test(fsType(root))) {
      t.plan(0, `${root} is ${fsType(root)}, not ext4`);
      return;
    }
    const d = make(root);
    const snaps = path.join(root, 'snapshots');
    t.notOk(fs.existsSync(path.join(root, 'topdir')), 'no marker before the first prepare');
    await d.prepare('a', '');
    const attrs = execFileSync('lsattr', ['-d', snaps]).toString().split(' ')[0]!;
    t.match(attrs, /T/, `lsattr -d snapshots: ${attrs}`);
    t.match(fs.readFileSync(path.join(root, 'topdir'), 'utf8'), /done/, 'marker records success');
    // A second driver on the same root does not try again, and the marker is no stray file.
    const d2 = make(root);
    await d2.prepare('b', '');
    t.same((await d2.check()).filter((i) => i.kind !== 'temp-dir'), [], 'system check sees no issue');
    await d2.remove('b');
    await d.remove('a');
  });
}

t.test('a filesystem without the flag (tmpfs): prepare still works, the marker says so', async (t) => {
  fs.mkdirSync('/var/lib/berth-test', { recursive: true });
  const mnt = fs.mkdtempSync('/var/lib/berth-test/spread-tmpfs-');
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mnt]);
  t.teardown(() => {
    spawnSync('umount', [mnt]);
    fs.rmSync(mnt, { recursive: true, force: true });
  });
  if (m.status !== 0) {
    t.plan(0, `cannot mount a tmpfs here: ${m.stderr}`);
    return;
  }
  const d = new OverlayDriver(path.join(mnt, 'root'));
  const dir = await d.prepare('a', '');
  t.ok(fs.statSync(dir).isDirectory(), 'layer dir made');
  t.match(fs.readFileSync(path.join(mnt, 'root', 'topdir'), 'utf8'), /unsupported/, 'marker records that chattr failed');
  await d.remove('a');
});
