/**
 * The `oci` isolation backend: drives any OCI runtime binary (crun, runc, youki, or berth's own
 * `berth-nsrun`) through a small CLI subset, with one C monitor per running container.
 *
 * Runtime CLI subset used (and nothing else): global `--root DIR`;
 *   run --detach --bundle DIR --pid-file F [--console-socket SOCK] ID   (by the monitor)
 *   delete --force ID                                                     (monitor, delete)
 *   kill [--all] ID SIG                                                   (kill/stop)
 *   exec --process FILE [--tty] [--detach] [--pid-file F] ID              (exec)
 *   pause ID / resume ID                                                  (pause/unpause)
 *
 * Where things live:
 *   <container dir>/bundle/config.json, bundle/rootfs     the bundle
 *   <container dir>/task.json                             TaskSpec minus the OCI config
 *   <container dir>/status.json, exit.json, init.pid      written by the monitor
 *   <stateDir>/runtime/                                   the runtime's --root
 *   <stateDir>/tasks/<id> -> <container dir>              index (a symlink)
 */
import { spawn } from 'node:child_process';
// Task files are small and the CLI is short-lived: synchronous calls (microseconds each) rather
// than one thread-pool round trip per call, which added up to several ms of `berth run`.
import { mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type {
  ExecIO, ExecProcess, IsolationBackend, Pausable, StartOptions, TaskSpec, TaskState, TaskStats,
} from '../../../core/contracts/isolation';
import { ERR_TASK_NOT_FOUND, ERR_TASK_NOT_RUNNING, ERR_TASK_RUNTIME, ERR_TASK_START } from '../../../core/contracts/isolation';
import { writeFileAtomic } from '../../../core/store/atomic';
import { unmountIfMounted } from '../../../core/images/mount';
import { mark } from '../../../core/trace';

export interface OciBackendOptions {
  /** Plugin id shown to users: 'oci' or 'ns'. */
  name: string;
  runtimePath: string;
  /** Directory the backend owns (the plugin's dataDir). */
  stateDir: string;
  monitorPath: string;
  /** Mount point of the cgroup2 hierarchy when the host is v2-only, else undefined (v1 paths). */
  cgroupV2Mount?: string;
  cgroupMode: 'v1' | 'v2' | 'hybrid' | 'none';
  /**
   * berth-nsrun, when `exec` enters containers through it rather than through the runtime
   * (`RUNTIME exec` re-executes a Go runtime twice, ≈ 20–30 ms; berth-nsrun's
   * `exec --join-pid PID --join-bundle DIR` joins the same namespaces and cgroups and applies
   * the same process spec and seccomp filter in ≈ 2 ms). Undefined: the runtime execs.
   */
  execHelper?: string;
}

/** Docker's exit codes for a process that could not be started. */
export function exitCodeForStartError(message: string): number {
  if (/executable file .*not found|not found in \$PATH|exec: "[^"]*": stat [^:]*: no such file|exec(?:utable)?[^\n]*no such file or directory|command not found/i.test(message)) return 127;
  if (/exec(?:utable)?[^\n]*(?:permission denied|is a directory|exec format error)|exec format error/i.test(message)) return 126;
  return 125;
}

/**
 * Polls until the monitor `pid` is gone; SIGKILLs it after `ms`. Every millisecond for the first
 * 50 (a monitor finishing an exit takes about 10: the runtime's delete, on `run --rm`'s critical
 * path), then doubling to 20 ms.
 */
async function waitGone(pid: number, ms: number): Promise<void> {
  const start = Date.now();
  const deadline = start + ms;
  for (let delay = 1; pidAlive(pid, 'berth-monitor'); delay = Date.now() - start < 50 ? 1 : Math.min(delay * 2, 20)) {
    if (Date.now() >= deadline) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      return;
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}

function pidAlive(pid: number | undefined, mustContain?: string): boolean {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (!mustContain) return true;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(mustContain);
  } catch {
    return false;
  }
}

interface MonitorStatus {
  status: 'running' | 'restarting' | 'exited';
  pid: number;
  monitorPid: number;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  oomKilled: boolean;
  restartCount: number;
  error: string;
}

function run(file: string, args: string[], stdio: Array<number | 'ignore' | 'pipe'> = ['ignore', 'pipe', 'pipe']): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(file, args, { stdio });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    c.stdout?.on('data', (d: Buffer) => out.push(d));
    c.stderr?.on('data', (d: Buffer) => err.push(d));
    c.on('error', reject);
    c.on('close', (code, sig) => resolve({ code: code ?? (sig ? 128 + (require('node:os').constants.signals[sig] as number) : 255), out: Buffer.concat(out).toString(), err: Buffer.concat(err).toString() }));
  });
}

