/**
 * Isolation properties checked through `berth run` (the ns engineer's suite checks them at
 * runtime level): PID 1, hostname, Docker's default capability set read from
 * /proc/self/status, masked and read-only /proc paths, OOM → 137 + OOMKilled, --pids-limit
 * stops a fork bomb, --read-only, --cpus 0.5 near 50 %, --cap-drop/--cap-add/--privileged,
 * --user, --userns remap maps container root to host uid 100000, --network none/host.
 */
import t from 'tap';
import { mkdtempSync, rmSync, chmodSync, readFileSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { berthCli, cleanupRoot, haveBuild, importBusyboxImage } from '../helpers/busybox-rootfs';

// Docker's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE
// NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP = bits 0,1,3,4,5,6,7,8,10,13,18,27,29,31.
const DOCKER_CAPS = '00000000a80425fb';

if (!haveBuild()) t.fail('dist/ is missing: run `npm run build` first');
if (process.getuid?.() !== 0) t.plan(0, 'needs root');
else {
  const tmp = mkdtempSync(join(tmpdir(), 'berth-iso-'));
  chmodSync(tmp, 0o711); // --userns: the remapped root must be able to reach the state root
  const root = join(tmp, 'root');
  const b = berthCli(root);
  t.teardown(async () => {
    await cleanupRoot(root);
    rmSync(tmp, { recursive: true, force: true });
  });
  t.before(async () => importBusyboxImage(root, tmp, 'bb:latest'));

  t.test('PID 1, hostname, default capabilities, masked and read-only paths', async (t) => {
    const r = await b(['run', '--rm', '--hostname', 'probe', 'bb', 'sh', '-c',
      'echo pid=$$; hostname; grep -E "^Cap(Eff|Prm|Bnd|Inh|Amb)" /proc/self/status; set -- /proc/[0-9]*; echo $*; ' +
      'wc -c < /proc/timer_list; echo x > /proc/sys/kernel/hostname 2>/dev/null && echo sys-writable || echo sys-ro; ls /sys/firmware | wc -l']);
    t.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    t.equal(lines[0], 'pid=1');
    t.equal(lines[1], 'probe');
    t.match(r.stdout, `CapEff:\t${DOCKER_CAPS}`);
    t.match(r.stdout, `CapPrm:\t${DOCKER_CAPS}`);
    t.match(r.stdout, `CapBnd:\t${DOCKER_CAPS}`);
    t.match(r.stdout, 'CapInh:\t0000000000000000');
    t.match(r.stdout, 'CapAmb:\t0000000000000000');
    t.equal(lines[7], '/proc/1', 'only the container process is visible');
    t.equal(lines[8], '0', '/proc/timer_list is masked');
    t.equal(lines[9], 'sys-ro', '/proc/sys is read-only');
    t.equal(lines[10], '0', '/sys/firmware is masked');
  });

  t.test('capabilities: --cap-drop, --cap-add, --privileged', async (t) => {
    const drop = await b(['run', '--rm', '--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN', 'bb', 'grep', 'CapEff', '/proc/self/status']);
    t.equal(drop.stdout, 'CapEff:\t0000000000001000\n');
    const chown = await b(['run', '--rm', '--cap-drop', 'CHOWN', 'bb', 'sh', '-c', 'touch /tmp/f && chown 1000 /tmp/f']);
    t.not(chown.code, 0, 'chown fails without CAP_CHOWN');
    const priv = await b(['run', '--rm', '--privileged', 'bb', 'grep', 'CapEff', '/proc/self/status']);
    const host = /^CapBnd:\t([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1];
    t.equal(priv.stdout, `CapEff:\t${host}\n`, '--privileged: every capability the host can grant');
  });

  t.test('--user and the image passwd', async (t) => {
    t.match((await b(['run', '--rm', '-u', 'user', 'bb', 'id'])).stdout, /^uid=1000\(user\) gid=1000\(user\) groups=(1000\(user\),50\(staff\)|50\(staff\),1000\(user\))\n$/);
    t.equal((await b(['run', '--rm', '-u', '4242:4343', 'bb', 'id', '-u'])).stdout, '4242\n');
    const bad = await b(['run', '--rm', '-u', 'nosuchuser', 'bb', 'id']);
    t.equal(bad.code, 125);
    t.match(bad.stderr, /ERR_CONTAINER_USER_NOT_FOUND/);
  });

  t.test('a memory hog is OOM-killed: 137 and OOMKilled', async (t) => {
    const r = await b(['run', '--name', 'hog', '-m', '32m', 'bb', 'sh', '-c', 'x=a; while true; do x=$x$x; done']);
    t.equal(r.code, 137);
    const ins = JSON.parse((await b(['inspect', 'hog'])).stdout)[0];
    t.equal(ins.State.OOMKilled, true);
    t.equal(ins.State.ExitCode, 137);
    t.equal(ins.HostConfig.Memory, 32 * 1024 * 1024);
    await b(['rm', 'hog']);
  });

  t.test('--pids-limit stops a fork bomb', async (t) => {
    const r = await b(['run', '--rm', '--pids-limit', '20', 'bb', 'sh', '-c', 'i=0; while [ $i -lt 100 ]; do sleep 5 & i=$((i+1)); done; echo all-forked']);
    t.match(r.stderr, /can't fork|Resource temporarily unavailable/);
    t.notMatch(r.stdout, /all-forked/, 'the bomb did not get its 100 processes');
    const id = (await b(['run', '-d', '--pids-limit', '20', 'bb', 'sleep', '30'])).stdout.trim();
    const parent = `berth-${createHash('sha256').update(root).digest('hex').slice(0, 8)}`;
    t.equal(readFileSync(`/sys/fs/cgroup/pids/${parent}/${id}/pids.max`, 'utf8').trim(), '20');
    await b(['rm', '-f', id]);
  });

  t.test('--read-only blocks writes; --tmpfs stays writable', async (t) => {
    const r = await b(['run', '--rm', '--read-only', '--tmpfs', '/run:size=1m', 'bb', 'sh', '-c', 'touch /x 2>&1; touch /run/ok && echo tmpfs-ok']);
    t.match(r.stdout, /Read-only file system/);
    t.match(r.stdout, /tmpfs-ok/);
  });

  t.test('--cpus 0.5 caps CPU near 50 %', async (t) => {
    const id = (await b(['run', '-d', '--cpus', '0.5', 'bb', 'sh', '-c', 'while :; do :; done'])).stdout.trim();
    const parent = `berth-${createHash('sha256').update(root).digest('hex').slice(0, 8)}`;
    const usage = () => Number(readFileSync(`/sys/fs/cgroup/cpuacct/${parent}/${id}/cpuacct.usage`, 'utf8'));
    t.equal(readFileSync(`/sys/fs/cgroup/cpu/${parent}/${id}/cpu.cfs_quota_us`, 'utf8').trim(), '50000');
    await new Promise((r) => setTimeout(r, 300));
    const u0 = usage();
    const t0 = process.hrtime.bigint();
    await new Promise((r) => setTimeout(r, 2000));
    const share = (usage() - u0) / Number(process.hrtime.bigint() - t0);
    t.ok(share > 0.15 && share < 0.6, `cpu share ${share.toFixed(2)} near 0.5 (never above the quota)`);
    await b(['rm', '-f', id]);
  });

  t.test('--userns remap: container root is host uid 100000', async (t) => {
    const r = await b(['run', '-d', '--userns', 'remap', 'bb', 'sh', '-c', 'cat /proc/self/uid_map; sleep 30']);
    const id = r.stdout.trim();
    t.match(id, /^[a-f0-9]{64}$/, r.stderr);
    const ins = JSON.parse((await b(['inspect', id])).stdout)[0];
    const status = readFileSync(`/proc/${ins.State.Pid}/status`, 'utf8');
    t.match(status, /^Uid:\t100000\t100000\t100000\t100000$/m, 'host sees uid 100000');
    let logs = '';
    for (let i = 0; i < 30 && !logs; i++) { logs = (await b(['logs', id])).stdout; await new Promise((r) => setTimeout(r, 100)); }
    t.match(logs, /^\s+0\s+100000\s+65536\n$/);
    await b(['rm', '-f', id]);
    // the image's files are the container root's own (id-mapped layers): writable, owned by 0
    const w = await b(['run', '--rm', '--userns', 'remap', 'bb', 'sh', '-c', 'stat -c %u /bin/busybox; echo ok > /etc/new-file && cat /etc/new-file; touch /bin/x && echo bin-writable']);
    t.equal(w.stdout, '0\nok\nbin-writable\n', w.stderr);
  });

  t.test('seccomp: Docker-default refusals, unconfined on request', async (t) => {
    const r = await b(['run', '--rm', 'bb', 'sh', '-c', 'grep "^Seccomp:" /proc/self/status; unshare -U -r true 2>/dev/null; echo unshare=$?']);
    t.equal(r.stdout, 'Seccomp:\t2\nunshare=1\n');
    const u = await b(['run', '--rm', '--security-opt', 'seccomp=unconfined', 'bb', 'sh', '-c', 'grep "^Seccomp:" /proc/self/status; unshare -U -r true; echo unshare=$?']);
    t.equal(u.stdout, 'Seccomp:\t0\nunshare=0\n');
    const m = await b(['run', '--rm', '--cap-add', 'SYS_ADMIN', 'bb', 'sh', '-c', 'mkdir -p /mnt && mount -t tmpfs x /mnt && echo mounted']);
    t.equal(m.stdout, 'mounted\n', 'CAP_SYS_ADMIN lifts the mount refusal, as in Docker');
  });

  t.test('--network none: loopback only; --network host: the host stack', async (t) => {
    const none = await b(['run', '--rm', '--network', 'none', 'bb', 'sh', '-c', 'ls /sys/class/net']);
    t.equal(none.stdout, 'lo\n');
    const host = await b(['run', '--rm', '--network', 'host', 'bb', 'hostname']);
    t.equal(host.stdout, `${hostname()}\n`);
  });
}
