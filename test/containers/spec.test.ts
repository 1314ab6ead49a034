/**
 * Unit tests (no root): Docker options → OCI config, option parsers, names, detach keys, exit
 * code mapping, runtime choice on hybrid cgroup hosts, scoped path resolution.
 */
import t from 'tap';
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildOciSpec, capabilitySet, defaultHostConfig, lookupUser, parseBytes, parseDevice, parseRestart, parseSignal, parseUlimit,
  resolveCommand, DEFAULT_CAPS, MASKED_PATHS, READONLY_PATHS, ContainerConfig, restartString,
} from '../../core/containers/spec';
import { DetachScanner, frame } from '../../core/containers/attach';
import { randomName, validateName } from '../../core/containers/names';
import { exitCodeForStartError } from '../../plugins/isolation/oci/backend';
import { chooseRuntime } from '../../plugins/isolation/oci/plugin';
import { scopedPath, statusText } from '../../core/containers/service';
import type { HostFeatures } from '../../core/contracts/host';

const cfg = (over: Partial<ContainerConfig> = {}): ContainerConfig => ({
  Hostname: 'abc', Domainname: '', User: '', AttachStdin: false, AttachStdout: true, AttachStderr: true, Tty: false, OpenStdin: false,
  StdinOnce: false, Env: ['PATH=/bin'], Cmd: ['sh'], Image: 'bb', Volumes: null, WorkingDir: '', Entrypoint: null, OnBuild: null, Labels: {}, ...over,
});

t.test('signals', async (t) => {
  t.same(parseSignal('TERM'), { name: 'SIGTERM', num: 15 });
  t.same(parseSignal('sigkill'), { name: 'SIGKILL', num: 9 });
  t.same(parseSignal('1'), { name: 'SIGHUP', num: 1 });
  t.equal(parseSignal('RTMIN+3').num, 37);
  t.throws(() => parseSignal('NOPE'), { code: 'ERR_CONTAINER_INVALID_OPTION' });
  t.throws(() => parseSignal('99'), { code: 'ERR_CONTAINER_INVALID_OPTION' });
});

t.test('restart policies', async (t) => {
  t.same(parseRestart(undefined), { Name: 'no', MaximumRetryCount: 0 });
  t.same(parseRestart('on-failure:3'), { Name: 'on-failure', MaximumRetryCount: 3 });
  t.equal(restartString(parseRestart('on-failure:3')), 'on-failure:3');
  t.same(parseRestart('unless-stopped'), { Name: 'unless-stopped', MaximumRetryCount: 0 });
  t.throws(() => parseRestart('always:2'), { code: 'ERR_CONTAINER_INVALID_OPTION' });
  t.throws(() => parseRestart('sometimes'), { code: 'ERR_CONTAINER_INVALID_OPTION' });
});