export class OciBackend implements IsolationBackend, Pausable {
  readonly name: string;
  readonly runtimePath: string;
  private readonly rtRoot: string;
  private readonly taskIndex: string;

  constructor(private readonly opts: OciBackendOptions) {
    this.name = opts.name;
    this.runtimePath = opts.runtimePath;
    this.rtRoot = `${opts.stateDir}/runtime`;
    this.taskIndex = `${opts.stateDir}/tasks`;
  }

  private async dirOf(id: string): Promise<string> {
    try {
      return readlinkSync(`${this.taskIndex}/${id}`);
    } catch {
      throw ERR_TASK_NOT_FOUND(id);
    }
  }

  check(spec: TaskSpec): string | undefined {
    const linux = spec.oci.linux as { namespaces?: Array<{ type: string }> } | undefined;
    if (linux?.namespaces?.some((n) => n.type === 'user') && this.opts.cgroupMode === 'none') return 'user namespaces need cgroups';
    return undefined;
  }

  async create(id: string, spec: TaskSpec): Promise<void> {
    const bundle = `${spec.dir}/bundle`;
    mkdirSync(`${bundle}/rootfs`, { recursive: true });
    mkdirSync(this.taskIndex, { recursive: true });
    const { oci, ...task } = spec;
    // Renamed into place (never half-written) but not fsynced: the container record is the
    // durable truth; a bundle lost to a power cut makes `start` fail with a clear error.
    writeRenamed(`${bundle}/config.json`, JSON.stringify(oci));
    try { unlinkSync(`${this.taskIndex}/${id}`); } catch { /* none */ }
    symlinkSync(spec.dir, `${this.taskIndex}/${id}`);
    // Last: task.json marks the task complete (the container service relies on it).
    writeRenamed(`${spec.dir}/task.json`, JSON.stringify(task));
  }

  /** Rewrites the OCI config of a created task (restart after `rename`, `update`…). */
  async updateConfig(id: string, oci: Record<string, unknown>): Promise<void> {
    const dir = await this.dirOf(id);
    await writeFileAtomic(`${dir}/bundle/config.json`, JSON.stringify(oci));
  }

