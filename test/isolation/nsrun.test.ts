/**
 * berth-nsrun beyond the shared isolation suite: what it refuses (and that a
 * refusal leaves no state, cgroup or process behind), path safety of mount
 * destinations against symlinks in the image, the exec options the oci
 * backend uses, signals, failure cleanup, rlimits/no_new_privs/ambient caps,
 * the terminal proxy, and the cgroup v2 code path (in a private mount
 * namespace where /sys/fs/cgroup is the host's cgroup2 hierarchy).
 * Needs root.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { cgroupMounts, runRuntime, type RunResult } from '../../core/testsuite/isolation';
import { makeBundle, type BundleOptions } from '../helpers/oci-bundle';

const nsrunBuild = require('../../plugins/isolation/ns/build.js') as { build(): string };

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root: namespaces, cgroups and mounts');
} else {
  const bin = nsrunBuild.build();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-nsrun-'));
  fs.chmodSync(tmp, 0o755);
  const state = path.join(tmp, 'state');
  const cgParent = `/berth-nsrun-test-${crypto.randomBytes(4).toString('hex')}`;
  const ids: string[] = [];
  t.teardown(async () => {
    for (const id of ids) await rt(['delete', '--force', id]).catch(() => undefined);
    for (const m of cgroupMounts()) {
      const parent = path.join(m.mountpoint, cgParent);
      if (!fs.existsSync(parent)) continue;
      for (const d of fs.readdirSync(parent, { withFileTypes: true })) if (d.isDirectory()) fs.rmdirSync(path.join(parent, d.name));
      fs.rmdirSync(parent);
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const rt = (args: string[], extra: string[] = []): Promise<RunResult> => runRuntime(bin, [...extra, '--root', state, ...args], { cwd: tmp });
  let n = 0;
  const newId = () => {
    const id = `ns-${process.pid}-${++n}`;
    ids.push(id);
    return id;
  };
  const bundle = (id: string, opts: BundleOptions) => makeBundle(path.join(tmp, id), { cgroupsPath: `${cgParent}/${id}`, ...opts });
  const run = async (opts: BundleOptions, extra: string[] = []) => {
    const id = newId();
    const b = bundle(id, opts);
    return { id, b, ...(await rt(['run', '--bundle', b.dir, id], extra)) };
  };
  /** No state dir and no cgroup directory of `id` survives. */
  const assertNothingLeft = (t: Test, id: string) => {
    t.notOk(fs.existsSync(path.join(state, id)), `no state left for ${id}`);
    const left = cgroupMounts().map((m) => path.join(m.mountpoint, cgParent, id)).filter((d) => fs.existsSync(d));
    t.same(left, [], 'no cgroup left');
  };

  t.test('refuses what it cannot honour, naming the field, leaving nothing behind', async (t) => {
    const cases: [string, (c: Record<string, any>) => void, RegExp, string[]?][] = [
      ['unknown linux field', (c) => (c.linux.intelRdt = { closID: 'x' }), /linux\.intelRdt is not supported/],
      ['apparmor profile', (c) => (c.process.apparmorProfile = 'docker-default'), /process\.apparmorProfile is not supported/],
      ['hooks', (c) => (c.hooks = { prestart: [{ path: '/bin/true' }] }), /hooks are not supported/],
      ['time namespace', (c) => c.linux.namespaces.push({ type: 'time' }), /namespace type time is not supported/],
      ['no mount namespace', (c) => (c.linux.namespaces = c.linux.namespaces.filter((x: any) => x.type !== 'mount')), /must include "mount"/],
      ['nfs mount', (c) => c.mounts.push({ destination: '/mnt', type: 'nfs', source: 'h:/x' }), /mount type "nfs"/],
      ['systemd cgroups path', (c) => (c.linux.cgroupsPath = 'system.slice:berth:x'), /systemd/],
      ['host-wide sysctl', (c) => (c.linux.sysctl = { 'kernel.panic': '1' }), /not namespaced/],
      ['unknown capability', (c) => c.process.capabilities.bounding.push('CAP_FLY'), /unknown capability CAP_FLY/],
      ['seccomp notify action', (c) => (c.linux.seccomp = { defaultAction: 'SCMP_ACT_NOTIFY' }), /seccomp action SCMP_ACT_NOTIFY is not supported/],
      ['seccomp foreign architecture', (c) => (c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_AARCH64'] }), /architecture SCMP_ARCH_AARCH64/],
      ['seccomp unknown op', (c) => (c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 1, op: 'SCMP_CMP_ALMOST' }] }] }), /op SCMP_CMP_ALMOST/],
      ['missing cwd', (c) => (c.process.cwd = '/does/not/exist'), /chdir to cwd/],
      ['missing executable', (c) => (c.process.args = ['no-such-binary']), /executable file not found/],
      ['terminal without console socket on create', (c) => (c.process.terminal = true), /--console-socket is required/],
    ];
    // a capability this host withholds from us (e.g. a sandbox without CAP_SYS_RESOURCE) is
    // refused up front with its name, like runc's capset failure but clearer
    const bnd = BigInt('0x' + (/CapBnd:\s+([0-9a-f]+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0'));
    const last = Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
    const NAMES = ['CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF', 'CHECKPOINT_RESTORE'];
    const withheld = NAMES.findIndex((_, i) => i <= last && !(bnd & (1n << BigInt(i))));
    if (withheld >= 0) {
      const cap = `CAP_${NAMES[withheld]}`;
      cases.push([`withheld capability ${cap}`, (c) => c.process.capabilities.effective.push(cap) && c.process.capabilities.permitted.push(cap) && c.process.capabilities.bounding.push(cap), new RegExp(`${cap} are requested but berth-nsrun itself does not hold them`)]);
    } else {
      t.comment('this host withholds no capability: the withheld-capability refusal is not exercised');
    }
    for (const [name, text, re] of [
      ['truncated JSON', '{"ociVersion": "1.0.2", "process": {', /config\.json: .*at offset/],
      ['not an object', '[1, 2]', /top level must be an object/],
      ['bad escape', '{"hostname": "a\\qb"}', /bad escape/],
    ] as const) {
      const id = newId();
      const b = bundle(id, { args: ['true'] });
      fs.writeFileSync(path.join(b.dir, 'config.json'), text);
      const r = await rt(['run', '--bundle', b.dir, id]);
      t.equal(r.code, 1, `${name}: exit 1`);
      t.match(r.stderr, re, `${name}: ${r.stderr.trim()}`);
      assertNothingLeft(t, id);
    }
    for (const [name, edit, re, extra] of cases) {
      const id = newId();
      const b = bundle(id, { args: ['true'], edit });
      const cmd = name.includes('on create') ? ['create', '--bundle', b.dir, id] : ['run', '--bundle', b.dir, id];
      const r = await rt(cmd, extra);
      t.equal(r.code, 1, `${name}: exit 1`);
      t.match(r.stderr, /^berth-nsrun: /m, `${name}: prefixed message`);
      t.match(r.stderr, re, `${name}: says why (${r.stderr.trim()})`);
      assertNothingLeft(t, id);
    }
  });

  t.test('mount destinations cannot escape the rootfs through symlinks', async (t) => {
    const hostDir = path.join(tmp, `host-target-${n}`);
    fs.mkdirSync(hostDir);
    const id = newId();
    const b = bundle(id, {
      args: ['sh', '-c', 'ls -d /evil/sub /rel/sub /bindfile && grep -c " /tmp/.*sub tmpfs\\| /evil" /proc/mounts; echo ok'],
      mounts: [
        { destination: '/evil/sub', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
        { destination: '/rel/sub', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
        { destination: '/bindfile', type: 'bind', source: '/etc/hostname', options: ['rbind', 'ro'] },
      ],
    });
    fs.symlinkSync(hostDir, path.join(b.rootfs, 'evil')); // absolute: must resolve inside the rootfs
    fs.symlinkSync('../../../../../../..' + hostDir, path.join(b.rootfs, 'rel')); // .. past the root
    const r = await rt(['run', '--bundle', b.dir, id]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /ok/);
    t.same(fs.readdirSync(hostDir), [], 'nothing was created in the host directory');
    t.ok(fs.existsSync(path.join(b.rootfs, hostDir, 'sub')), 'the destination was created inside the rootfs instead');
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    t.notMatch(mounts, new RegExp(hostDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'no mount leaked into the host namespace');
  });

  t.test('exec options: --env --cwd --user --process --detach --pid-file', async (t) => {
    const id = newId();
    const b = bundle(id, { args: ['sleep', '60'], hostname: 'exec-box' });
    t.equal((await rt(['run', '--detach', '--bundle', b.dir, '--pid-file', path.join(tmp, 'p'), id])).code, 0, 'run --detach');
    const st = JSON.parse((await rt(['state', id])).stdout) as { status: string; pid: number };
    t.equal(st.status, 'running');
    t.equal(st.pid, Number(fs.readFileSync(path.join(tmp, 'p'), 'utf8')));
    const e1 = await rt(['exec', '--env', 'FOO=bar', '--cwd', '/etc', '--user', '1000:1001', id, 'sh', '-c', 'echo $FOO $(pwd) $(id -u) $(id -g) $(hostname); grep CapEff /proc/self/status']);
    t.equal(e1.code, 0, e1.stderr);
    t.match(e1.stdout, /^bar \/etc 1000 1001 exec-box$/m);
    t.match(e1.stdout, /CapEff:\s+0000000000000000/, 'a non-root exec user has no effective capabilities');
    const proc = path.join(tmp, 'process.json');
    fs.writeFileSync(proc, JSON.stringify({ args: ['sh', '-c', 'echo from-process-file; exit 9'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 } }));
    const e2 = await rt(['exec', '--process', proc, id]);
    t.equal(e2.code, 9, 'exit status of --process');
    t.match(e2.stdout, /from-process-file/);
    const pidFile = path.join(tmp, 'exec.pid');
    const e3 = await rt(['exec', '--detach', '--pid-file', pidFile, id, 'sleep', '30']);
    t.equal(e3.code, 0, e3.stderr);
    const epid = Number(fs.readFileSync(pidFile, 'utf8'));
    t.ok(fs.existsSync(`/proc/${epid}`), 'detached exec is running');
    t.equal(fs.readlinkSync(`/proc/${epid}/ns/pid`), fs.readlinkSync(`/proc/${st.pid}/ns/pid`), 'in the container pid namespace');
    const cgOf = (pid: number) => fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.includes(':memory:'));
    t.equal(cgOf(epid), cgOf(st.pid), 'in the container cgroup');
    const e4 = await rt(['exec', id, 'no-such-cmd']);
    t.equal(e4.code, 1);
    t.match(e4.stderr, /executable file not found in \$PATH/);
    const tty = spawnSync(bin, ['--root', state, 'exec', '--tty', id, 'sh'], { input: 'tty; exit 5\n', encoding: 'utf8', timeout: 20_000 });
    t.equal(tty.status, 5, 'exec --tty without a console socket proxies a pty and returns the status');
    t.match(tty.stdout, /\/dev\/pts\/\d+/, 'the process runs on a pts');
    t.equal((await rt(['kill', '--all', id, 'SIGKILL'])).code, 0, 'kill --all SIGKILL');
    for (let i = 0; i < 100 && JSON.parse((await rt(['state', id])).stdout).status !== 'stopped'; i++) await new Promise((r) => setTimeout(r, 20));
    t.equal(JSON.parse((await rt(['state', id])).stdout).status, 'stopped');
    t.notOk(fs.existsSync(`/proc/${epid}/ns`) && fs.readFileSync(`/proc/${epid}/stat`, 'utf8').split(' ')[2] !== 'Z', 'the exec process died with the container');
    t.equal((await rt(['delete', id])).code, 0);
    assertNothingLeft(t, id);
  });

  t.test('run --detach: init is reparented to the caller when it is a child subreaper (the monitor role)', async (t) => {
    const python = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => fs.existsSync(p));
    if (!python) {
      t.pass('subreaper', { skip: 'python3 not found (it plays the subreaper via prctl)' });
      return;
    }
    const id = newId();
    const b = bundle(id, { args: ['sh', '-c', 'sleep 0.3; exit 7'] });
    const pidFile = path.join(tmp, `${id}.pid`);
    const script = [
      'import ctypes, os, subprocess, sys',
      'ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER',
      `rc = subprocess.call([${JSON.stringify(bin)}, '--root', ${JSON.stringify(state)}, 'run', '--detach', '--bundle', ${JSON.stringify(b.dir)}, '--pid-file', ${JSON.stringify(pidFile)}, ${JSON.stringify(id)}])`,
      `pid = int(open(${JSON.stringify(pidFile)}).read())`,
      "ppid = int(open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1].split()[1])",
      'wpid, status = os.waitpid(pid, 0)',
      "print('rc=%d parent-is-me=%s status=%d' % (rc, ppid == os.getpid(), os.waitstatus_to_exitcode(status)))",
    ].join('\n');
    const r = spawnSync(python, ['-c', script], { encoding: 'utf8', timeout: 30_000 });
    t.equal(r.status, 0, r.stderr);
    t.equal(r.stdout.trim(), 'rc=0 parent-is-me=True status=7', 'the runtime exits at once, init becomes the subreaper\'s child, its exit status reaches it');
    t.equal((await rt(['delete', id])).code, 0);
    assertNothingLeft(t, id);
  });

  t.test('the runtime runs from a sealed memfd copy (CVE-2019-5736)', async (t) => {
    const id = newId();
    const b = bundle(id, { args: ['sleep', '2'] });
    const child = spawn(bin, ['--root', state, 'run', '--bundle', b.dir, id], { stdio: 'ignore' });
    t.teardown(() => void (child.exitCode === null && child.kill('SIGKILL')));
    let exe = '';
    for (let i = 0; i < 100 && !exe.startsWith('/memfd:'); i++) {
      await new Promise((r) => setTimeout(r, 20));
      try {
        exe = fs.readlinkSync(`/proc/${child.pid}/exe`);
      } catch {
        /* not yet */
      }
    }
    t.match(exe, /^\/memfd:berth-nsrun/, `the runtime's /proc/PID/exe is ${exe}`);
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    t.equal(code, 0);
  });

  t.test('signals by name and number; errors for bad ones; state/delete of unknown ids', async (t) => {
    const id = newId();
    const b = bundle(id, { args: ['sleep', '60'] });
    t.equal((await rt(['run', '-d', '--bundle', b.dir, id])).code, 0);
    const bad = await rt(['kill', id, 'SIGNOPE']);
    t.equal(bad.code, 1);
    t.match(bad.stderr, /unknown signal/);
    t.equal((await rt(['kill', id, '9'])).code, 0, 'numeric signal');
    for (let i = 0; i < 100 && JSON.parse((await rt(['state', id])).stdout).status !== 'stopped'; i++) await new Promise((r) => setTimeout(r, 20));
    const k2 = await rt(['kill', id, 'TERM']);
    t.equal(k2.code, 1, 'kill of a stopped container fails');
    t.match(k2.stderr, /not running/);
    t.equal((await rt(['delete', id])).code, 0);
    const s = await rt(['state', 'no-such-id']);
    t.equal(s.code, 1);
    t.match(s.stderr, /does not exist/);
    t.equal((await rt(['delete', '--force', 'no-such-id'])).code, 0, 'delete --force of a missing id is a no-op');
    const inv = await rt(['state', '../etc']);
    t.match(inv.stderr, /invalid container id/);
    // a create that died before writing its state: "creating", and delete --force clears it
    const half = newId();
    fs.mkdirSync(path.join(state, half), { recursive: true });
    t.equal(JSON.parse((await rt(['state', half])).stdout).status, 'creating');
    t.equal((await rt(['delete', half])).code, 1, 'delete without --force refuses a creating container');
    t.equal((await rt(['delete', '--force', half])).code, 0);
    t.notOk(fs.existsSync(path.join(state, half)), 'its directory is gone');
  });

  t.test('seccomp: every comparison op, errnoRet, and the filter follows exec', async (t) => {
    // kill(2) with harmless signals (0, CHLD, URG, WINCH) as the probe: args[1] is the signal
    const probe = 'for s in 0 17 23 28; do kill -$s $$ 2>/dev/null && echo $s:ok || echo $s:blocked; done';
    const cases: [string, number, number | undefined, string][] = [
      ['SCMP_CMP_EQ', 17, undefined, '0:ok 17:blocked 23:ok 28:ok'],
      ['SCMP_CMP_NE', 17, undefined, '0:blocked 17:ok 23:blocked 28:blocked'],
      ['SCMP_CMP_GT', 23, undefined, '0:ok 17:ok 23:ok 28:blocked'],
      ['SCMP_CMP_GE', 23, undefined, '0:ok 17:ok 23:blocked 28:blocked'],
      ['SCMP_CMP_LT', 23, undefined, '0:blocked 17:blocked 23:ok 28:ok'],
      ['SCMP_CMP_LE', 23, undefined, '0:blocked 17:blocked 23:blocked 28:ok'],
      ['SCMP_CMP_MASKED_EQ', 8, 8, '0:ok 17:ok 23:ok 28:blocked'],
    ];
    for (const [op, value, valueTwo, want] of cases) {
      const r = await run({
        args: ['sh', '-c', probe],
        edit: (c) => (c.linux.seccomp = {
          defaultAction: 'SCMP_ACT_ALLOW',
          architectures: ['SCMP_ARCH_X86_64'],
          syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: [{ index: 1, value, ...(valueTwo !== undefined ? { valueTwo } : {}), op }] }],
        }),
      });
      t.equal(r.code, 0, `${op}: ${r.stderr}`);
      t.equal(r.stdout.trim().split('\n').join(' '), want, op);
    }
    const id = newId();
    const b = bundle(id, {
      args: ['sleep', '60'],
      edit: (c) => (c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat', 'no_such_syscall_in_this_kernel'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] }),
    });
    t.equal((await rt(['run', '-d', '--bundle', b.dir, id])).code, 0);
    const e = await rt(['exec', id, 'sh', '-c', 'mkdir /tmp/x; grep ^Seccomp: /proc/self/status']);
    t.match(e.stderr, /Permission denied/, 'errnoRet 13 (EACCES) for mkdir inside exec');
    t.match(e.stdout, /Seccomp:\s+2/, 'exec runs under the filter');
    t.equal((await rt(['delete', '--force', id])).code, 0);
  });

  t.test('user namespace: bind destinations missing from a root-owned image are created by the runtime', async (t) => {
    const src = path.join(tmp, `hostname-src-${n}`);
    fs.writeFileSync(src, 'from-the-host\n');
    const r = await run({
      userns: { hostId: 400000, size: 65536 },
      mounts: [{ destination: '/etc/berth-made/hostname', type: 'bind', source: src, options: ['rbind', 'ro'] }],
      args: ['sh', '-c', 'cat /etc/berth-made/hostname; id -u; touch /etc/x 2>&1 || true'],
    });
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^from-the-host$/m, 'the bind landed');
    t.match(r.stdout, /Permission denied/, 'the image itself stays read-only to the unprivileged container root');
    t.equal(fs.statSync(path.join(tmp, `ns-${process.pid}-${n}`, 'rootfs', 'etc', 'berth-made')).uid, 0, 'the destination was made by host root');
  });

  t.test('rlimits, noNewPrivileges, ambient capabilities for a non-root user', async (t) => {
    const r = await run({
      args: ['sh', '-c', 'ulimit -n; grep -E "NoNewPrivs|CapAmb|CapEff" /proc/self/status; id -u'],
      edit: (c) => {
        c.process.rlimits = [{ type: 'RLIMIT_NOFILE', hard: 123, soft: 123 }];
        c.process.noNewPrivileges = true;
        c.process.user = { uid: 1000, gid: 1000, additionalGids: [5] };
        c.process.capabilities.inheritable = ['CAP_NET_BIND_SERVICE'];
        c.process.capabilities.ambient = ['CAP_NET_BIND_SERVICE'];
      },
    });
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^123$/m, 'RLIMIT_NOFILE');
    t.match(r.stdout, /NoNewPrivs:\s+1/);
    t.match(r.stdout, /CapAmb:\s+0000000000000400/, 'ambient NET_BIND_SERVICE');
    t.match(r.stdout, /CapEff:\s+0000000000000400/, 'effective after exec = ambient');
    t.match(r.stdout, /^1000$/m);
  });

  t.test('the device cgroup denies devices outside the allow list', async (t) => {
    const r = await run({ args: ['sh', '-c', 'mknod /tmp/sda b 8 0 && head -c 1 /tmp/sda > /dev/null && echo READ; echo null-ok > /dev/null && echo null-ok'] });
    t.notMatch(r.stdout, /READ/);
    t.match(r.stderr, /Operation not permitted/);
    t.match(r.stdout, /null-ok/);
  });

  t.test('run with a terminal and no console socket proxies the pty', async (t) => {
    const id = newId();
    const b = bundle(id, { terminal: true, args: ['sh', '-c', 'tty; exit 6'] });
    const r = spawnSync(bin, ['--root', state, 'run', '--bundle', b.dir, id], { encoding: 'utf8', input: '', timeout: 20_000 });
    t.equal(r.status, 6, r.stderr);
    t.match(r.stdout, /\/dev\/pts\/\d+/);
    assertNothingLeft(t, id);
  });

  const unified = cgroupMounts().find((m) => m.v2);
  t.test('cgroup v2 path (private mount namespace with cgroup2 on /sys/fs/cgroup)', { skip: unified && unified.mountpoint !== '/sys/fs/cgroup' ? false : 'host has no separate cgroup2 mount to emulate a v2 host with' }, async (t) => {
    // its own parent: the emulated hierarchy is the host's unified one, shared with the other subtests
    const cgParent = `/berth-nsrun-v2-${crypto.randomBytes(4).toString('hex')}`;
    // the runtime delegates controllers from the hierarchy's root down: undo that on the host
    const rootControl = path.join(unified!.mountpoint, 'cgroup.subtree_control');
    const enabledBefore = fs.readFileSync(rootControl, 'utf8').split(/\s+/).filter(Boolean);
    t.teardown(() => {
      const p = path.join(unified!.mountpoint, cgParent);
      if (fs.existsSync(p)) {
        for (const d of fs.readdirSync(p, { withFileTypes: true })) if (d.isDirectory()) fs.rmdirSync(path.join(p, d.name));
        fs.rmdirSync(p);
      }
      for (const c of fs.readFileSync(rootControl, 'utf8').split(/\s+/).filter(Boolean)) {
        if (enabledBefore.includes(c)) continue;
        try {
          fs.writeFileSync(rootControl, `-${c}`);
        } catch {
          /* another cgroup started using it meanwhile: leave it */
        }
      }
    });
    const bundle = (id: string, opts: BundleOptions) => makeBundle(path.join(tmp, id), { cgroupsPath: `${cgParent}/${id}`, ...opts });
    const id = newId();
    const b = bundle(id, { args: ['sleep', '30'], edit: (c) => delete c.linux.resources.devices });
    const script = [
      'set -e',
      'mount -t cgroup2 none /sys/fs/cgroup',
      `${bin} --root ${state} run -d --bundle ${b.dir} ${id}`,
      `test -d /sys/fs/cgroup${cgParent}/${id} && echo cgroup-created`,
      // what the root offers is delegated down to the container's cgroup
      `test "$(cat /sys/fs/cgroup${cgParent}/${id}/cgroup.controllers)" = "$(cat /sys/fs/cgroup/cgroup.controllers)" && echo delegated`,
      `grep -q "^0::${cgParent}/${id}$" /proc/$(${bin} --root ${state} state ${id} | sed -n 's/.*"pid": \\([0-9]*\\).*/\\1/p')/cgroup && echo joined`,
      `${bin} --root ${state} pause ${id}`,
      `${bin} --root ${state} state ${id} | grep -q '"paused"' && echo paused`,
      `${bin} --root ${state} resume ${id}`,
      `${bin} --root ${state} delete --force ${id}`,
      `test ! -d /sys/fs/cgroup${cgParent}/${id} && echo removed`,
      `rmdir /sys/fs/cgroup${cgParent}`,
    ].join('\n');
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8', timeout: 30_000 });
    t.equal(r.status, 0, r.stderr);
    t.same(r.stdout.trim().split('\n'), ['cgroup-created', 'delegated', 'joined', 'paused', 'removed']);
    const limId = newId();
    const lb = bundle(limId, { args: ['true'], resources: { memory: { limit: 64 << 20 } }, edit: (c) => delete c.linux.resources.devices });
    const r2 = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount -t cgroup2 none /sys/fs/cgroup && ${bin} --root ${state} run --bundle ${lb.dir} ${limId}; rc=$?; rmdir /sys/fs/cgroup${cgParent}/${limId} /sys/fs/cgroup${cgParent} 2>/dev/null; exit $rc`], { encoding: 'utf8', timeout: 30_000 });
    t.equal(r2.status, 1, 'a memory limit without the memory controller is refused');
    t.match(r2.stderr, /memory controller is not enabled/);
  });
}