t.test('sizes, ulimits, devices', async (t) => {
  t.equal(parseBytes('64m'), 64 * 1024 * 1024);
  t.equal(parseBytes('1g'), 1024 ** 3);
  t.equal(parseBytes('512'), 512);
  t.equal(parseBytes('1.5k'), 1536);
  t.throws(() => parseBytes('lots'), { code: 'ERR_CONTAINER_INVALID_OPTION' });
  t.same(parseUlimit('nofile=1024:2048'), { Name: 'nofile', Soft: 1024, Hard: 2048 });
  t.same(parseUlimit('nproc=10'), { Name: 'nproc', Soft: 10, Hard: 10 });
  t.throws(() => parseUlimit('nofile=10:5'), { code: 'ERR_CONTAINER_INVALID_OPTION' });
  t.throws(() => parseUlimit('bogus=1'), { code: 'ERR_CONTAINER_INVALID_OPTION' });
  t.same(parseDevice('/dev/fuse'), { PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' });
  t.same(parseDevice('/dev/null:/dev/mynull:r'), { PathOnHost: '/dev/null', PathInContainer: '/dev/mynull', CgroupPermissions: 'r' });
  t.same(parseDevice('/dev/null:rw'), { PathOnHost: '/dev/null', PathInContainer: '/dev/null', CgroupPermissions: 'rw' });
  t.throws(() => parseDevice('relative'), { code: 'ERR_CONTAINER_INVALID_OPTION' });
});

t.test('command resolution follows Docker', async (t) => {
  const img = { Entrypoint: ['/entry'], Cmd: ['default'] };
  t.same(resolveCommand(img, undefined, []).args, ['/entry', 'default']);
  t.same(resolveCommand(img, undefined, ['x']).args, ['/entry', 'x']);
  t.same(resolveCommand(img, ['sh'], []).args, ['sh'], '--entrypoint drops the image Cmd');
  t.same(resolveCommand(img, null, ['ls']).args, ['ls'], '--entrypoint "" resets it');
  t.throws(() => resolveCommand({}, undefined, []), { code: 'ERR_CONTAINER_NO_COMMAND' });
});

t.test('capabilities', async (t) => {
  const hc = defaultHostConfig();
  t.same(capabilitySet(hc), DEFAULT_CAPS);
  t.same(capabilitySet({ ...hc, CapDrop: ['ALL'], CapAdd: ['net_admin'] }), ['CAP_NET_ADMIN']);
  t.notOk(capabilitySet({ ...hc, CapDrop: ['CHOWN'] }).includes('CAP_CHOWN'));
  t.equal(capabilitySet({ ...hc, Privileged: true }).length, 41);
  t.equal(capabilitySet({ ...hc, Privileged: true }, 0x1fffeffffffn).length, 40, 'limited by the host bounding set');
  t.notOk(capabilitySet({ ...hc, Privileged: true }, 0x1fffeffffffn).includes('CAP_SYS_RESOURCE'));
  t.throws(() => capabilitySet({ ...hc, CapAdd: ['FLY'] }), { code: 'ERR_CONTAINER_INVALID_OPTION' });
});

t.test('users from the image passwd/group', async (t) => {
  const files: Record<string, string> = {
    'etc/passwd': 'root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n',
    'etc/group': 'root:x:0:\nuser:x:1000:\nstaff:x:50:user,other\n',
  };
  const read = (f: 'etc/passwd' | 'etc/group') => files[f];
  t.same(lookupUser('', read), { uid: 0, gid: 0, additionalGids: [] });
  t.same(lookupUser('user', read), { uid: 1000, gid: 1000, additionalGids: [1000, 50] });
  t.same(lookupUser('1000:50', read), { uid: 1000, gid: 50, additionalGids: [] });
  t.same(lookupUser('4242', read), { uid: 4242, gid: 0, additionalGids: [] });
  t.same(lookupUser('user:root', read).gid, 0);
  t.throws(() => lookupUser('ghost', read), { code: 'ERR_CONTAINER_USER_NOT_FOUND' });
});

t.test('OCI spec: Docker defaults and options', async (t) => {
  const base = {
    id: 'a'.repeat(64), args: ['sh'], rootPath: 'rootfs', cgroupsPath: '/berth-x/a', cgroupMode: 'hybrid' as const,
    user: { uid: 0, gid: 0, additionalGids: [] }, dir: '/r/c', devices: [], swapAccounting: true,
  };
  const s = buildOciSpec({ ...base, config: cfg(), hostConfig: defaultHostConfig() }) as Record<string, any>;
  t.equal(s.ociVersion, '1.0.2');
  t.same(s.process.capabilities.bounding, DEFAULT_CAPS);
  t.same(s.process.capabilities.effective, DEFAULT_CAPS);
  t.notOk(s.process.capabilities.inheritable);
  t.equal(s.process.noNewPrivileges, false);
  t.notOk(s.process.rlimits);
  t.same(s.linux.maskedPaths, MASKED_PATHS);
  t.same(s.linux.readonlyPaths, READONLY_PATHS);
  t.same(s.linux.namespaces.map((n: { type: string }) => n.type).sort(), ['ipc', 'mount', 'network', 'pid', 'uts']);
  t.same(s.mounts.map((m: { destination: string }) => m.destination), ['/proc', '/dev', '/dev/pts', '/sys', '/sys/fs/cgroup', '/dev/mqueue', '/dev/shm', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf']);
  t.ok(s.mounts[6].options.includes('size=67108864'), '/dev/shm is 64 MiB');
  t.equal(s.linux.cgroupsPath, '/berth-x/a');
  t.equal(s.root.readonly, false);
  t.ok(s.process.env.includes('HOSTNAME=abc'));

  const hc = {
    ...defaultHostConfig(), ReadonlyRootfs: true, Memory: 64 * 1024 * 1024, NanoCpus: 500_000_000, PidsLimit: 20, CpuShares: 512,
    CpusetCpus: '0', SecurityOpt: ['no-new-privileges'], Ulimits: [{ Name: 'nofile', Soft: 100, Hard: 200 }], Tmpfs: { '/run': 'size=1m' },
    NetworkMode: 'host', Init: true,
  };
  const o = buildOciSpec({ ...base, config: cfg({ Tty: true }), hostConfig: hc, initPath: '/usr/bin/tini-static' }) as Record<string, any>;
  t.equal(o.root.readonly, true);
  t.same(o.linux.resources.memory, { limit: 64 * 1024 * 1024, swap: 128 * 1024 * 1024 });
  t.same(o.linux.resources.cpu, { period: 100000, quota: 50000, shares: 512, cpus: '0' });
  t.same(o.linux.resources.pids, { limit: 20 });
  t.equal(o.process.noNewPrivileges, true);
  t.same(o.process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 200 }]);
  t.ok(o.mounts.some((m: { destination: string; options: string[] }) => m.destination === '/run' && m.options.includes('size=1m')));
  t.notOk(o.linux.namespaces.some((n: { type: string }) => n.type === 'network'), '--network host: no netns');
  t.same(o.process.args, ['/sbin/docker-init', '--', 'sh']);
  t.ok(o.mounts.some((m: { destination: string; source: string }) => m.destination === '/sbin/docker-init' && m.source === '/usr/bin/tini-static'));
  t.ok(o.process.env.includes('TERM=xterm'));

  t.ok((s.linux.seccomp as { syscalls: Array<{ names: string[] }> }).syscalls[0]!.names.includes('unshare'), 'default seccomp refuses unshare');
  const sa = buildOciSpec({ ...base, config: cfg(), hostConfig: { ...defaultHostConfig(), CapAdd: ['CAP_SYS_ADMIN'] } }) as Record<string, any>;
  t.notOk(sa.linux.seccomp.syscalls[0].names.includes('mount'), 'CAP_SYS_ADMIN lifts mount');
  const unc = buildOciSpec({ ...base, config: cfg(), hostConfig: { ...defaultHostConfig(), SecurityOpt: ['seccomp=unconfined'] } }) as Record<string, any>;
  t.notOk(unc.linux.seccomp, 'seccomp=unconfined');

  const u = buildOciSpec({ ...base, config: cfg(), hostConfig: defaultHostConfig(), usernsRange: { hostId: 100000, size: 65536 } }) as Record<string, any>;
  t.ok(u.linux.namespaces.some((n: { type: string }) => n.type === 'user'));
  t.same(u.linux.uidMappings, [{ containerID: 0, hostID: 100000, size: 65536 }]);

  const p = buildOciSpec({ ...base, config: cfg(), hostConfig: { ...defaultHostConfig(), Privileged: true } }) as Record<string, any>;
  t.notOk(p.linux.maskedPaths);
  t.notOk(p.linux.seccomp, '--privileged: no seccomp');
  t.same(p.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
});

t.test('names', async (t) => {
  for (let i = 0; i < 50; i++) t.match(randomName(), /^[a-z]+_[a-z]+$/);
  t.match(randomName(1), /^[a-z]+_[a-z]+\d$/);
  t.equal(validateName('/web'), 'web');
  t.throws(() => validateName('bad name'), { code: 'ERR_CONTAINER_NAME_INVALID' });
  t.throws(() => validateName('x'), { code: 'ERR_CONTAINER_NAME_INVALID' }, 'Docker needs 2 characters');
});

t.test('detach keys and frames', async (t) => {
  const d = new DetachScanner();
  t.same(d.push(Buffer.from('ab\x10')), { forward: Buffer.from('ab'), detach: false }, 'ctrl-p held back');
  t.same(d.push(Buffer.from('x')), { forward: Buffer.from('\x10x'), detach: false }, 'released when not followed by ctrl-q');
  t.equal(d.push(Buffer.from('\x10\x11')).detach, true);
  const c = DetachScanner.parse('ctrl-a,d');
  t.equal(c.push(Buffer.from('\x01d')).detach, true);
  t.throws(() => DetachScanner.parse('ctrl-$$'));
  t.same([...frame(4, Buffer.from([0, 24, 0, 80]))], [4, 0, 0, 0, 0, 0, 0, 4, 0, 24, 0, 80]);
});

t.test('runtime start errors → Docker exit codes', async (t) => {
  t.equal(exitCodeForStartError('runc run failed: unable to start container process: exec: "nope": executable file not found in $PATH'), 127);
  t.equal(exitCodeForStartError('executable file `nope` not found in $PATH: No such file or directory'), 127);
  t.equal(exitCodeForStartError('exec: "/etc": permission denied'), 126);
  t.equal(exitCodeForStartError('error preparing rootfs: mount x: permission denied'), 125, 'a mount failure is an engine error');
  t.equal(exitCodeForStartError('cgroups in hybrid mode not supported'), 125);
});

t.test('runtime choice on hybrid cgroup hosts', async (t) => {
  const features = (v2: string[]) => ({ cgroup: { mode: 'hybrid', v1Controllers: ['memory'], v2Controllers: v2, v2Mount: '/sys/fs/cgroup/unified' } }) as unknown as HostFeatures;
  const all = (n: string) => `/usr/bin/${n}`;
  t.equal(chooseRuntime(features([]), undefined, all, false).name, 'crun');
  const r = chooseRuntime(features(['hugetlb']), undefined, all, false);
  t.equal(r.name, 'runc');
  t.match(r.note, /crun refuses this hybrid cgroup host.*hugetlb.*mount -t cgroup -o hugetlb/);
  t.equal(chooseRuntime(features(['hugetlb']), undefined, all, true).name, 'crun', 'bound to v1: crun works');
  t.throws(() => chooseRuntime(features(['hugetlb']), 'crun', all, false), { name: 'PluginSkipError', message: /hybrid/ });
  t.throws(() => chooseRuntime(features(['hugetlb']), undefined, (n) => (n === 'crun' ? '/usr/bin/crun' : undefined), false), { name: 'PluginSkipError' });
  t.throws(() => chooseRuntime(features([]), undefined, () => undefined, false), { message: /no OCI runtime/ });
});

t.test('scoped paths never leave the container root', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-scope-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc', 'passwd'), 'inside');
  symlinkSync('/', join(root, 'rootlink'));
  symlinkSync('../../../../../etc', join(root, 'up'));
  symlinkSync('/etc/passwd', join(root, 'abs'));
  t.equal(scopedPath(root, '/rootlink/etc/passwd'), `${root}/etc/passwd`);
  t.equal(scopedPath(root, '/up/passwd'), `${root}/etc/passwd`);
  t.equal(scopedPath(root, '/abs'), `${root}/etc/passwd`);
  t.equal(scopedPath(root, '/../../etc/passwd'), `${root}/etc/passwd`);
  t.equal(scopedPath(root, '/new/file'), `${root}/new/file`);
  symlinkSync('loop2', join(root, 'loop1'));
  symlinkSync('loop1', join(root, 'loop2'));
  t.throws(() => scopedPath(root, '/loop1/x'), { code: 'ERR_CONTAINER_PATH_INVALID' });
});

t.test('status text', async (t) => {
  const now = Date.parse('2026-01-01T00:10:00Z');
  t.equal(statusText({ id: 'x', status: 'created' }, now), 'Created');
  t.equal(statusText({ id: 'x', status: 'running', startedAt: '2026-01-01T00:09:57Z' }, now), 'Up 3 seconds');
  t.equal(statusText({ id: 'x', status: 'exited', exitCode: 3, finishedAt: '2026-01-01T00:08:00Z' }, now), 'Exited (3) 2 minutes ago');
  t.equal(statusText({ id: 'x', status: 'paused', startedAt: '2026-01-01T00:00:00Z' }, now), 'Up 10 minutes (Paused)');
});