  async start(id: string, opts: StartOptions = {}): Promise<{ pid: number; monitorPid: number }> {
    const dir = await this.dirOf(id);
    const task = JSON.parse(readFileSync(`${dir}/task.json`, 'utf8')) as Omit<TaskSpec, 'oci'>;
    const st = await this.state(id);
    if (st.status === 'running' || st.status === 'restarting' || st.status === 'paused') return { pid: st.pid ?? 0, monitorPid: st.monitorPid ?? 0 };
    // The previous run's monitor may still be deleting the runtime's state of this id.
    if (st.monitorPid) await waitGone(st.monitorPid, 10_000);
    if (st.status === 'dead') await run(this.runtimePath, ['--root', this.rtRoot, 'delete', '--force', id]).catch(() => undefined);
    rmSync(`${dir}/status.json`, { force: true });
    rmSync(`${dir}/stop-requested`, { force: true });
    mkdirSync(this.rtRoot, { recursive: true });
    const args = ['-r', this.runtimePath, '-R', this.rtRoot, '-b', `${dir}/bundle`, '-i', id, '-d', dir, '-s', task.attachName, '-S', '3', '-p', task.restart || 'no'];
    if (task.logPath) args.push('-l', task.logPath);
    if (task.tty) args.push('-t');
    if (task.stdin) args.push('-I');
    if (opts.waitAttach) args.push('-w');
    if (task.oomFile) args.push('-c', task.oomFile);
    if (task.idmap) args.push('-U', `${task.idmap.hostId}:${task.idmap.size}`);
    if (task.events) args.push('-E', task.events.file, '-N', task.events.name, '-G', task.events.image);
    if (task.rootfs) args.push('-M', task.rootfs.type, '-O', task.rootfs.source, '-P', task.rootfs.options.join(','), '-T', `${dir}/bundle/rootfs`);
    if (task.exitCommand?.length) args.push('--', ...task.exitCommand);
    mark('start: spawning monitor');
    const child = spawn(this.opts.monitorPath, args, { stdio: ['ignore', 'ignore', 'ignore', 'pipe'], detached: true });
    mark('start: monitor spawned');
    const sync = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void };
    child.on('error', () => undefined);
    child.unref();
    return await new Promise((resolve, reject) => {
      let buf = '';
      let monitorPid = 0;
      let done = false;
      const finish = (err?: Error, res?: { pid: number; monitorPid: number }) => {
        if (done) return;
        done = true;
        sync.destroy();
        if (err) reject(err);
        else resolve(res!);
      };
      child.on('error', (e) => finish(ERR_TASK_START.with({ cause: e }, `monitor ${this.opts.monitorPath}: ${e.message}`)));
      sync.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const [word, a, ...rest] = line.split(' ');
          if (word === 'listening') {
            mark('start: monitor listening');
            monitorPid = Number(a);
            if (opts.onListening) Promise.resolve(opts.onListening()).catch((e: Error) => finish(e));
          } else if (word === 'started') finish(undefined, { pid: Number(a), monitorPid });
          else if (word === 'error') {
            const msg = rest.join(' ').trim();
            const code = exitCodeForStartError(msg);
            finish(ERR_TASK_START.with({ details: { exitCode: code, runtimeStatus: Number(a) } }, msg));
          }
        }
      });
      sync.on('end', () => finish(ERR_TASK_START(`the monitor exited without reporting (see ${dir}/monitor.log)`)));
      sync.on('error', () => undefined);
    });
  }

  async kill(id: string, signal: string, all = false): Promise<void> {
    const st = await this.state(id);
    if (st.status !== 'running' && st.status !== 'paused') throw ERR_TASK_NOT_RUNNING(id);
    const sig = signal.replace(/^SIG/i, '').toUpperCase();
    const r = await run(this.runtimePath, ['--root', this.rtRoot, 'kill', ...(all ? ['--all'] : []), id, sig]);
    if (r.code !== 0) {
      const now = await this.state(id);
      if (now.status !== 'running' && now.status !== 'paused') return; // exited meanwhile
      throw ERR_TASK_RUNTIME(this.runtimePath, 'kill', r.err.trim() || `status ${r.code}`);
    }
  }

  /** Marks a user stop: the monitor will not restart the task after this exit. */
  async markStopped(id: string): Promise<void> {
    const dir = await this.dirOf(id);
    writeFileSync(`${dir}/stop-requested`, '');
  }

  async wait(id: string, timeoutMs?: number): Promise<TaskState> {
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    let delay = 5;
    for (;;) {
      const st = await this.state(id);
      if (st.status === 'exited' || st.status === 'dead' || st.status === 'created') return st;
      if (Date.now() >= deadline) return st;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 50);
    }
  }

  async delete(id: string, force = false): Promise<void> {
    let dir: string;
    try {
      dir = await this.dirOf(id);
    } catch {
      return;
    }
    const st = await this.state(id);
    if (st.status === 'running' || st.status === 'paused' || st.status === 'restarting') {
      if (!force) throw ERR_TASK_NOT_RUNNING(id);
      await this.markStopped(id);
      if (st.status === 'paused') await this.resume(id).catch(() => undefined);
      if (st.monitorPid) try { process.kill(st.monitorPid, 'SIGTERM'); } catch { /* gone */ }
      await this.kill(id, 'KILL', true).catch(() => undefined);
      await this.wait(id, 10_000);
    }
    // After a final exit the monitor has released the rootfs and recorded the exit; what it still
    // does (the runtime's delete, from the runtime's own state dir) needs none of the container's
    // files, and it skips the exit command once the container dir is gone. So a recorded exit is
    // not waited for: `run --rm` does not pay the runtime's delete (≈ 8 ms of a Go start). Any
    // other monitor is let finish before the container's files go away under it.
    if (st.monitorPid && st.status !== 'exited') await waitGone(st.monitorPid, 10_000);
    // After a recorded exit the monitor has deleted the runtime's state; only a task that was
    // running just now, or whose monitor vanished, can have some left.
    if (st.status !== 'exited' && st.status !== 'created') await run(this.runtimePath, ['--root', this.rtRoot, 'delete', '--force', id]).catch(() => undefined);
    await unmountIfMounted(`${dir}/bundle/rootfs`);
    try { unlinkSync(`${this.taskIndex}/${id}`); } catch { /* gone */ }
  }

  async state(id: string): Promise<TaskState> {
    const dir = await this.dirOf(id);
    let ms: MonitorStatus | undefined;
    try {
      ms = JSON.parse(readFileSync(`${dir}/status.json`, 'utf8')) as MonitorStatus;
    } catch {
      return { id, status: 'created' };
    }
    const base: TaskState = {
      id, status: ms.status, monitorPid: ms.monitorPid, startedAt: ms.startedAt, restartCount: ms.restartCount,
      ...(ms.finishedAt ? { finishedAt: ms.finishedAt } : {}),
      ...(ms.error ? { error: ms.error } : {}),
    };
    if (ms.status === 'exited') return { ...base, exitCode: ms.exitCode, oomKilled: ms.oomKilled };
    if (!pidAlive(ms.monitorPid, 'berth-monitor')) {
      return { ...base, status: 'dead', exitCode: ms.exitCode ?? 255, oomKilled: false, error: ms.error || 'the monitor is gone (killed, or the host rebooted)' };
    }
    if (ms.status === 'restarting') return { ...base, exitCode: ms.exitCode, oomKilled: ms.oomKilled };
    const paused = this.frozen(id);
    return { ...base, status: paused ? 'paused' : 'running', pid: ms.pid };
  }

  private cgroupDir(controller: string, id: string): string | undefined {
    const rel = this.cgroupRel(id);
    if (!rel) return undefined;
    if (this.opts.cgroupMode === 'v2') return `${this.opts.cgroupV2Mount ?? '/sys/fs/cgroup'}${rel}`;
    return `/sys/fs/cgroup/${controller}${rel}`;
  }

  private cgroupRel(id: string): string | undefined {
    try {
      const dir = readlinkSyncSafe(`${this.taskIndex}/${id}`);
      if (!dir) return undefined;
      const oci = JSON.parse(readFileSync(`${dir}/bundle/config.json`, 'utf8')) as { linux?: { cgroupsPath?: string } };
      return oci.linux?.cgroupsPath;
    } catch {
      return undefined;
    }
  }

  private frozen(id: string): boolean {
    const d = this.cgroupDir('freezer', id);
    if (!d) return false;
    try {
      if (this.opts.cgroupMode === 'v2') return readFileSync(`${d}/cgroup.freeze`, 'utf8').trim() === '1';
      return readFileSync(`${d}/freezer.state`, 'utf8').trim() === 'FROZEN';
    } catch {
      return false;
    }
  }

  async stats(id: string): Promise<TaskStats> {
    const st = await this.state(id);
    const rd = (f: string | undefined): string => {
      if (!f) return '';
      try { return readFileSync(f, 'utf8'); } catch { return ''; }
    };
    const num = (s: string) => { const n = Number(s.trim()); return Number.isFinite(n) ? n : 0; };
    const onlineCpus = require('node:os').cpus().length as number;
    const sysCpu = (() => {
      const line = rd('/proc/stat').split('\n')[0] ?? '';
      const ticks = line.split(/\s+/).slice(1, 8).reduce((a, b) => a + num(b), 0);
      return ticks * 1e7; // USER_HZ 100 → ns
    })();
    const running = st.status === 'running' || st.status === 'paused';
    if (!running) return { cpuUsageNs: 0, systemCpuNs: sysCpu, onlineCpus, memoryUsage: 0, memoryLimit: 0, pids: 0, blkioRead: 0, blkioWrite: 0 };
    if (this.opts.cgroupMode === 'v2') {
      const d = this.cgroupDir('', id)!;
      const cpu = Object.fromEntries(rd(`${d}/cpu.stat`).split('\n').map((l) => l.split(' ')).filter((x) => x.length === 2).map(([k, v]) => [k, num(v!)]));
      const io = rd(`${d}/io.stat`);
      let r = 0, w = 0;
      for (const m of io.matchAll(/rbytes=(\d+) wbytes=(\d+)/g)) { r += Number(m[1]); w += Number(m[2]); }
      const max = rd(`${d}/memory.max`).trim();
      const pmax = rd(`${d}/pids.max`).trim();
      return {
        cpuUsageNs: (cpu.usage_usec ?? 0) * 1000, systemCpuNs: sysCpu, onlineCpus,
        memoryUsage: num(rd(`${d}/memory.current`)), memoryLimit: max === 'max' || !max ? require('node:os').totalmem() : num(max),
        pids: num(rd(`${d}/pids.current`)), ...(pmax && pmax !== 'max' ? { pidsLimit: num(pmax) } : {}),
        blkioRead: r, blkioWrite: w,
      };
    }
    const mem = this.cgroupDir('memory', id);
    const limit = num(rd(`${mem}/memory.limit_in_bytes`));
    const memStat = Object.fromEntries(rd(`${mem}/memory.stat`).split('\n').map((l) => l.split(' ')).filter((x) => x.length === 2).map(([k, v]) => [k, num(v!)]));
    const usage = num(rd(`${mem}/memory.usage_in_bytes`)) - (memStat.total_inactive_file ?? 0);
    let r = 0, w = 0;
    for (const line of rd(`${this.cgroupDir('blkio', id)}/blkio.throttle.io_service_bytes`).split('\n')) {
      const [, op, v] = line.split(' ');
      if (op === 'Read') r += num(v ?? '0');
      if (op === 'Write') w += num(v ?? '0');
    }
    const pmax = rd(`${this.cgroupDir('pids', id)}/pids.max`).trim();
    const total = require('node:os').totalmem() as number;
    return {
      cpuUsageNs: num(rd(`${this.cgroupDir('cpuacct', id)}/cpuacct.usage`)), systemCpuNs: sysCpu, onlineCpus,
      memoryUsage: Math.max(0, usage), memoryLimit: limit > total || limit === 0 ? total : limit,
      pids: num(rd(`${this.cgroupDir('pids', id)}/pids.current`)), ...(pmax && pmax !== 'max' ? { pidsLimit: num(pmax) } : {}),
      blkioRead: r, blkioWrite: w,
    };
  }

  async exec(id: string, proc: ExecProcess, io: ExecIO): Promise<number> {
    const dir = await this.dirOf(id);
    const st = await this.state(id);
    if (st.status !== 'running') throw ERR_TASK_NOT_RUNNING(id);
    const oci = JSON.parse(readFileSync(`${dir}/bundle/config.json`, 'utf8')) as { process: Record<string, unknown> };
    const base = oci.process;
    const env = mergeEnv((base.env as string[] | undefined) ?? [], proc.env ?? []);
    const p: Record<string, unknown> = {
      ...base,
      terminal: !!proc.tty,
      args: proc.args,
      env,
      cwd: proc.cwd ?? base.cwd ?? '/',
      ...(proc.process ?? {}),
    };
    delete p.consoleSize;
    const file = `${dir}/exec-${randomBytes(6).toString('hex')}.json`;
    writeFileSync(file, JSON.stringify(p));
    try {
      const helper = this.opts.execHelper && st.pid ? this.opts.execHelper : undefined;
      const join = helper ? ['--join-pid', String(st.pid), '--join-bundle', `${dir}/bundle`] : [];
      const args = ['--root', this.rtRoot, 'exec', ...join, '--process', file, ...(proc.tty ? ['--tty'] : []), ...(proc.detach ? ['--detach'] : []), id];
      const stdio = [...io.stdio];
      const wantErr = stdio[2] !== 'ignore';
      // stderr goes through us, so that a runtime's "executable file not found" maps to 126/127.
      if (wantErr) stdio[2] = 'pipe';
      return await new Promise<number>((resolve, reject) => {
        mark('exec: runtime spawned');
        const c = spawn(helper ?? this.runtimePath, args, { stdio });
        let tail = '';
        const target = io.stdio[2];
        c.stderr?.on('data', (d: Buffer) => {
          tail = (tail + d.toString('latin1')).slice(-4096);
          if (typeof target === 'number') try { require('node:fs').writeSync(target, d); } catch { /* closed */ }
        });
        c.on('error', reject);
        c.on('close', (code, sig) => {
          let rc = code ?? 128 + ((require('node:os').constants.signals as Record<string, number>)[sig ?? 'SIGKILL'] ?? 9);
          if (rc !== 0 && /exec failed|executable file|not found in \$PATH|permission denied|exec:/i.test(tail) && /crun|runc|youki|nsrun|OCI|exec/i.test(tail)) {
            const mapped = exitCodeForStartError(tail);
            rc = mapped === 125 ? 126 : mapped;
          }
          mark('exec: runtime exited');
          resolve(rc);
        });
      });
    } finally {
      try { unlinkSync(file); } catch { /* gone */ }
    }
  }

  async pause(id: string): Promise<void> {
    const r = await run(this.runtimePath, ['--root', this.rtRoot, 'pause', id]);
    if (r.code !== 0) throw ERR_TASK_RUNTIME(this.runtimePath, 'pause', r.err.trim());
  }

  async resume(id: string): Promise<void> {
    const r = await run(this.runtimePath, ['--root', this.rtRoot, 'resume', id]);
    if (r.code !== 0) throw ERR_TASK_RUNTIME(this.runtimePath, 'resume', r.err.trim());
  }
}

function writeRenamed(file: string, data: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

function readlinkSyncSafe(p: string): string | undefined {
  try {
    return readlinkSync(p);
  } catch {
    return undefined;
  }
}

function mergeEnv(base: string[], extra: string[]): string[] {
  const m = new Map<string, string>();
  for (const e of [...base, ...extra]) {
    const i = e.indexOf('=');
    m.set(i < 0 ? e : e.slice(0, i), e);
  }
  return [...m.values()];
}
