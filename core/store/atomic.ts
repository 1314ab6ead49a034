/**
 * Crash-safe file replacement: the one primitive every berth store builds on.
 *
 * Vocabulary
 * - *target*: the file a caller wants to replace (`path`).
 * - *temp file*: a sibling of the target, in the same directory (so `rename(2)` is atomic and never
 *   crosses a filesystem), named `.<basename, cut at 200 chars>.tmp-<pid>-<random>`. The leading dot and the
 *   `.tmp-<pid>-` marker let stores skip temp files when listing (`isTempFileName`) and let
 *   `repair()` remove the ones whose writer is gone (`tempFileOwnerPid`).
 * - *durable*: the bytes and the directory entry have both been fsynced; a power cut after the
 *   promise resolves keeps the new content.
 *
 * Lifecycle of one `writeFileAtomic(path, data)`
 *   1. open the temp file with O_CREAT|O_EXCL (never clobbers another writer's temp file);
 *   2. write every byte, fsync the file, close it;
 *   3. rename(temp, target): readers see either the old file or the new one, never a mix;
 *   4. fsync the directory so the rename itself is durable.
 * If any step fails, the temp file is unlinked (best effort) and the error is rethrown. If the
 * process is killed between 1 and 3, the temp file stays behind; it is harmless (nothing reads it)
 * and the owning store's `check()` reports it and `repair()` removes it.
 *
 * No locking happens here: two concurrent writers of the same target each produce a complete file
 * and the last rename wins. Stores that need read-modify-write take a lock (`lock.ts`) around it.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

const TEMP_RE = /^\..+\.tmp-(\d+)-[0-9a-f]{12}$/;

/** The temp file name used for `target` by this process. */
export function tempPathFor(target: string): string {
  const dir = path.dirname(target);
  const base = path.basename(target);
  // Truncated so that the temp name fits NAME_MAX (255) whatever the target's name length.
  return path.join(dir, `.${base.slice(0, 200)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** True for names produced by `tempPathFor` (a basename, not a path). */
export function isTempFileName(name: string): boolean {
  return TEMP_RE.test(name);
}

/** The pid that created a temp file, or undefined when `name` is not a temp file name. */
export function tempFileOwnerPid(name: string): number | undefined {
  const m = TEMP_RE.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * True when the process that created a temp file can no longer be writing it. A pid that is
 * alive (or that we may not signal) counts as a live owner; pids can be reused, so a live owner is
 * "maybe still writing", which is the safe side.
 */
export function tempFileOwnerGone(name: string): boolean {
  const pid = tempFileOwnerPid(name);
  return pid !== undefined && processGone(pid);
}

/** True when no process `pid` exists (never for our own pid; EPERM means it exists). */
export function processGone(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function toBuffer(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

/** fsync(2) on the thread pool: the one step of a small write that waits for the disk. */
function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/**
 * fsync a directory so entries created, renamed or removed in it are durable. The open and close
 * are synchronous (microseconds); only the fsync goes to the thread pool.
 */
export async function fsyncDir(dir: string): Promise<void> {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    await fsyncFd(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Synchronous `fsyncDir`. */
export function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes every byte of `buf` through `fh` (a short write is continued, never dropped). */
export async function writeAll(fh: fsp.FileHandle, buf: Uint8Array): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

/** After a failed write: closes the temp file if it is open and unlinks it (best effort). */
function dropTemp(fd: number | undefined, tmp: string): void {
  if (fd !== undefined) {
    try {
      fs.closeSync(fd);
    } catch {
      /* already failing */
    }
  }
  try {
    fs.unlinkSync(tmp);
  } catch {
    /* never created, or gone */
  }
}

/**
 * Replaces `path` with `data` atomically and durably (see the file comment). `mode` defaults to
 * 0o644 and applies to the new file regardless of the old one's mode (subject to umask).
 * `durable: false` skips both fsyncs: still atomic for every reader, but a power cut may bring
 * back the old content (for records that are meant to be short-lived).
 */
export async function writeFileAtomic(target: string, data: Uint8Array | string, mode = 0o644, durable = true): Promise<void> {
  const buf = toBuffer(data);
  const tmp = tempPathFor(target);
  // The files written here are small records and configs: open, write, close and rename are
  // synchronous (microseconds each; a thread-pool round trip per call cost `berth run` several
  // ms), and only the two fsyncs, which wait for the disk, leave the event loop free.
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode);
    for (let off = 0; off < buf.length; ) off += fs.writeSync(fd, buf, off, buf.length - off);
    if (durable) await fsyncFd(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, target);
  } catch (err) {
    dropTemp(fd, tmp);
    throw err;
  }
  if (durable) await fsyncDir(path.dirname(target));
}

/** Synchronous `writeFileAtomic`, for exit handlers and boot code that cannot await. */
export function writeFileAtomicSync(target: string, data: Uint8Array | string, mode = 0o644): void {
  const buf = toBuffer(data);
  const tmp = tempPathFor(target);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode);
    let off = 0;
    while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, target);
  } catch (err) {
    dropTemp(fd, tmp);
    throw err;
  }
  fsyncDirSync(path.dirname(target));
}
