/**
 * Contract: isolation backends (`berth.isolation.v1`): they turn a *bundle* (an OCI runtime
 * `config.json` plus a root filesystem) into an isolated, running process set (a *task*) that
 * outlives the short-lived berth CLI, and report on it.
 *
 * Vocabulary
 * - *task* (id): the isolated process set of one container: namespaces, a cgroup, a root. The
 *   task id is the container id (64 hex).
 * - *bundle*: `<container dir>/bundle/` — `config.json` (OCI runtime spec 1.0.2 subset, built by
 *   core/containers/spec.ts) and `rootfs/` (the mount point of the container's snapshot; the
 *   monitor mounts it right before the start and unmounts it after the last exit).
 * - *container dir*: `<root>/containers/<id>/`, owned by the container service; the backend and
 *   its monitor write `status.json`, `exit.json`, `init.pid`, `monitor.log` and the json-file log
 *   there.
 * - *monitor*: a small C process (plugins/isolation/monitor) that stays the task's parent (a
 *   child subreaper) while CLIs come and go: it holds stdio or the terminal, writes logs, serves
 *   the *attach socket*, collects the exit status, applies the restart policy. No Node process
 *   plays this role per container (memory budget: ≤ 2 MiB per container).
 * - *stdio*: `pipes` (stdin optional) or `tty` (a pseudo-terminal whose master the monitor
 *   receives from the runtime); clients attach through the attach socket, an abstract unix
 *   stream socket named `TaskSpec.attachName`, framed like Docker's stdcopy (see
 *   core/containers/attach.ts).
 * - *status*: `created` (bundle written, never started), `running`, `restarting` (the monitor is
 *   backing off before a restart), `paused`, `exited` (the monitor recorded an exit), `dead`
 *   (the monitor vanished without recording one: killed, or the host rebooted).
 *
 * Lifecycle
 *   await b.create(id, spec)            // writes bundle/config.json; nothing runs yet
 *   const { pid } = await b.start(id)   // monitor up, task running; throws ERR_TASK_START (exit
 *                                       // codes 125/126/127 in details.exitCode) when it cannot
 *   await b.exec(id, proc, io)          // extra processes (`berth exec`)
 *   await b.kill(id, 'TERM')            // signals; the monitor records the exit
 *   const st = await b.wait(id)         // resolves with exitCode/oomKilled once exited
 *   await b.delete(id, true)            // idempotent: stops, forgets runtime state, unmounts
 * `state` and `stats` may be called at any time and never change anything. Namespace and mount
 * work never happens in the Node process: backends drive an OCI runtime binary through the
 * monitor or directly (see plugins/isolation/oci/README.md for the runtime CLI subset used).
 */
import { defineError } from '../errors';

export const ERR_TASK_NOT_FOUND = defineError('ERR_TASK_NOT_FOUND', 'notFound', 'no task %s');
export const ERR_TASK_START = defineError('ERR_TASK_START_FAILED', 'internal', 'failed to start the container: %s');
export const ERR_TASK_NOT_RUNNING = defineError('ERR_TASK_NOT_RUNNING', 'conflict', 'container %s is not running');
export const ERR_TASK_RUNTIME = defineError('ERR_TASK_RUNTIME_FAILED', 'internal', '%s %s failed: %s');

export type TaskStatus = 'created' | 'running' | 'restarting' | 'paused' | 'exited' | 'dead';

export interface TaskState {
  id: string;
  status: TaskStatus;
  /** The container's init process on the host, while running. */
  pid?: number;
  monitorPid?: number;
  exitCode?: number;
  oomKilled?: boolean;
  startedAt?: string;
  finishedAt?: string;
  restartCount?: number;
  /** Why the last start failed, or why the task is dead. */
  error?: string;
}

export interface TaskStats {
  cpuUsageNs: number;
  systemCpuNs?: number;
  onlineCpus: number;
  memoryUsage: number;
  memoryLimit: number;
  pids: number;
  pidsLimit?: number;
  blkioRead: number;
  blkioWrite: number;
}

/** How the monitor mounts the rootfs before each start (one mount; overlay or bind). */
export interface RootfsMount { type: string; source: string; options: string[] }

/** Everything a backend needs to run one task. */
export interface TaskSpec {
  /** The container directory (status, logs, bundle). */
  dir: string;
  /** OCI runtime config (written as bundle/config.json). */
  oci: Record<string, unknown>;
  /** Mounted on bundle/rootfs by the monitor; absent when `oci.root.path` is a ready directory. */
  rootfs?: RootfsMount;
  tty: boolean;
  /** Keep stdin open (`-i`). */
  stdin: boolean;
  /** json-file log path, or undefined for no log. */
  logPath?: string;
  /** no | always | unless-stopped | on-failure[:N] */
  restart: string;
  /** Abstract unix socket name (without the leading NUL) of the attach socket. */
  attachName: string;
  /** Cgroup file holding `oom_kill N` (v1 memory.oom_control or v2 memory.events). */
  oomFile?: string;
  /** --userns: show the rootfs' lower layers id-mapped (host 0.. → hostId..) to the container. */
  idmap?: { hostId: number; size: number };
  /** Where the monitor appends the `die`/`oom`/`restart` events it sees (the engine's event log). */
  events?: { file: string; name: string; image: string };
  /** Command the monitor runs after the last exit (e.g. `berth rm` for `run -d --rm`). */
  exitCommand?: string[];
}

export interface StartOptions {
  /** The monitor waits (≤ 10 s) for one attach client before starting, so no output is lost. */
  waitAttach?: boolean;
  /** Called once the attach socket listens (before the task starts) when waitAttach is set. */
  onListening?: () => Promise<void> | void;
}

/** A process to run in a running task (`berth exec`). */
export interface ExecProcess {
  args: string[];
  env?: string[];
  cwd?: string;
  user?: string;
  tty?: boolean;
  detach?: boolean;
  /** Extra OCI process fields (capabilities, noNewPrivileges …), merged over the task's. */
  process?: Record<string, unknown>;
}

export interface ExecIO {
  /** File descriptors or 'ignore' for the exec'd process (inherited by the runtime). */
  stdio: Array<number | 'ignore' | 'pipe'>;
}

export interface IsolationBackend {
  readonly name: string;
  /** The runtime binary this backend drives, for `berth info`. */
  readonly runtimePath: string;
  /** Human-readable reason the backend cannot honour `spec` on this host, or undefined. */
  check?(spec: TaskSpec): string | undefined;
  create(id: string, spec: TaskSpec): Promise<void>;
  start(id: string, opts?: StartOptions): Promise<{ pid: number; monitorPid: number }>;
  kill(id: string, signal: string, all?: boolean): Promise<void>;
  /** Resolves once the task has exited (status exited or dead). */
  wait(id: string, timeoutMs?: number): Promise<TaskState>;
  delete(id: string, force?: boolean): Promise<void>;
  state(id: string): Promise<TaskState>;
  stats(id: string): Promise<TaskStats>;
  /** Runs a process in the task; resolves with its exit code (0 for detach once started). */
  exec(id: string, proc: ExecProcess, io: ExecIO): Promise<number>;
}

/** Optional: pause/unpause through the freezer. */
export interface Pausable { pause(id: string): Promise<void>; resume(id: string): Promise<void> }
export function isPausable(b: unknown): b is Pausable {
  return typeof (b as Pausable | undefined)?.pause === 'function' && typeof (b as Pausable).resume === 'function';
}
