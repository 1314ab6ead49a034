/**
 * Contract: isolation backends (`berth.isolation.v1`): they turn a process spec and a rootfs
 * into an isolated, running process set (a *task*) and report on it.
 *
 * Vocabulary
 * - *task* (id): the isolated process set of one container: namespaces, a cgroup, a root.
 * - *bundle*: the directory the backend keeps for a task (OCI config, pid file, exit file).
 * - *monitor*: a small process that stays the task's parent while the CLI comes and goes: it
 *   holds stdio or the terminal, writes logs, collects the exit status. No Node process may
 *   play this role per container (memory budget: ≤ 2 MiB per container).
 * - *stdio*: `pipes` (stdin optional) or `tty` (a pseudo-terminal owned by the monitor);
 *   clients attach through the monitor's attach socket.
 *
 * Lifecycle
 *   create(spec) → start(id) → [exec(id, p)…] → kill(id, sig) → wait(id) → delete(id)
 * `state` and `stats` may be called at any time; `delete` is idempotent and removes everything
 * the task made (cgroup, mounts, bundle). Namespace and mount work never happens in the Node
 * process: backends drive an OCI runtime or a helper process.
 */
export type TaskStatus = 'created' | 'running' | 'paused' | 'stopped' | 'unknown';

export interface TaskState { id: string; status: TaskStatus; pid?: number; exitCode?: number; oomKilled?: boolean; startedAt?: string; finishedAt?: string }

export interface TaskStats {
  cpuUsageNs: number; systemCpuNs?: number; onlineCpus: number;
  memoryUsage: number; memoryLimit: number;
  pids: number; pidsLimit?: number;
  blkioRead: number; blkioWrite: number;
}

export interface IsolationBackend {
  readonly name: string;
  /** Human-readable reason the backend cannot honour `spec` on this host, or undefined. */
  check?(spec: unknown): string | undefined;
  create(id: string, spec: unknown): Promise<void>;
  start(id: string): Promise<void>;
  kill(id: string, signal: string, all?: boolean): Promise<void>;
  wait(id: string): Promise<TaskState>;
  delete(id: string, force?: boolean): Promise<void>;
  state(id: string): Promise<TaskState>;
  stats(id: string): Promise<TaskStats>;
  exec(id: string, process: unknown): Promise<unknown>;
}

/** Optional: pause/unpause through the freezer. */
export interface Pausable { pause(id: string): Promise<void>; resume(id: string): Promise<void> }
export function isPausable(b: unknown): b is Pausable {
  return typeof (b as Pausable | undefined)?.pause === 'function' && typeof (b as Pausable).resume === 'function';
}
