/**
 * Unit tests of the mount helper's command lines (no root, no mounts): bind and overlay
 * arguments, shortening of option strings longer than a page, the error when even relative
 * paths do not fit, and unmount-on-failure — against the recording fake of the host seam.
 */
import t from 'tap';
import { ERR_MOUNT_FAILED, ERR_MOUNT_OPTIONS_TOO_LONG, MOUNT_OPTIONS_LIMIT, mountAll, mountArgs, unmountAll } from '../../core/images/mount';
import { RecordingHost } from '../../core/testsuite/fake-host';
import { hasCode } from '../../core/errors';

t.test('bind mounts: rbind by default, ro/rw kept, plain bind on request', async (t) => {
  t.same(mountArgs({ type: 'bind', source: '/s', options: ['rbind', 'ro'] }, '/t'), { args: ['-o', 'rbind,ro', '/s', '/t'] });
  t.same(mountArgs({ type: 'bind', source: '/s', options: ['rw'] }, '/t'), { args: ['-o', 'rbind,rw', '/s', '/t'] });
  t.same(mountArgs({ type: 'bind', source: '/s', options: ['bind', 'ro'] }, '/t'), { args: ['-o', 'bind,ro', '/s', '/t'] });
});

t.test('short overlay options are passed as they are', async (t) => {
  const m = { type: 'overlay', source: 'overlay', options: ['lowerdir=/a/2/fs:/a/1/fs', 'upperdir=/a/3/fs', 'workdir=/a/3/work'] };
  t.same(mountArgs(m, '/t'), { args: ['-t', 'overlay', '-o', 'lowerdir=/a/2/fs:/a/1/fs,upperdir=/a/3/fs,workdir=/a/3/work', 'overlay', '/t'] });
});

t.test('long overlay options: relative to the common parent, run from there', async (t) => {
  const base = '/var/lib/berth/plugins/berth.storage.v1.overlay/snapshots';
  const lowers = Array.from({ length: 200 }, (_, i) => `${base}/${200 - i}/fs`);
  const m = { type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`, `upperdir=${base}/201/fs`, `workdir=${base}/201/work`] };
  t.ok(m.options.join(',').length > MOUNT_OPTIONS_LIMIT);
  const r = mountArgs(m, 'rel/target');
  t.equal(r.cwd, base);
  const opts = r.args[3]!;
  t.ok(opts.length <= MOUNT_OPTIONS_LIMIT, `${opts.length} bytes`);
  t.ok(opts.startsWith('lowerdir=200/fs:199/fs:'), opts.slice(0, 40));
  t.match(opts, /,upperdir=201\/fs,workdir=201\/work$/);
  t.equal(r.args[5], `${process.cwd()}/rel/target`, 'the target is made absolute (mount runs elsewhere)');
});

t.test('options that do not fit even relative are refused with a stable code', async (t) => {
  const lowers = Array.from({ length: 2000 }, (_, i) => `/x/${i}/fs`);
  t.throws(() => mountArgs({ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`] }, '/t'), { code: ERR_MOUNT_OPTIONS_TOO_LONG.code });
});

t.test('mountAll: one mount(8) per spec; a failure unmounts what was mounted and names the spec', async (t) => {
  const host = new RecordingHost().answer('mount', (args) => (args.includes('/bad') ? { code: 32, stdout: '', stderr: 'mount: /bad: special device does not exist' } : { code: 0, stdout: '', stderr: '' }));
  await mountAll([{ type: 'bind', source: '/s', options: ['ro'] }, { type: 'bind', source: '/s2', target: 'sub', options: ['rw'] }], '/t', host);
  t.same(host.calls('mount').map((c) => c.args), [['-o', 'rbind,ro', '/s', '/t'], ['-o', 'rbind,rw', '/s2', '/t/sub']]);
  const err = await mountAll([{ type: 'bind', source: '/s', options: [] }, { type: 'bind', source: '/bad', options: [] }], '/t2', host).catch((e: unknown) => e);
  t.ok(hasCode(err, ERR_MOUNT_FAILED.code), String(err));
  t.same(host.calls('umount').map((c) => c.args), [['-R', '/t2']], 'rolled back');
});

t.test('unmountAll: "not mounted" is fine, other failures are errors', async (t) => {
  const ok = new RecordingHost().answer('umount', () => ({ code: 32, stdout: '', stderr: 'umount: /t: not mounted.' }));
  await unmountAll('/t', ok);
  const busy = new RecordingHost().answer('umount', () => ({ code: 32, stdout: '', stderr: 'umount: /t: target is busy.' }));
  await t.rejects(unmountAll('/t', busy), { code: 'ERR_MOUNT_UNMOUNT_FAILED' });
});
