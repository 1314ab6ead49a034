/**
 * Conformance suite for isolation backends, driven through the OCI runtime
 * command line (`create/start/run/state/exec/kill/delete`) that runc, crun and
 * berth's own `berth-nsrun` share — so the same properties are checked, the
 * same way, for every backend.
 *
 * Vocabulary
 *   runtime   a binary speaking the runc CLI (`--root DIR` for its state).
 *   bundle    a directory with config.json + a busybox rootfs, built per
 *             subtest by test/helpers/oci-bundle (Docker's default spec).
 *   probe     the busybox command the container runs; the assertion reads its
 *             stdout/stderr/exit status (crun tests/init.c style), or the host
 *             side (cgroup files, /proc/PID/uid_map, file owners).
 *
 * Lifecycle of one subtest: mkdtemp (world-readable, for userns) → bundle →
 * runtime run/create → assertions → t.teardown: `delete --force` of every id
 * the subtest used, rmdir of its cgroups (a per-suite parent
 * /berth-suite-<rand>/ in every hierarchy), removal of the temp dir. Nothing is
 * left on the host even when an assertion fails.
 *
 *   runIsolationSuite(t, { name: 'runc', runtime: '/usr/sbin/runc' });
 */
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Test } from 'tap';
import { DOCKER_DEFAULT_CAP_MASK, makeBundle, type Bundle, type BundleOptions } from '../../test/helpers/oci-bundle';

type T = Test;

