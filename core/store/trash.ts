/**
 * Deferred deletion: a directory tree that is already unreachable is moved into a trash
 * directory (the state root's `trash/`, or a plugin's own) and deleted by a detached `rm -rf`
 * after the command has moved on.
 *
 * Why. On this kind of host (ext4 mounted with online `discard`, no journal) every freed block
 * is discarded synchronously: removing a container's directory and writable layer (a dozen
 * small files, eight directories) cost `berth run --rm` 5–15 ms of unlink/rmdir on its critical
 * path, more when the disk is busy. What a user can see of a removal — the record, the name, the
 * snapshot index, the container directory under its own name — is gone before `trash()`
 * returns; only the bytes are freed later.
 *
 * Lifecycle
 *   trash(tdir, dir)   rename(2) `dir` to `<tdir>/<basename>-<random>` (atomic; `tdir` is on the
 *                      same filesystem: under the state root), then, once per event-loop turn,
 *                      one detached `rm -rf -- <entries…>` is started and forgotten.
 *   emptyTrash(tdir)   synchronous removal of everything in it (`system prune`, a storage
 *                      driver's cleanup), for what a killed process or a power cut left there.
 * The trash is not an inconsistency: `system check` ignores it. When the rename is impossible
 * (EXDEV: a subdirectory mounted from elsewhere) the tree is deleted in place, synchronously.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { mark } from '../trace';

/** The state root's trash directory (a plugin may keep its own under its data dir). */
export function trashDir(root: string): string {
  return join(root, 'trash');
}

let pending: string[] = [];
let scheduled = false;
let standing: { write(paths: string[]): boolean } | undefined;

/**
 * For a short-lived process (the CLI) that knows it will trash something: starts the remover
 * now, while the caller waits for something else, instead of forking one on the removal's
 * critical path. It is `xargs -0 -r rm -rf --` reading this process's pipe: what is trashed
 * later is written to it, and it deletes when the pipe closes, i.e. when this process exits.
 * (Not for long-running processes: nothing would be freed before they exit.)
 */
export function startRemover(): void {
  if (standing) return;
  try {
    const c = spawn('xargs', ['-0', '-r', 'rm', '-rf', '--'], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    const input = c.stdin!;
    let alive = true;
    c.on('error', () => (alive = false));
    input.on('error', () => (alive = false));
    // Neither the child nor the pipe keeps this process alive.
    c.unref();
    (input as unknown as { unref?: () => void }).unref?.();
    standing = {
      write: (paths) => {
        if (!alive) return false;
        input.write(paths.map((p) => `${p}\0`).join(''));
        return true;
      },
    };
  } catch {
    standing = undefined;
  }
}

/** Hands everything trashed since the last call to a remover (the standing one, or a new one). */
function flush(): void {
  scheduled = false;
  const paths = pending;
  pending = [];
  if (!paths.length) return;
  if (standing?.write(paths)) return;
  mark('trash: spawning remover');
  try {
    const c = spawn('rm', ['-rf', '--', ...paths], { detached: true, stdio: 'ignore' });
    c.on('error', () => {
      for (const p of paths) rmSync(p, { recursive: true, force: true });
    });
    c.unref();
    mark('trash: remover spawned');
  } catch {
    for (const p of paths) rmSync(p, { recursive: true, force: true });
  }
}

/**
 * Moves `dir` into trash directory `tdir` (made when missing) for deletion in the background. A missing `dir` is not an
 * error. Returns once nothing is left under `dir`'s name.
 */
export function trash(tdir: string, dir: string): void {
  const target = join(tdir, `${basename(dir)}-${randomBytes(4).toString('hex')}`);
  try {
    renameSync(dir, target);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      try {
        mkdirSync(tdir, { recursive: true, mode: 0o700 });
        renameSync(dir, target);
      } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code === 'ENOENT') return; // dir itself is gone
        rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 20 });
        return;
      }
    } else {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 20 });
      return;
    }
  }
  pending.push(target);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}

/** Deletes everything in trash directory `tdir` now; returns how many entries it removed. */
export function emptyTrash(tdir: string): number {
  let names: string[];
  try {
    names = readdirSync(tdir);
  } catch {
    return 0;
  }
  for (const n of names) rmSync(join(tdir, n), { recursive: true, force: true, maxRetries: 3, retryDelay: 20 });
  return names.length;
}
