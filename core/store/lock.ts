/**
 * Cross-process mutual exclusion for the stores, released by the kernel when the holder dies.
 *
 * Vocabulary
 * - *lock name*: an absolute path that identifies the guarded resource (a record file, a bucket
 *   directory, an ingest directory). It is normalised with `path.resolve`; the file need not exist.
 *   Two different paths never contend, so two state roots never interfere.
 * - *lock socket*: a Linux *abstract* unix socket `\0berth-lock-<first 40 hex of sha256(name)>`.
 *   Binding it is the acquisition: `bind(2)` on an abstract address is exclusive (EADDRINUSE for
 *   everybody else), leaves no file on disk, and the kernel frees it when the socket is closed,
 *   including when the holder is SIGKILLed. There are therefore no stale locks to break.
 * - *holder*: the `LockHandle` returned by `acquireLock`; `release()` closes the socket.
 *
 * Lifecycle
 *   const h = await acquireLock('/var/lib/berth/meta/containers/abc.rec');   // or withLock(name, fn)
 *   ... critical section ...
 *   await h.release();                                                        // idempotent
 * While the name is held elsewhere, acquisition retries with jittered exponential backoff
 * (1 ms growing to 50 ms) until `timeoutMs` (default 30 s), then throws ERR_STORE_LOCK_TIMEOUT
 * (class `unavailable`). `timeoutMs: 0` means a single try.
 *
 * Limits (write them down, they matter to callers)
 * - Not reentrant: acquiring a name this process already holds waits for itself and times out.
 * - Abstract sockets live in the *network namespace*: processes in different netns do not see
 *   each other's locks. Every berth process that touches a root must run in the same netns (the
 *   engine never enters container namespaces in its own process; see DESIGN.md).
 * - Linux only (abstract sockets). The lock socket is `unref()`ed: holding a lock never keeps
 *   the process alive by itself.
 */
import { createHash } from 'node:crypto';
import * as net from 'node:net';
import * as path from 'node:path';
import { defineError } from '../errors';

export const ERR_STORE_LOCK_TIMEOUT = defineError('ERR_STORE_LOCK_TIMEOUT', 'unavailable', 'timed out after %s ms waiting for lock on %s');
export const ERR_STORE_LOCK_FAILED = defineError('ERR_STORE_LOCK_FAILED', 'internal', 'cannot lock %s: %s');
export const ERR_STORE_LOCK_INVALID_NAME = defineError('ERR_STORE_LOCK_INVALID_NAME', 'invalidArgument', 'invalid lock name %s: want an absolute path');

export interface LockOptions {
  /** How long to wait for a lock held elsewhere; default 30 000 ms, 0 = try once. */
  timeoutMs?: number;
}

export interface LockHandle {
  /** The normalised lock name. */
  readonly name: string;
  /** Frees the lock; calling it again does nothing. */
  release(): Promise<void>;
}

export const DEFAULT_LOCK_TIMEOUT_MS = 30_000;

/** The abstract socket address for a lock name (exported for diagnostics and tests). */
export function lockAddress(name: string): string {
  return '\0berth-lock-' + createHash('sha256').update(path.resolve(name)).digest('hex').slice(0, 40);
}

/** One attempt: resolves to the bound server, or undefined when the name is held elsewhere. */
function tryBind(address: string, name: string): Promise<net.Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    const onError = (err: NodeJS.ErrnoException) => {
      server.removeListener('listening', onListening);
      if (err.code === 'EADDRINUSE') resolve(undefined);
      else reject(ERR_STORE_LOCK_FAILED.with({ cause: err }, name, err.message));
    };
    const onListening = () => {
      server.removeListener('error', onError);
      server.unref();
      // A lock socket never serves anybody: refuse connections quietly.
      server.on('connection', (s) => s.destroy());
      server.on('error', () => undefined);
      resolve(server);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(address);
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Acquires the lock `name` (see the file comment); throws ERR_STORE_LOCK_TIMEOUT on timeout. */
export async function acquireLock(name: string, opts: LockOptions = {}): Promise<LockHandle> {
  if (typeof name !== 'string' || !path.isAbsolute(name)) throw ERR_STORE_LOCK_INVALID_NAME(JSON.stringify(name));
  const norm = path.resolve(name);
  const address = lockAddress(norm);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    const server = await tryBind(address, norm);
    if (server) {
      let released: Promise<void> | undefined;
      return {
        name: norm,
        release() {
          released ??= new Promise<void>((resolve) => server.close(() => resolve()));
          return released;
        },
      };
    }
    const left = deadline - Date.now();
    if (left <= 0) throw ERR_STORE_LOCK_TIMEOUT(timeoutMs, norm);
    // Full jitter: spreads waiters so they do not retry in lock-step.
    await sleep(Math.min(left, 1 + Math.random() * delay));
    delay = Math.min(50, delay * 2);
  }
}

/** Runs `fn` while holding `name`; the lock is released however `fn` ends. */
export async function withLock<T>(name: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const h = await acquireLock(name, opts);
  try {
    return await fn();
  } finally {
    await h.release();
  }
}