export interface IsolationSuiteOptions {
  /** Label for the subtests. */
  name: string;
  /** Path of the OCI runtime binary. */
  runtime: string;
  /** Global flags placed before the command (e.g. ['--strict']). */
  extraArgs?: string[];
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const CGROUP_ROOT = '/sys/fs/cgroup';

/** Every cgroup hierarchy mount point on this host (v1 controllers, named, unified). */
export function cgroupMounts(): { mountpoint: string; controllers: string[]; v2: boolean }[] {
  const out: { mountpoint: string; controllers: string[]; v2: boolean }[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const [fstype, , superOpts] = line.slice(sep + 3).split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const fields = line.slice(0, sep).split(' ');
    if (fields[3] !== '/') continue;
    const controllers = fstype === 'cgroup2' ? [] : (superOpts ?? '').split(',').filter((o) => !['rw', 'ro'].includes(o));
    out.push({ mountpoint: fields[4]!, controllers, v2: fstype === 'cgroup2' });
  }
  return out;
}

/** True when /sys/fs/cgroup itself is cgroup2 (no v1 controllers). */
export function isCgroupV2Only(): boolean {
  return cgroupMounts().some((m) => m.v2 && m.mountpoint === CGROUP_ROOT);
}

/** Directory of `cgpath` in the hierarchy holding `controller` (v2: the unified one). */
export function cgroupDir(cgpath: string, controller: string): string | undefined {
  const mounts = cgroupMounts();
  if (isCgroupV2Only()) return path.join(CGROUP_ROOT, cgpath);
  const m = mounts.find((x) => !x.v2 && x.controllers.includes(controller));
  return m ? path.join(m.mountpoint, cgpath) : undefined;
}

/** Runs the runtime with stdout/stderr in files (a detached container may keep pipes open). */
export function runRuntime(runtime: string, args: string[], opts: { cwd: string; timeoutMs?: number }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const tag = crypto.randomBytes(4).toString('hex');
    const outP = path.join(opts.cwd, `.out-${tag}`);
    const errP = path.join(opts.cwd, `.err-${tag}`);
    const out = fs.openSync(outP, 'w');
    const err = fs.openSync(errP, 'w');
    const child = spawn(runtime, args, { stdio: ['ignore', out, err], cwd: opts.cwd });
    fs.closeSync(out);
    fs.closeSync(err);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const stdout = fs.readFileSync(outP, 'utf8');
      const stderr = fs.readFileSync(errP, 'utf8');
      fs.rmSync(outP, { force: true });
      fs.rmSync(errP, { force: true });
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One subtest's world: temp dir, state root, cgroup parent, and cleanup of all of it. */
class Harness {
  readonly tmp: string;
  readonly state: string;
  readonly cgParent: string;
  private readonly ids = new Set<string>();
  private n = 0;

  constructor(private readonly t: T, private readonly opts: IsolationSuiteOptions) {
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-iso-'));
    fs.chmodSync(this.tmp, 0o755);
    this.state = path.join(this.tmp, 'state');
    this.cgParent = `/berth-suite-${crypto.randomBytes(5).toString('hex')}`;
    t.teardown(() => this.cleanup());
  }

  /** A fresh id (also recorded for cleanup). */
  id(): string {
    const id = `iso-${process.pid}-${++this.n}-${crypto.randomBytes(3).toString('hex')}`;
    this.ids.add(id);
    return id;
  }

  cgpath(id: string): string {
    return `${this.cgParent}/${id}`;
  }

  bundle(id: string, opts: BundleOptions): Bundle {
    return makeBundle(path.join(this.tmp, id), { cgroupsPath: this.cgpath(id), ...opts });
  }

  rt(args: string[], timeoutMs?: number): Promise<RunResult> {
    return runRuntime(this.opts.runtime, [...(this.opts.extraArgs ?? []), '--root', this.state, ...args], { cwd: this.tmp, timeoutMs });
  }

  /** `run` in the foreground: the container's exit status and output. */
  async run(opts: BundleOptions, timeoutMs?: number): Promise<RunResult & { id: string; bundle: Bundle }> {
    const id = this.id();
    const bundle = this.bundle(id, opts);
    const r = await this.rt(['run', '--bundle', bundle.dir, id], timeoutMs);
    return { ...r, id, bundle };
  }

  /** create (pid-file) + start; returns the host pid of init. */
  async createStart(id: string, bundle: Bundle, beforeStart?: (pid: number) => Promise<void> | void): Promise<number> {
    const pidFile = path.join(this.tmp, `${id}.pid`);
    const c = await this.rt(['create', '--bundle', bundle.dir, '--pid-file', pidFile, id]);
    this.t.equal(c.code, 0, `create ${id} ${c.stderr.trim()}`);
    if (c.code !== 0) throw new Error(`create failed: ${c.stderr}`);
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    if (beforeStart) await beforeStart(pid);
    const s = await this.rt(['start', id]);
    this.t.equal(s.code, 0, `start ${id} ${s.stderr.trim()}`);
    return pid;
  }

  async status(id: string): Promise<string | undefined> {
    const r = await this.rt(['state', id]);
    if (r.code !== 0) return undefined;
    try {
      return (JSON.parse(r.stdout) as { status?: string }).status;
    } catch {
      return undefined;
    }
  }

  async waitStopped(id: string, timeoutMs = 20_000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if ((await this.status(id)) === 'stopped') return true;
      await sleep(50);
    }
    return false;
  }

  private async cleanup(): Promise<void> {
    for (const id of this.ids) {
      if (fs.existsSync(this.state)) await this.rt(['delete', '--force', id]).catch(() => undefined);
    }
    for (const m of cgroupMounts()) {
      const parent = path.join(m.mountpoint, this.cgParent);
      if (!fs.existsSync(parent)) continue;
      for (const id of this.ids) {
        const d = path.join(parent, id);
        for (let i = 0; i < 50 && fs.existsSync(d); i++) {
          try {
            fs.rmdirSync(d);
          } catch {
            await sleep(20);
          }
        }
      }
      try {
        fs.rmdirSync(parent);
      } catch {
        /* reported by the leak check below */
      }
    }
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}

/** Registers one subtest per isolation property. */
export function runIsolationSuite(t: T, opts: IsolationSuiteOptions): void {
  const sub = (name: string, fn: (t: T, h: Harness) => Promise<void>) =>
    t.test(`${opts.name}: ${name}`, async (t) => {
      const h = new Harness(t, opts);
      await fn(t, h);
    });

  sub('the process is PID 1 of its own pid namespace', async (t, h) => {
    const res = await h.run({ args: ['sh', '-c', 'echo $$; read p rest < /proc/self/stat; echo $p'] });
    t.equal(res.code, 0, res.stderr);
    t.same(res.stdout.trim().split('\n'), ['1', '1'], '$$ and /proc/self/stat both say 1');
  });

  sub('host processes are invisible', async (t, h) => {
    const res = await h.run({ args: ['sh', '-c', 'for d in /proc/[0-9]*; do echo ${d#/proc/}; done'] });
    t.equal(res.code, 0, res.stderr);
    const pids = res.stdout.trim().split('\n').map(Number);
    t.ok(pids.includes(1), 'sees its own init');
    t.notOk(pids.includes(process.pid), `the test's own pid ${process.pid} is absent`);
    t.ok(pids.length <= 3 && pids.every((p) => p <= 10), `only the container's few processes: ${pids.join(',')}`);
  });

  sub('hostname is set', async (t, h) => {
    const name = `iso-${crypto.randomBytes(3).toString('hex')}`;
    const res = await h.run({ hostname: name, args: ['hostname'] });
    t.equal(res.code, 0, res.stderr);
    t.equal(res.stdout.trim(), name);
    t.not(os.hostname(), name, 'the host kept its own name');
  });

  sub('the root is the image; host / unreachable via /proc/1/root, chroot and ..', async (t, h) => {
    const marker = path.join(h.tmp, `host-only-${crypto.randomBytes(4).toString('hex')}`);
    fs.writeFileSync(marker, 'host');
    const script = [
      `test -e /bin/busybox && echo image-ok`,
      `test -e ${marker} && echo LEAK-direct`,
      `test -e /proc/1/root${marker} && echo LEAK-proc1root`,
      `test -e /proc/1/root/etc/os-release && echo LEAK-proc1root-os-release`,
      `chroot /proc/1/root test -e ${marker} && echo LEAK-chroot`,
      `cd /../../../..; test -e .${marker} && echo LEAK-dotdot`,
      `mkdir -p /tmp/jail && chroot /tmp/jail /bin/busybox true 2>/dev/null && echo LEAK-nested-chroot`,
      `echo done`,
    ].join('; ');
    const res = await h.run({ args: ['sh', '-c', script] });
    t.equal(res.code, 0, res.stderr);
    t.match(res.stdout, /image-ok/, 'the image is the root');
    t.notMatch(res.stdout, /LEAK/, 'no host path reachable');
    t.match(res.stdout, /done/);
  });

  sub("capabilities equal Docker's default set", async (t, h) => {
    const res = await h.run({ args: ['grep', '^Cap', '/proc/self/status'] });
    t.equal(res.code, 0, res.stderr);
    const caps = Object.fromEntries(res.stdout.trim().split('\n').map((l) => l.split(/:\s+/) as [string, string]));
    t.equal(caps.CapEff, DOCKER_DEFAULT_CAP_MASK, 'effective');
    t.equal(caps.CapPrm, DOCKER_DEFAULT_CAP_MASK, 'permitted');
    t.equal(caps.CapBnd, DOCKER_DEFAULT_CAP_MASK, 'bounding');
    t.equal(caps.CapInh, '0000000000000000', 'inheritable');
    t.equal(caps.CapAmb, '0000000000000000', 'ambient');
  });

  sub('/proc/kcore, /proc/keys and /sys/firmware are masked', async (t, h) => {
    const script = [
      'echo keys=$(cat /proc/keys | wc -c)',
      'echo keystype=$(stat -c %F /proc/keys)',
      'echo kcore=$(cat /proc/kcore 2>/dev/null | head -c 64 | wc -c)',
      'echo firmware=$(ls -A /sys/firmware | wc -l)',
      'echo timer_list=$(cat /proc/timer_list 2>/dev/null | wc -c)',
    ].join('; ');
    const res = await h.run({ args: ['sh', '-c', script] });
    t.equal(res.code, 0, res.stderr);
    const kv = Object.fromEntries(res.stdout.trim().split('\n').map((l) => l.split('=') as [string, string]));
    t.equal(kv.keys, '0', '/proc/keys reads empty');
    t.equal(kv.keystype, 'character special file', '/proc/keys is /dev/null');
    t.equal(kv.kcore, '0', fs.existsSync('/proc/kcore') ? '/proc/kcore reads empty' : '/proc/kcore (absent on this host) unreadable');
    t.equal(kv.firmware, '0', '/sys/firmware is an empty tmpfs');
    if (fs.existsSync('/sys/firmware')) t.ok(fs.readdirSync('/sys/firmware').length > 0, 'the host has /sys/firmware entries (the mask hid them)');
    t.equal(kv.timer_list, '0', '/proc/timer_list reads empty');
  });

  sub('/proc/sys is read-only', async (t, h) => {
    const res = await h.run({ args: ['sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward && echo WROTE; grep " /proc/sys " /proc/mounts'] });
    t.notMatch(res.stdout, /WROTE/, 'a namespaced sysctl cannot be written');
    t.match(res.stderr, /Read-only file system/);
    t.match(res.stdout, /\/proc\/sys proc ro,/, '/proc/sys is mounted ro');
  });

  sub('a memory hog is OOM-killed (137) and the cgroup counts it', async (t, h) => {
    const hog = ['sh', '-c', 'a=xxxxxxxxxxxxxxxx; while :; do a=$a$a; done'];
    const resources = { memory: { limit: 32 * 1024 * 1024, swap: 32 * 1024 * 1024 } };
    const res = await h.run({ args: hog, resources });
    t.equal(res.code, 137, `foreground run exits 137 ${res.stderr.trim()}`);

    const id = h.id();
    const b = h.bundle(id, { args: hog, resources });
    await h.createStart(id, b);
    t.ok(await h.waitStopped(id), 'the hog stopped');
    const v2 = isCgroupV2Only();
    const dir = cgroupDir(h.cgpath(id), 'memory')!;
    const file = v2 ? path.join(dir, 'memory.events') : path.join(dir, 'memory.oom_control');
    const text = fs.readFileSync(file, 'utf8');
    const m = /oom_kill (\d+)/.exec(text);
    t.ok(m && Number(m[1]) >= 1, `${path.basename(file)} oom_kill >= 1 (${m?.[1]})`);
    const lim = fs.readFileSync(path.join(dir, v2 ? 'memory.max' : 'memory.limit_in_bytes'), 'utf8').trim();
    t.equal(lim, String(32 * 1024 * 1024), 'the limit was applied');
  });

  sub('a fork bomb stops at the pids limit', async (t, h) => {
    const script = 'i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); echo $i; done';
    const res = await h.run({ args: ['sh', '-c', script], resources: { pids: { limit: 10 } } }, 30_000);
    const started = res.stdout.trim().split('\n').filter(Boolean).map(Number);
    const last = started.length ? started[started.length - 1]! : 0;
    t.ok(last < 10, `at most 9 children next to sh (got ${last})`);
    t.match(res.stderr, /can't fork|Resource temporarily unavailable/, 'fork failed with EAGAIN');
  });

  sub('cpu quota 0.5 caps CPU near 50 %', async (t, h) => {
    const id = h.id();
    const b = h.bundle(id, { args: ['sh', '-c', 'while :; do :; done'], resources: { cpu: { quota: 50000, period: 100000 } } });
    await h.createStart(id, b);
    const v2 = isCgroupV2Only();
    const dir = cgroupDir(h.cgpath(id), v2 ? 'cpu' : 'cpuacct')!;
    const usage = (): number => {
      if (v2) {
        const m = /usage_usec (\d+)/.exec(fs.readFileSync(path.join(dir, 'cpu.stat'), 'utf8'));
        return Number(m?.[1] ?? 0) * 1000;
      }
      return Number(fs.readFileSync(path.join(dir, 'cpuacct.usage'), 'utf8').trim());
    };
    const cpuDir = cgroupDir(h.cgpath(id), 'cpu')!;
    const throttled = (): number => Number(/nr_throttled (\d+)/.exec(fs.readFileSync(path.join(cpuDir, 'cpu.stat'), 'utf8'))?.[1] ?? 0);
    await sleep(300);
    const u0 = usage();
    const th0 = throttled();
    const t0 = process.hrtime.bigint();
    await sleep(2000);
    const u1 = usage();
    const th1 = throttled();
    const t1 = process.hrtime.bigint();
    const share = (u1 - u0) / Number(t1 - t0);
    const pct = `${(share * 100).toFixed(1)} %`;
    t.ok(share <= 0.65, `CPU share ${pct} is capped (≤ 65 %)`);
    // On a contended host the loop may not even get its 50 %: when it fell short and the
    // host is busy, the lower bound and the throttling evidence are not meaningful.
    const load = os.loadavg()[0]! / os.cpus().length;
    if (load < 1.5 || share >= 0.35) t.ok(share >= 0.35, `CPU share ${pct} near 50 % (≥ 35 %)`);
    else t.comment(`host busy (load ${load.toFixed(1)} per CPU): lower bound not checked; share ${pct}`);
    // a loop that reached its quota must have been throttled (below it, the host held it back)
    if (share >= 0.45) t.ok(th1 > th0, `the quota throttled the cgroup (${th1 - th0} periods)`);
    else t.comment(`share ${pct} stayed under the quota: throttling not expected (${th1 - th0} periods)`);
    const k = await h.rt(['kill', id, 'KILL']);
    t.equal(k.code, 0, k.stderr);
    t.ok(await h.waitStopped(id), 'killed');
  });

  sub('a read-only root blocks writes', async (t, h) => {
    const res = await h.run({ readonlyRoot: true, args: ['sh', '-c', 'touch /newfile && echo WROTE; touch /dev/shm/ok && echo shm-ok'] });
    t.notMatch(res.stdout, /WROTE/, 'write to / refused');
    t.match(res.stderr, /Read-only file system/);
    t.match(res.stdout, /shm-ok/, 'tmpfs mounts stay writable');
  });

  sub('a user namespace maps container root to an unprivileged host uid', async (t, h) => {
    const hostId = 300000 + (process.pid % 1000) * 65536;
    const shared = path.join(h.tmp, 'shared');
    fs.mkdirSync(shared, { mode: 0o777 });
    fs.chmodSync(shared, 0o777);
    const id = h.id();
    const b = h.bundle(id, {
      userns: { hostId, size: 65536 },
      mounts: [{ destination: '/data', type: 'bind', source: shared, options: ['rbind', 'rw'] }],
      args: ['sh', '-c', 'id -u > /data/uid; touch /data/made-by-root'],
    });
    let uidMap = '';
    await h.createStart(id, b, (pid) => {
      uidMap = fs.readFileSync(`/proc/${pid}/uid_map`, 'utf8');
    });
    t.same(uidMap.trim().split(/\s+/).map(Number), [0, hostId, 65536], `host view of uid_map: ${uidMap.trim()}`);
    t.ok(await h.waitStopped(id), 'finished');
    t.equal(fs.readFileSync(path.join(shared, 'uid'), 'utf8').trim(), '0', 'root inside');
    const st = fs.statSync(path.join(shared, 'made-by-root'));
    t.equal(st.uid, hostId, `file owned by host uid ${hostId}`);
    t.equal(st.gid, hostId, `file owned by host gid ${hostId}`);
  });

  sub('lifecycle: create, state, start, exec, kill, delete', async (t, h) => {
    const id = h.id();
    const b = h.bundle(id, { hostname: 'life', args: ['sleep', '60'] });
    const pidFile = path.join(h.tmp, 'life.pid');
    const c = await h.rt(['create', '--bundle', b.dir, '--pid-file', pidFile, id]);
    t.equal(c.code, 0, c.stderr);
    t.equal(await h.status(id), 'created');
    const dup = await h.rt(['create', '--bundle', b.dir, id]);
    t.not(dup.code, 0, 'a duplicate id is refused');
    t.equal((await h.rt(['start', id])).code, 0);
    t.equal(await h.status(id), 'running');
    const st = JSON.parse((await h.rt(['state', id])).stdout) as { pid: number; id: string; bundle: string };
    t.equal(st.pid, Number(fs.readFileSync(pidFile, 'utf8')), 'state pid = pid-file');
    t.equal(st.id, id);
    const e = await h.rt(['exec', id, 'sh', '-c', 'hostname; echo $$; exit 3']);
    t.equal(e.code, 3, 'exec returns the process status');
    t.same(e.stdout.trim().split('\n')[0], 'life', 'exec sees the container hostname');
    t.not(Number(e.stdout.trim().split('\n')[1]), 1, 'exec is not PID 1');
    const caps = await h.rt(['exec', id, 'grep', 'CapEff', '/proc/self/status']);
    t.match(caps.stdout, DOCKER_DEFAULT_CAP_MASK, 'exec gets the same capabilities');
    const busy = await h.rt(['delete', id]);
    t.not(busy.code, 0, 'delete of a running container needs --force');
    t.equal((await h.rt(['kill', id, 'KILL'])).code, 0);
    t.ok(await h.waitStopped(id), 'stopped after SIGKILL');
    t.equal((await h.rt(['delete', id])).code, 0);
    t.not((await h.rt(['state', id])).code, 0, 'state after delete fails');
    for (const m of cgroupMounts()) t.notOk(fs.existsSync(path.join(m.mountpoint, h.cgpath(id))), `cgroup removed from ${m.mountpoint}`);
  });

  sub('pause and resume freeze the container', async (t, h) => {
    const id = h.id();
    const b = h.bundle(id, { args: ['sleep', '60'] });
    await h.createStart(id, b);
    t.equal((await h.rt(['pause', id])).code, 0);
    t.equal(await h.status(id), 'paused');
    t.equal((await h.rt(['resume', id])).code, 0);
    t.equal(await h.status(id), 'running');
    t.equal((await h.rt(['delete', '--force', id])).code, 0);
  });

  const python = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => fs.existsSync(p));
  sub('--console-socket receives the pty master (SCM_RIGHTS)', async (t, h) => {
    if (!python) {
      t.pass('console socket', { skip: 'python3 not found: it receives the pty master in this test' });
      return;
    }
    const sock = path.join(h.tmp, 'console.sock');
    const receiver = spawn(python, ['-c', CONSOLE_RECEIVER, sock], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.teardown(() => void (receiver.exitCode === null && receiver.kill('SIGKILL')));
    let out = '';
    let err = '';
    receiver.stdout.on('data', (d: Buffer) => (out += d.toString()));
    receiver.stderr.on('data', (d: Buffer) => (err += d.toString()));
    for (let i = 0; i < 100 && !out.includes('listening'); i++) await sleep(20);
    const id = h.id();
    const b = h.bundle(id, { terminal: true, args: ['sh', '-c', 'tty; test -t 0 && echo stdin-is-tty; exit 0'] });
    const c = await h.rt(['create', '--bundle', b.dir, '--console-socket', sock, id]);
    t.equal(c.code, 0, c.stderr);
    t.equal((await h.rt(['start', id])).code, 0);
    t.ok(await h.waitStopped(id), 'finished');
    await new Promise<void>((r) => (receiver.exitCode !== null ? r() : receiver.on('exit', () => r())));
    t.match(out, /\/dev\/pts\/\d+/, `the process runs on a pts ${err}`);
    t.match(out, /stdin-is-tty/);
  });
}

/** Accepts one connection, takes the fd (SCM_RIGHTS), prints everything read from it. */
const CONSOLE_RECEIVER = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
print('listening', flush=True)
c, _ = s.accept()
msg, fds, flags, addr = socket.recv_fds(c, 1024, 1)
fd = fds[0]
while True:
    try:
        d = os.read(fd, 4096)
    except OSError:
        break
    if not d:
        break
    sys.stdout.write(d.decode(errors='replace')); sys.stdout.flush()
`;
