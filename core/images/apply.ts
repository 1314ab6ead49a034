/**
 * Layer apply: writes the entries of an uncompressed layer tar into a snapshot's layer dir,
 * safely and fast.
 *
 * Vocabulary
 * - *target*: the layer dir (overlay: the upper dir; vfs: a full copy of the parent). Nothing is
 *   ever created, changed or deleted outside it.
 * - *whiteout mode*: `overlay` turns `.wh.NAME` into a 0/0 character device NAME and
 *   `.wh..wh..opq` into the xattr `trusted.overlay.opaque=y` on its directory; `delete` performs
 *   the deletions for real (vfs), opaque directories losing every child this layer did not write.
 * - *lower dirs*: for overlay, the parent layers' dirs, nearest first. Read only: they give
 *   implicit parent directories their owner/mode and let a hardlink to a file of a lower layer
 *   copy that file up first.
 * - *known dirs*: relative paths apply has created or lstat-ed as real directories during this
 *   apply. A parent component that is not a known dir is lstat-ed: a symlink there is refused
 *   (ERR_LAYER_UNSAFE_PATH), so apply never writes through a symlink, wherever it points.
 *   Replacing or deleting a path forgets it and everything below it.
 *
 * Lifecycle of one apply
 *   1. entries are read one by one by tar-reader.ts (tar-stream's header codec); each name is cleaned
 *      (tar-safety.ts), its parents resolved as above, then the entry is written:
 *      files with O_CREAT|O_EXCL|O_NOFOLLOW (an existing entry is removed first), directories
 *      merged, symlinks created (never followed), hardlinks only to entries inside the target;
 *      owner, mode (setuid/sticky kept), times set on the open fd;
 *   2. device nodes, fifos, whiteout devices and xattrs are queued for the batched native
 *      helper (fsops.ts): one child process per layer, not one per entry;
 *   3. at the end: the helper runs, opaque deletions (delete mode) happen, then owners/modes/
 *      times of helper-made nodes and directory times (deepest first, after their children).
 * Any refusal rejects the whole apply with a stable code (ERR_LAYER_UNSAFE_PATH,
 * ERR_LAYER_UNSUPPORTED_ENTRY, ERR_LAYER_CORRUPT, ERR_LAYER_BAD_LINK: invalidArgument;
 * ERR_LAYER_APPLY_FAILED: internal I/O errors). The target is then half-written; the caller
 * discards the active snapshot. The source stream is destroyed.
 *
 * Speed: metadata syscalls are synchronous (cheaper than a thread-pool hop each; apply is the
 * only thing this code path does), file data is written chunk by chunk as it streams.
 */
import * as fs from 'node:fs';
import { Writable } from 'node:stream';
import type { MessagePort } from 'node:worker_threads';
import { BerthError, defineError } from '../errors';
import { giveBack } from '../lent';
import type { ApplyResult } from '../contracts/storage';
import {
  ERR_LAYER_BAD_LINK,
  ERR_LAYER_CORRUPT,
  ERR_LAYER_UNSAFE_PATH,
  ERR_LAYER_UNSUPPORTED_ENTRY,
  RAW_XATTR_PREFIX,
  SUPPORTED_TYPES,
  cleanEntryPath,
  paxId,
  paxTime,
  paxXattrs,
  unsupportedPaxKey,
  whiteoutOf,
} from './tar-safety';
import { ERR_FSOPS_FAILED, FsOpsBatch } from './fsops';
import { TarReader, tarHeaderCodec, type TarEntryHandler, type TarHeader } from './tar-reader';

export { ERR_LAYER_BAD_LINK, ERR_LAYER_CORRUPT, ERR_LAYER_UNSAFE_PATH, ERR_LAYER_UNSUPPORTED_ENTRY } from './tar-safety';
export const ERR_LAYER_APPLY_FAILED = ERR_FSOPS_FAILED;
/** A detached apply met an entry that needs the parent's content (a hardlink to a lower file). */
export const ERR_LAYER_NEEDS_PARENT = defineError('ERR_LAYER_NEEDS_PARENT', 'failedPrecondition', 'layer entry %s: %s; apply the layer on its committed parent');
export type { ApplyResult } from '../contracts/storage';

export interface ApplyOptions {
  whiteoutMode: 'overlay' | 'delete';
  /** Overlay only: the parent layers' dirs, nearest first (read only). */
  lowerDirs?: string[];
  /**
   * Overlay only, no lowerDirs: the layer is applied before its parents exist (see
   * `DetachedApplier` in core/contracts/storage.ts). Nothing outside the target is read:
   * implicit parent directories are made 0755 root-owned and listed in the result's `implicitDirs`
   * for `fixImplicitDirs` to give them their lower layers' owner and mode later; a hardlink to a
   * file that is not in this layer rejects with ERR_LAYER_NEEDS_PARENT.
   */
  detached?: boolean;
  /** Set owners from the tar (default: when running as root). */
  ownership?: boolean;
  /**
   * Detached only: a port to a second thread running `serveFileWriter` on the same target. New
   * regular files (up to OFFLOAD_MAX_FILE bytes) are then created there, in batches, while this
   * thread goes on parsing (see FileOffload).
   */
  writer?: MessagePort;
}

/** The entry whose data the reader is delivering (see Applier.start/data/end). */
type CurrentEntry =
  | { kind: 'skip' }
  | { kind: 'file'; fd: number; what: string; uid: number; gid: number; mode: number; atime: number; mtime: number }
  | { kind: 'offload'; rel: string; len: number; uid: number; gid: number; mode: number; atime: number; mtime: number };
const SKIP: CurrentEntry = { kind: 'skip' };

const O_NOFOLLOW = fs.constants.O_NOFOLLOW;
const OPEN_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | O_NOFOLLOW;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

/** Read once: the bits open(2) strips from a new file's mode. */
const UMASK = process.umask();

const errno = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code;

let paxPatched = false;
/**
 * tar-stream decodes PAX values as UTF-8, which mangles binary xattr values
 * (`security.capability`). We wrap its decoder to also keep the exact bytes of every
 * `SCHILY.xattr.*` value under `BERTH.raw.SCHILY.xattr.*` (base64). Other keys are unchanged.
 */
function patchPaxDecoder(): void {
  if (paxPatched) return;
  paxPatched = true;
  const headers = tarHeaderCodec();
  const orig = headers.decodePax;
  headers.decodePax = function decodePax(buf: Buffer): Record<string, string> {
    const result = orig(buf);
    let b = buf;
    while (b.length) {
      let i = 0;
      while (i < b.length && b[i] !== 32) i++;
      const len = parseInt(b.subarray(0, i).toString(), 10);
      if (!len || len > b.length) break;
      const rec = b.subarray(i + 1, len - 1);
      const eq = rec.indexOf(61);
      if (eq > 0) {
        const key = rec.subarray(0, eq).toString();
        if (key.startsWith('SCHILY.xattr.')) result[RAW_XATTR_PREFIX + key.slice('SCHILY.xattr.'.length)] = rec.subarray(eq + 1).toString('base64');
      }
      b = b.subarray(len);
    }
    return result;
  };
}

/**
 * Applier → file writer thread: a batch of files, encoded flat (one string and one typed array,
 * transferred; an array of ~48 objects took ≈ 140 µs per batch to clone, on the parsing thread):
 * `rels` holds the paths joined by NUL (a tar name never contains one), `meta` META numbers per
 * file in the order of `rels` (mode, atime, mtime, len, uid, gid, flags: 1 chown, 2 chmod); the
 * files' bytes follow one another in `buf`.
 */
type ToFileWriter = { t: 'files'; rels: string; meta: Float64Array; buf: ArrayBuffer };
/**
 * File writer thread → Applier: one answer per batch, in order. `buf`: the batch's buffer, handed
 * back for the next batch once its files are written.
 */
type FromFileWriter = { t: 'ack'; buf?: ArrayBuffer } | { t: 'error'; rel: string; message: string };

const OFFLOAD_BATCH = 256 << 10;
const OFFLOAD_BATCH_FILES = 48;
export const OFFLOAD_MAX_FILE = 1 << 20;
/**
 * Batches sent and not yet answered: with more, the writer is busy (another layer's apply runs
 * on it too) and files are written here. With 2, a third of the /usr/share layer's 7.7k files
 * were still written on the parsing thread although the writer sat idle half the time (its answer
 * lags the next batch by a wake-up); 4, 8 and 16 offload 87–99 % and measured alike (the bench
 * image's three layers unpacked alone: 859 ms with 2, 805–811 with 4/8/16, 6 rounds each). A busy
 * writer then holds at most 8 × 256 KiB of this layer when it ends.
 */
const OFFLOAD_IN_FLIGHT = 8;
/** Numbers per file in a batch's `meta` (see ToFileWriter). */
const META = 7;

/**
 * The parsing side of a split detached apply: regular files are copied into batches (≤ 256 KiB,
 * ≤ 48 files) that a second thread (`serveFileWriter`) creates with the same calls `file()` makes
 * (open O_CREAT|O_EXCL|O_NOFOLLOW, write, fchown/fchmod when needed, futimes, close), so the
 * syscalls of a many-small-files layer and its parsing/hashing run on two cores. Adaptive: a file
 * is offloaded only while fewer than OFFLOAD_IN_FLIGHT batches wait at the writer (a busy writer —
 * another layer's worker — does not hold this apply up: the file is then written here).
 *
 * Safety: only paths this apply has not named yet are offloaded (each at most once), under
 * parents this thread has made or checked to be real directories (so they are known dirs); every
 * entry that could touch a path with a file pending at the writer — the file itself, a known
 * directory above pending files (a removal, a replacement), or a path below a pending file —
 * first waits until the writer has finished everything sent (`drain`, see Applier.mayTouchPending),
 * as does finish(). So the writer never acts on a path this thread changes, and nothing is
 * removed or replaced while a write below it is pending.
 */
class FileOffload {
  /** Files sent or batched, not yet written. */
  readonly pending = new Set<string>();
  /** The current batch: its paths and numbers (META per file, written as files are added). */
  private rels: string[] = [];
  private meta = new Float64Array(OFFLOAD_BATCH_FILES * META);
  private buf: Buffer | undefined;
  private used = 0;
  /** Batches sent, oldest first: their files, released by the writer's answers. */
  private readonly sent: Array<{ rels: string[] }> = [];
  private waiters: Array<() => void> = [];
  private err: Error | undefined;
  private closed = false;
  /**
   * Batch buffers the writer handed back. A fresh 256 KiB buffer is fresh memory, faulted in page
   * by page on this (the parsing, critical) thread as the files are copied in — ≈ 22k page faults
   * for an 88 MB layer of small files — and freed on the writer's thread; a returned one is warm.
   */
  private readonly spare: ArrayBuffer[] = [];
  offloaded = 0;

  constructor(private readonly port: MessagePort) {
    port.on('message', (m: FromFileWriter) => {
      const b = this.sent.shift();
      if (b) {
        for (const r of b.rels) this.pending.delete(r);
      }
      if (m.t === 'ack' && m.buf && m.buf.byteLength === OFFLOAD_BATCH && this.spare.length < OFFLOAD_IN_FLIGHT + 1) this.spare.push(m.buf);
      if (m.t === 'error') this.err ??= ERR_FSOPS_FAILED(`${JSON.stringify(m.rel)}: ${m.message} (file writer thread)`);
      this.wake();
    });
    port.on('close', () => {
      this.closed = true;
      // Unanswered batches may not be written; with none, the files simply stay here.
      if (this.sent.length > 0) this.err ??= ERR_FSOPS_FAILED('the file writer thread went away');
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Whether a file of `size` bytes can go to the writer now. */
  canTake(size: number): boolean {
    return this.err === undefined && !this.closed && size <= OFFLOAD_MAX_FILE && this.sent.length < OFFLOAD_IN_FLIGHT;
  }

  /** Makes room for `size` bytes in the current batch. */
  begin(size: number): void {
    if (this.buf && this.used + size > this.buf.length) this.flush();
    if (!this.buf) {
      const ab = size <= OFFLOAD_BATCH ? this.spare.pop() : undefined;
      this.buf = ab ? Buffer.from(ab) : Buffer.allocUnsafe(Math.max(OFFLOAD_BATCH, size));
    }
  }

  /** Appends file data to the current batch (after begin(size) with the file's size). */
  copy(chunk: Buffer): void {
    if (this.used + chunk.length > this.buf!.length) throw ERR_LAYER_CORRUPT('a tar entry is longer than its header says');
    chunk.copy(this.buf!, this.used);
    this.used += chunk.length;
  }

  /** Adds the file whose bytes were just copied (`len` of them); flags: 1 chown, 2 chmod. */
  add(rel: string, mode: number, atime: number, mtime: number, len: number, uid: number, gid: number, flags: number): void {
    const m = this.meta;
    let i = this.rels.length * META;
    m[i++] = mode;
    m[i++] = atime;
    m[i++] = mtime;
    m[i++] = len;
    m[i++] = uid;
    m[i++] = gid;
    m[i] = flags;
    this.rels.push(rel);
    this.pending.add(rel);
    this.offloaded++;
    if (this.used >= OFFLOAD_BATCH || this.rels.length >= OFFLOAD_BATCH_FILES) this.flush();
  }

  private flush(): void {
    const n = this.rels.length;
    if (n === 0) return;
    const buf = this.buf!;
    const ab = (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength ? buf.buffer : buf.buffer.slice(buf.byteOffset, buf.byteOffset + this.used)) as ArrayBuffer;
    const rels = this.rels;
    const meta = n === OFFLOAD_BATCH_FILES ? this.meta : this.meta.slice(0, n * META);
    this.sent.push({ rels });
    this.rels = [];
    this.meta = new Float64Array(OFFLOAD_BATCH_FILES * META);
    this.buf = undefined;
    this.used = 0;
    if (this.closed) {
      this.err ??= ERR_FSOPS_FAILED('the file writer thread went away');
      return;
    }
    this.port.postMessage({ t: 'files', rels: rels.join('\0'), meta, buf: ab } satisfies ToFileWriter, [ab, meta.buffer as ArrayBuffer]);
  }

  /** Sends the current batch and waits until the writer has answered every batch. */
  async drain(): Promise<void> {
    this.flush();
    while (this.sent.length > 0 && !this.closed) await new Promise<void>((r) => this.waiters.push(r));
    if (this.err) throw this.err;
  }

  /** After the last drain (or on failure: waits for what was sent, never sends more). */
  async close(): Promise<void> {
    this.rels = [];
    this.buf = undefined;
    this.used = 0;
    while (this.sent.length > 0 && !this.closed) await new Promise<void>((r) => this.waiters.push(r));
    this.closed = true;
    this.port.close();
  }
}

/**
 * One file of a batch (serveFileWriter): created with the calls Applier makes for a file
 * (open O_CREAT|O_EXCL|O_NOFOLLOW, write, fchown/fchmod when flagged, futimes, close). Returns
 * the error's message, or undefined.
 */
function writeOne(root: string, rel: string, buf: Buffer, off: number, len: number, mode: number, atime: number, mtime: number, uid: number, gid: number, flags: number): string | undefined {
  if (!isCleanRel(rel)) return 'not a clean relative path';
  let fd: number | undefined;
  try {
    fd = fs.openSync(root + '/' + rel, OPEN_FLAGS, mode & 0o777);
    let w = 0;
    while (w < len) w += fs.writeSync(fd, buf, off + w, len - w);
    if (flags & 1) fs.fchownSync(fd, uid, gid);
    if (flags & 2) fs.fchmodSync(fd, mode);
    fs.futimesSync(fd, atime, mtime);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** A relative path of clean components: no empty, `.` or `..` component, no NUL, not absolute. */
function isCleanRel(rel: string): boolean {
  if (rel === '' || rel.includes('\0')) return false;
  let start = 0;
  for (;;) {
    const slash = rel.indexOf('/', start);
    const end = slash < 0 ? rel.length : slash;
    const len = end - start;
    if (len === 0) return false;
    if (rel.charCodeAt(start) === 46 && (len === 1 || (len === 2 && rel.charCodeAt(start + 1) === 46))) return false;
    if (slash < 0) return true;
    start = slash + 1;
  }
}

/**
 * The writing side of a split detached apply (see FileOffload): creates the files of each batch
 * under `targetDir`, answering each batch once it is written (or with the first error; later
 * batches are then refused). Resolves with the number of files written when the port closes. Paths are relative, clean and new:
 * anything else is refused (defence in depth: the sender checked them and owns the target).
 */
export function serveFileWriter(port: MessagePort, targetDir: string): Promise<number> {
  const root = fs.realpathSync(targetDir);
  if (root === '/') throw ERR_FSOPS_FAILED('refusing to write files onto /');
  let failed: { rel: string; message: string } | undefined;
  let written = 0;
  return new Promise<number>((resolve) => {
    port.on('close', () => resolve(written));
    port.on('message', (m: ToFileWriter) => {
      if (m.t !== 'files') return;
      const ok = typeof m.rels === 'string' && m.meta instanceof Float64Array && m.buf instanceof ArrayBuffer;
      const buf = ok ? Buffer.from(m.buf) : Buffer.alloc(0);
      const rels = ok ? m.rels.split('\0') : [];
      const meta = ok ? m.meta : new Float64Array(0);
      if (!ok || rels.length * META !== meta.length) failed ??= { rel: '', message: 'a malformed file batch' };
      let off = 0;
      for (let k = 0; k < rels.length && !failed; k++) {
        const rel = rels[k]!;
        const i = k * META;
        const len = meta[i + 3]!;
        const err = writeOne(root, rel, buf, off, len, meta[i]!, meta[i + 1]!, meta[i + 2]!, meta[i + 4]!, meta[i + 5]!, meta[i + 6]!);
        if (err !== undefined) failed = { rel, message: err };
        else written++;
        off += len;
      }
      // Every file of the batch is written (synchronously): its buffer goes back for reuse.
      if (failed) port.postMessage({ t: 'error', ...failed } satisfies FromFileWriter);
      else port.postMessage({ t: 'ack', buf: m.buf } satisfies FromFileWriter, [m.buf]);
    });
  });
}

/**
 * The known dirs of an apply (see the file comment), as a tree: forgetting one visits only what
 * lies below it. A directory becomes known only once its parent is (parents() walks down from
 * the root; a directory entry comes after its parents), so everything below a known directory is
 * reachable through `children`. A scan of every known path per forgotten directory made a layer
 * that replaces many directories quadratic (20,000 directories replaced by files: 6.8 s).
 */
class KnownDirs {
  private readonly all = new Set<string>(['']);
  private readonly children = new Map<string, Set<string>>();

  has(rel: string): boolean {
    return this.all.has(rel);
  }

  add(rel: string): void {
    if (rel === '' || this.all.has(rel)) return;
    const parent = parentOf(rel);
    // Never the case (see above); if it were, forgetting an ancestor would miss `rel`.
    if (!this.all.has(parent)) throw ERR_FSOPS_FAILED(`internal: ${JSON.stringify(rel)} would be known below an unknown ${JSON.stringify(parent)}`);
    this.all.add(rel);
    let set = this.children.get(parent);
    if (!set) this.children.set(parent, (set = new Set()));
    set.add(rel);
  }

  /**
   * Forgets `rel` and every known directory below it, calling `visit` for each (`rel` first).
   * False when `rel` was not known. The root is never forgotten.
   */
  forgetTree(rel: string, visit: (dir: string) => void): boolean {
    if (rel === '' || !this.all.has(rel)) return false;
    this.children.get(parentOf(rel))?.delete(rel);
    const stack = [rel];
    while (stack.length > 0) {
      const d = stack.pop()!;
      this.all.delete(d);
      visit(d);
      const kids = this.children.get(d);
      if (kids) {
        this.children.delete(d);
        for (const k of kids) stack.push(k);
      }
    }
    return true;
  }
}

function parentOf(rel: string): string {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? '' : rel.slice(0, slash);
}

/** Deferred metadata for nodes the helper creates and for directories. */
interface Meta { rel: string; uid: number; gid: number; mode: number; atime: number; mtime: number; isLink?: boolean }

class Applier implements TarEntryHandler {
  readonly result: ApplyResult = { entries: 0, bytes: 0 };
  /** The entry whose data is arriving. */
  private cur: CurrentEntry = SKIP;
  private readonly known = new KnownDirs();
  /** lstat results of lower-layer paths (null: absent), see lowerDir. */
  private readonly lowerSeen = new Map<string, fs.Stats | null>();
  private readonly batch: FsOpsBatch;
  private readonly dirMeta = new Map<string, Meta>();
  private readonly nodeMeta = new Map<string, Meta>();
  /** The paths of nodeMeta by their parent directory (a forgotten directory drops its own). */
  private readonly nodesIn = new Map<string, Set<string>>();
  private readonly opaque: string[] = [];
  /** Overlay mode: paths whose whiteout device is still queued. */
  private readonly pendingWhiteouts = new Set<string>();
  /** Delete mode: every path this layer wrote, for opaque processing. */
  private readonly written = new Set<string>();
  private readonly ownership: boolean;
  private readonly isRoot = process.getuid?.() === 0;
  /** Detached mode: directories created implicitly (their lower layers' metadata is unknown yet). */
  private readonly implicit = new Set<string>();
  /**
   * New files are born 0:0 here: we run as 0:0 and, in a detached apply, no directory of the
   * target is setgid before finish() (every one was made by this apply, modes come last), so
   * a 0:0 file needs no fchown (one syscall less per file).
   */
  private readonly bornRootOwned: boolean;
  /** A split apply (detached, with a writer thread). */
  private readonly offload: FileOffload | undefined;
  /** A split apply: every path an entry of this apply named (only those never named are offloaded). */
  private readonly made = new Set<string>();

  constructor(private readonly root: string, private readonly opts: ApplyOptions) {
    this.ownership = opts.ownership ?? this.isRoot;
    this.bornRootOwned = opts.detached === true && process.geteuid?.() === 0 && process.getegid?.() === 0;
    this.offload = opts.detached && opts.writer ? new FileOffload(opts.writer) : undefined;
    this.batch = new FsOpsBatch(root);
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : this.root + '/' + rel;
  }

  /** Forgets `rel` and everything below it (it was removed or replaced by a non-directory). */
  private forget(rel: string): void {
    if (this.nodeMeta.delete(rel)) this.nodesIn.get(parentOf(rel))?.delete(rel);
    this.pendingWhiteouts.delete(rel);
    // Below a forgotten directory: the known dirs, their metadata and the nodes in them go too.
    const wasDir = this.known.has(rel) && this.known.forgetTree(rel, this.forgetDir);
    this.cancelOps(rel, wasDir);
  }

  /** A directory forgetTree removes: its metadata and the nodes queued in it go with it. */
  private readonly forgetDir = (d: string): void => {
    this.dirMeta.delete(d);
    const nodes = this.nodesIn.get(d);
    if (nodes) {
      for (const n of nodes) this.nodeMeta.delete(n);
      this.nodesIn.delete(d);
    }
  };

  /**
   * Drops the helper ops queued at `rel` and, when it is (was) a known directory, below it. Every
   * queued op's parents are known directories (ops are queued after parents(), and forgetting a
   * directory drops the ops below it), so below anything else there is nothing to drop — and the
   * scan of every queued op is skipped: with an xattr queued for each file of a layer it made
   * the apply quadratic (8,000 files with one xattr each: 354 ms in cancel alone).
   */
  private cancelOps(rel: string, isDir = this.known.has(rel)): void {
    this.batch.cancel(rel, isDir);
  }

  /**
   * The lstat of `rel` in the first lower dir that has it, as a real directory reached through
   * real directories only (a lower layer's symlink is never followed, not even to read).
   */
  private lowerDir(rel: string): fs.Stats | undefined {
    const comps = rel.split('/');
    for (const l of this.opts.lowerDirs ?? []) {
      let p = l;
      let st: fs.Stats | undefined;
      for (const c of comps) {
        p += '/' + c;
        // Lower layers are committed (they never change): each path is looked at once, so the
        // ~1,100 implicit directories of a /usr/share layer cost one lstat of `usr/share`, not
        // one each.
        const seen = this.lowerSeen.get(p);
        if (seen !== undefined) {
          st = seen ?? undefined;
        } else {
          try {
            st = fs.lstatSync(p);
          } catch {
            st = undefined;
          }
          this.lowerSeen.set(p, st ?? null);
        }
        if (!st || !st.isDirectory()) break;
      }
      if (st) return st.isDirectory() ? st : undefined;
    }
    return undefined;
  }

  /**
   * Makes sure every parent of `comps` is a real directory inside the root (created when
   * missing and `create`), never a symlink. Returns false when a parent is missing and
   * `create` is false.
   */
  private parents(comps: string[], what: string, create: boolean): boolean {
    let rel = '';
    for (let i = 0; i < comps.length - 1; i++) {
      rel = rel === '' ? comps[i]! : rel + '/' + comps[i]!;
      // Delete mode: a directory this layer writes into counts as written by it (opaque rule).
      if (create && this.opts.whiteoutMode === 'delete') this.written.add(rel);
      if (this.known.has(rel)) continue;
      let st: fs.Stats | undefined;
      if (create && this.opts.detached) {
        // Detached: nothing is read from lower dirs, so a missing parent is made 0755 at once
        // (mkdir(2) never follows a symlink at its last component: EEXIST on anything there,
        // which is then lstat-ed as below). Saves the lstat (ENOENT) of every implicit directory.
        try {
          fs.mkdirSync(this.abs(rel), 0o755);
          this.implicit.add(rel);
          this.known.add(rel);
          continue;
        } catch (err) {
          if (errno(err) !== 'EEXIST') throw this.io(err, what);
        }
      }
      try {
        st = fs.lstatSync(this.abs(rel));
      } catch (err) {
        if (errno(err) !== 'ENOENT') throw this.io(err, what);
      }
      if (st === undefined) {
        if (!create) return false;
        const lower = this.lowerDir(rel);
        if (this.opts.detached) this.implicit.add(rel);
        try {
          fs.mkdirSync(this.abs(rel), lower ? lower.mode & 0o7777 : 0o755);
          if (lower) {
            if (this.ownership) fs.lchownSync(this.abs(rel), lower.uid, lower.gid);
            fs.chmodSync(this.abs(rel), lower.mode & 0o7777);
          }
        } catch (err) {
          throw this.io(err, what);
        }
      } else if (st.isSymbolicLink()) {
        throw ERR_LAYER_UNSAFE_PATH(JSON.stringify(what), `parent ${JSON.stringify(rel)} is a symlink; apply never writes through symlinks`);
      } else if (!st.isDirectory()) {
        throw ERR_LAYER_UNSAFE_PATH(JSON.stringify(what), `parent ${JSON.stringify(rel)} is not a directory`);
      }
      this.known.add(rel);
    }
    return true;
  }

  private io(err: unknown, what: string): BerthError {
    if (err instanceof BerthError) return err;
    return ERR_FSOPS_FAILED.with({ cause: err }, `${JSON.stringify(what)}: ${(err as Error).message}`);
  }

  /** Removes whatever is at `rel` (file, symlink, or whole directory tree), never following links. */
  private removePath(rel: string, what: string): void {
    if (rel === '') throw ERR_LAYER_UNSAFE_PATH(JSON.stringify(what), 'cannot replace the layer root');
    this.forget(rel);
    try {
      fs.rmSync(this.abs(rel), { recursive: true, force: true });
    } catch (err) {
      throw this.io(err, what);
    }
  }

  private times(h: TarHeader): { atime: number; mtime: number } {
    const mtime = paxTime(h.pax, 'mtime', h.name) ?? (h.mtime ? h.mtime.getTime() / 1000 : 0);
    const atime = paxTime(h.pax, 'atime', h.name) ?? mtime;
    return { atime, mtime };
  }

  /**
   * A new entry (TarEntryHandler): checks it, waits for the file writer when the entry could
   * touch a pending file, then makes it — or, for a regular file, opens it (or starts its place in
   * a writer batch) for the data that follows. Returns a promise only when it has to wait.
   */
  start(h: TarHeader): void | Promise<void> {
    this.cur = SKIP;
    const what = h.name;
    this.result.entries++;
    const type = h.type ?? null;
    if (type === null || !SUPPORTED_TYPES.has(type)) {
      throw ERR_LAYER_UNSUPPORTED_ENTRY(JSON.stringify(what), type === null ? 'unknown typeflag' : type);
    }
    const sparse = unsupportedPaxKey(h.pax);
    if (sparse) throw ERR_LAYER_UNSUPPORTED_ENTRY(JSON.stringify(what), `GNU sparse file (${sparse})`);
    const comps = cleanEntryPath(h.name);
    const wh = whiteoutOf(comps[comps.length - 1], what);
    if (wh.kind !== 'none') {
      // Its data, if any, is skipped.
      if (type !== 'file' && type !== 'contiguous-file' && type !== 'directory') {
        throw ERR_LAYER_UNSAFE_PATH(JSON.stringify(what), `whiteout entry of type ${type}`);
      }
      if (wh.kind === 'meta') return;
      const dirComps = comps.slice(0, -1);
      const dir = dirComps.join('/');
      const name = wh.kind === 'whiteout' ? wh.target : '';
      const target = wh.kind === 'opaque' ? dir : dir === '' ? name : `${dir}/${name}`;
      const make = () => {
        if (this.offload) this.made.add(target);
        if (wh.kind === 'opaque') this.opaqueDir(dirComps, dir, what);
        else this.whiteout(dirComps, dir, name, what);
      };
      if (this.offload && this.mayTouchPending(target)) return this.offload.drain().then(make);
      return make();
    }
    const rel = comps.join('/');
    // A split apply: a path with a write pending at the writer (itself, above or below) waits.
    if (this.offload && rel !== '' && this.mayTouchPending(rel)) return this.offload.drain().then(() => this.make(h, type, comps, rel, what));
    return this.make(h, type, comps, rel, what);
  }

  /** The entry's next bytes (TarEntryHandler): written to its file, or copied into its batch. */
  data(chunk: Buffer): void {
    const c = this.cur;
    if (c.kind === 'file') {
      try {
        let off = 0;
        while (off < chunk.length) off += fs.writeSync(c.fd, chunk, off, chunk.length - off);
      } catch (err) {
        throw this.io(err, c.what);
      }
      this.result.bytes += chunk.length;
    } else if (c.kind === 'offload') {
      this.offload!.copy(chunk);
      c.len += chunk.length;
    }
  }

  /** The entry's data is complete (TarEntryHandler): a file gets its owner, mode and times. */
  end(): void {
    const c = this.cur;
    this.cur = SKIP;
    if (c.kind === 'file') {
      try {
        if (this.ownership && !(this.bornRootOwned && c.uid === 0 && c.gid === 0)) fs.fchownSync(c.fd, c.uid, c.gid);
        if ((c.mode & 0o7000) !== 0 || (c.mode & UMASK) !== 0) fs.fchmodSync(c.fd, c.mode);
        fs.futimesSync(c.fd, c.atime, c.mtime);
      } catch (err) {
        throw this.io(err, c.what);
      } finally {
        fs.closeSync(c.fd);
      }
    } else if (c.kind === 'offload') {
      this.result.bytes += c.len;
      const chown = this.ownership && !(this.bornRootOwned && c.uid === 0 && c.gid === 0);
      const chmod = (c.mode & 0o7000) !== 0 || (c.mode & UMASK) !== 0;
      this.offload!.add(c.rel, c.mode, c.atime, c.mtime, c.len, c.uid, c.gid, (chown ? 1 : 0) | (chmod ? 2 : 0));
    }
  }

  /** A failed apply: closes the file whose data was arriving, if any. */
  abandonEntry(): void {
    const c = this.cur;
    this.cur = SKIP;
    if (c.kind === 'file') {
      try {
        fs.closeSync(c.fd);
      } catch {
        /* already failed */
      }
    }
  }

  /** The rest of start() for an entry that is not a whiteout, once nothing pending is in its way. */
  private make(h: TarHeader, type: string, comps: string[], rel: string, what: string): void | Promise<void> {
    let fresh = false;
    if (this.offload && rel !== '') {
      fresh = !this.made.has(rel) && !this.known.has(rel);
      this.made.add(rel);
    }
    const uid = paxId(h.pax, 'uid', h.uid ?? 0, what);
    const gid = paxId(h.pax, 'gid', h.gid ?? 0, what);
    const mode = (h.mode ?? 0o644) & 0o7777;
    const { atime, mtime } = this.times(h);
    if (rel === '') {
      // The root itself: only a directory entry makes sense; it sets the root's metadata.
      if (type !== 'directory') throw ERR_LAYER_UNSAFE_PATH(JSON.stringify(what), `a ${type} cannot replace the layer root`);
      this.dirMeta.set('', { rel: '', uid, gid, mode, atime, mtime });
      this.xattrs('', h);
      return;
    }
    // A known parent means every directory above it is known too (a directory is known only
    // once its parents are, and forgetting one forgets everything below it): most entries of a
    // layer land in a directory an earlier entry made, and skip the walk from the root.
    const slash = rel.lastIndexOf('/');
    if (slash > 0 && (this.opts.whiteoutMode === 'delete' || !this.known.has(rel.slice(0, slash)))) this.parents(comps, what, true);
    if (this.opts.whiteoutMode === 'delete') this.written.add(rel);
    const abs = this.abs(rel);
    switch (type) {
      case 'file':
      case 'contiguous-file': {
        const size = h.size ?? 0;
        if (fresh && this.offload!.canTake(size)) {
          // A split apply: the file's bytes go into the writer's batch; the writer creates it.
          this.forget(rel);
          this.offload!.begin(size);
          this.cur = { kind: 'offload', rel, len: 0, uid, gid, mode, atime, mtime };
        } else {
          // Created with its permission bits: when the umask strips none and there are no
          // setuid/setgid/sticky bits (which chown would clear), no fchmod is needed.
          const fd = this.openExclusive(rel, abs, what, mode & 0o777);
          this.forget(rel);
          this.cur = { kind: 'file', fd, what, uid, gid, mode, atime, mtime };
        }
        break;
      }
      case 'directory': {
        let st: fs.Stats | undefined;
        try {
          fs.mkdirSync(abs, 0o700);
        } catch (err) {
          if (errno(err) !== 'EEXIST') throw this.io(err, what);
          st = fs.lstatSync(abs);
          if (!st.isDirectory()) {
            this.removePath(rel, what);
            try {
              fs.mkdirSync(abs, 0o700);
            } catch (err2) {
              throw this.io(err2, what);
            }
          }
        }
        this.known.add(rel);
        if (this.pendingWhiteouts.delete(rel)) {
          // `.wh.x` then `x/` in one layer: the lower x is gone and a fresh x begins — in
          // overlay terms an opaque directory, not a whiteout device.
          this.batch.cancel(rel, false, 'N');
          this.batch.setxattr(rel, 'trusted.overlay.opaque', Buffer.from('y'));
        } else {
          this.batch.cancel(rel, false, 'N');
        }
        this.dirMeta.set(rel, { rel, uid, gid, mode, atime, mtime });
        break;
      }
      case 'symlink': {
        const target = h.linkname ?? '';
        if (target.includes('\0')) throw ERR_LAYER_UNSAFE_PATH(JSON.stringify(what), 'symlink target contains a NUL byte');
        this.replaceWith(rel, what, () => fs.symlinkSync(target, abs));
        try {
          if (this.ownership && !(this.bornRootOwned && uid === 0 && gid === 0)) fs.lchownSync(abs, uid, gid);
          fs.lutimesSync(abs, atime, mtime);
        } catch (err) {
          throw this.io(err, what);
        }
        break;
      }
      case 'link':
        return this.hardlink(rel, abs, h.linkname ?? '', what);
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        if (type !== 'fifo' && !this.isRoot) return; // as Docker rootless: device nodes need root
        const fmt = type === 'fifo' ? S_IFIFO : type === 'character-device' ? S_IFCHR : S_IFBLK;
        this.clearPath(rel, what);
        this.batch.mknod(rel, fmt | mode, h.devmajor ?? 0, h.devminor ?? 0);
        this.nodeMeta.set(rel, { rel, uid, gid, mode, atime, mtime });
        let nodes = this.nodesIn.get(parentOf(rel));
        if (!nodes) this.nodesIn.set(parentOf(rel), (nodes = new Set()));
        nodes.add(rel);
        break;
      }
    }
    this.xattrs(rel, h);
  }

  /** Queues the entry's xattrs; overlay's own xattrs are never taken from a tar. */
  private xattrs(rel: string, h: TarHeader): void {
    for (const [name, value] of paxXattrs(h.pax)) {
      if (name.startsWith('trusted.overlay.')) continue;
      this.batch.setxattr(rel, name, value);
    }
  }

  /** Removes whatever is at `rel` (and its queued ops), so the helper can create a node there. */
  private clearPath(rel: string, what: string): void {
    this.cancelOps(rel);
    let exists = true;
    try {
      fs.lstatSync(this.abs(rel));
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw this.io(err, what);
      exists = false;
    }
    if (exists) this.removePath(rel, what);
    else this.forget(rel);
  }

  /** Creates a non-directory at `rel` with `make`, removing whatever was there first. */
  private replaceWith(rel: string, what: string, make: () => void): void {
    this.cancelOps(rel);
    try {
      make();
      this.forget(rel);
      return;
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw this.io(err, what);
    }
    this.removePath(rel, what);
    try {
      make();
    } catch (err) {
      throw this.io(err, what);
    }
  }

  private openExclusive(rel: string, abs: string, what: string, perm: number): number {
    this.cancelOps(rel);
    try {
      return fs.openSync(abs, OPEN_FLAGS, perm);
    } catch (err) {
      if (errno(err) !== 'EEXIST' && errno(err) !== 'ELOOP') throw this.io(err, what);
    }
    this.removePath(rel, what);
    try {
      return fs.openSync(abs, OPEN_FLAGS, perm);
    } catch (err) {
      throw this.io(err, what);
    }
  }

  private async hardlink(rel: string, abs: string, linkname: string, what: string): Promise<void> {
    const tcomps = cleanEntryPath(linkname, `${what} -> ${linkname}`);
    if (tcomps.length === 0) throw ERR_LAYER_BAD_LINK(JSON.stringify(what), JSON.stringify(linkname), 'is the layer root');
    const trel = tcomps.join('/');
    if (this.offload && this.mayTouchPending(trel)) await this.offload.drain();
    if (trel === rel) throw ERR_LAYER_BAD_LINK(JSON.stringify(what), JSON.stringify(linkname), 'is the entry itself');
    // The target's parents must be real directories inside the root, like any write path.
    const present = this.parents(tcomps, `${what} -> ${linkname}`, this.opts.lowerDirs !== undefined && this.opts.lowerDirs.length > 0);
    if (this.batch.has(trel)) await this.batch.flush();
    const tabs = this.abs(trel);
    let st: fs.Stats | undefined;
    if (present) {
      try {
        st = fs.lstatSync(tabs);
      } catch (err) {
        if (errno(err) !== 'ENOENT') throw this.io(err, what);
      }
    }
    if (st === undefined && this.opts.detached) throw ERR_LAYER_NEEDS_PARENT(JSON.stringify(what), `hardlink target ${JSON.stringify(linkname)} is not in this layer`);
    if (st === undefined) {
      st = this.copyUp(trel, tabs, what, linkname);
      if (st === undefined) throw ERR_LAYER_BAD_LINK(JSON.stringify(what), JSON.stringify(linkname), 'does not exist in the layer');
    }
    if (st.isDirectory()) throw ERR_LAYER_BAD_LINK(JSON.stringify(what), JSON.stringify(linkname), 'is a directory');
    // link(2) does not follow a symlink target: linking to a symlink links the symlink itself.
    this.replaceWith(rel, what, () => fs.linkSync(tabs, abs));
  }

  /** Overlay: copies a regular file of a lower layer into the target so a hardlink can point at it. */
  private copyUp(trel: string, tabs: string, what: string, linkname: string): fs.Stats | undefined {
    for (const l of this.opts.lowerDirs ?? []) {
      // Never follow symlinks in the lower layer either: check each component.
      const comps = trel.split('/');
      let p = l;
      let ok = true;
      for (let i = 0; i < comps.length; i++) {
        p += '/' + comps[i]!;
        let st: fs.Stats;
        try {
          st = fs.lstatSync(p);
        } catch {
          ok = false;
          break;
        }
        if (i < comps.length - 1 && !st.isDirectory()) { ok = false; break; }
        if (i === comps.length - 1) {
          if (!st.isFile()) throw ERR_LAYER_BAD_LINK(JSON.stringify(what), JSON.stringify(linkname), 'in a lower layer is not a regular file');
          try {
            fs.copyFileSync(p, tabs, fs.constants.COPYFILE_EXCL);
            if (this.ownership) fs.lchownSync(tabs, st.uid, st.gid);
            fs.chmodSync(tabs, st.mode & 0o7777);
            fs.utimesSync(tabs, st.atime, st.mtime);
          } catch (err) {
            throw this.io(err, what);
          }
          return fs.lstatSync(tabs);
        }
      }
      if (!ok) continue;
    }
    return undefined;
  }

  private whiteout(dirComps: string[], dir: string, name: string, what: string): void {
    const rel = dir === '' ? name : `${dir}/${name}`;
    if (this.opts.whiteoutMode === 'overlay') {
      this.parents([...dirComps, name], what, true);
      // Whatever this layer wrote at the path so far is replaced by the whiteout device.
      this.clearPath(rel, what);
      this.batch.mknod(rel, S_IFCHR, 0, 0);
      this.pendingWhiteouts.add(rel);
      return;
    }
    if (!this.parents([...dirComps, name], what, false)) return;
    this.removePath(rel, what);
  }

  private opaqueDir(dirComps: string[], dir: string, what: string): void {
    if (dir !== '') {
      this.parents([...dirComps, '_'], what, true);
      // The opaque directory itself must be a real directory of this layer.
      const abs = this.abs(dir);
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(abs);
      } catch {
        /* created below */
      }
      if (st && st.isSymbolicLink()) throw ERR_LAYER_UNSAFE_PATH(JSON.stringify(what), `opaque directory ${JSON.stringify(dir)} is a symlink`);
    }
    if (this.opts.whiteoutMode === 'overlay') {
      this.batch.setxattr(dir, 'trusted.overlay.opaque', Buffer.from('y'));
    } else {
      this.opaque.push(dir);
    }
  }

  /** Delete mode: removes every child of an opaque dir that this layer did not write. */
  private applyOpaque(dir: string): void {
    const walk = (rel: string) => {
      const abs = this.abs(rel);
      let names: string[];
      try {
        names = fs.readdirSync(abs);
      } catch (err) {
        if (errno(err) === 'ENOENT') return;
        throw this.io(err, rel);
      }
      for (const n of names) {
        const c = rel === '' ? n : `${rel}/${n}`;
        if (!this.written.has(c)) {
          this.forget(c);
          fs.rmSync(this.abs(c), { recursive: true, force: true });
        } else if (this.known.has(c) && fs.lstatSync(this.abs(c)).isDirectory()) {
          walk(c);
        }
      }
    };
    // Later entries may have replaced a parent: re-check the whole path, never follow a link.
    const st = this.stillSafe(dir);
    if (!st || !st.isDirectory()) return;
    walk(dir);
  }

  /**
   * A split apply: whether an entry at `rel` could touch a file pending at the writer — `rel`
   * itself, a file below it (pending files only ever lie below known directories: their parents
   * went through parents(), and a known directory is only removed by an entry at its own path),
   * or a pending file above it (none when the parent is a known directory).
   */
  private mayTouchPending(rel: string): boolean {
    const pending = this.offload!.pending;
    if (pending.size === 0) return false;
    if (pending.has(rel) || this.known.has(rel)) return true;
    const slash = rel.lastIndexOf('/');
    if (slash < 0 || this.known.has(rel.slice(0, slash))) return false;
    for (let i = rel.indexOf('/'); i > 0; i = rel.indexOf('/', i + 1)) if (pending.has(rel.slice(0, i))) return true;
    return false;
  }

  /** A split apply: waits for the writer (every file written, or its error), then lets it go. */
  async closeOffload(): Promise<void> {
    if (!this.offload) return;
    try {
      await this.offload.drain();
    } finally {
      await this.offload.close();
    }
  }

  async finish(): Promise<void> {
    await this.closeOffload();
    await this.batch.flush();
    for (const d of this.opaque) this.applyOpaque(d);
    try {
      for (const m of this.nodeMeta.values()) {
        // Defence in depth: the node must still be a special file behind real directories
        // (chmod/utimes follow symlinks; a replaced path must never redirect them).
        const st = this.stillSafe(m.rel);
        if (!st || !(st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO())) continue;
        const abs = this.abs(m.rel);
        if (this.ownership) fs.lchownSync(abs, m.uid, m.gid);
        fs.chmodSync(abs, m.mode);
        fs.utimesSync(abs, m.atime, m.mtime);
      }
      // Deepest first, so setting a child's times cannot disturb a parent's.
      const dirs = [...this.dirMeta.values()].sort((a, b) => depth(b.rel) - depth(a.rel));
      for (const m of dirs) {
        const st = this.stillSafe(m.rel);
        if (!st || !st.isDirectory()) continue;
        const abs = this.abs(m.rel);
        if (this.ownership) fs.lchownSync(abs, m.uid, m.gid);
        fs.chmodSync(abs, m.mode);
        fs.utimesSync(abs, m.atime, m.mtime);
      }
    } catch (err) {
      throw this.io(err, 'metadata');
    }
    if (this.opts.detached) this.result.implicitDirs = [...this.implicit].filter((d) => !this.dirMeta.has(d)).sort();
  }

  /**
   * After a detached apply, once the lower dirs exist: implicit directories take the owner and
   * mode of the first lower layer that has them as a real directory (what a non-detached apply
   * gives them when it creates them), if they are still real directories behind real directories.
   */
  fixImplicit(dirs: string[]): void {
    try {
      for (const rel of dirs) {
        const st = this.stillSafe(rel);
        if (!st || !st.isDirectory()) continue;
        const lower = this.lowerDir(rel);
        if (!lower) continue;
        const abs = this.abs(rel);
        // Only what differs: most implicit directories already have their lower's 0:0 and 0755
        // (a /usr/share layer has ~1,100 of them, fixed at the end of the pull).
        const chown = this.ownership && (st.uid !== lower.uid || st.gid !== lower.gid);
        if (chown) fs.lchownSync(abs, lower.uid, lower.gid);
        // lchown may clear setgid on a directory: set the mode after it, and whenever it ran.
        if (chown || (st.mode & 0o7777) !== (lower.mode & 0o7777)) fs.chmodSync(abs, lower.mode & 0o7777);
      }
    } catch (err) {
      throw this.io(err, 'implicit directories');
    }
  }

  /** lstat of `rel` when every parent is still a real directory (else undefined). */
  private stillSafe(rel: string): fs.Stats | undefined {
    if (rel !== '') {
      try {
        if (!this.parents(rel.split('/'), rel, false)) return undefined;
      } catch {
        return undefined;
      }
    }
    try {
      return fs.lstatSync(this.abs(rel));
    } catch {
      return undefined;
    }
  }
}

function depth(rel: string): number {
  if (rel === '') return 0;
  let n = 1;
  for (let i = 0; i < rel.length; i++) if (rel.charCodeAt(i) === 47) n++;
  return n;
}

/**
 * The second half of a detached apply (ApplyOptions.detached): gives the `implicitDirs` it
 * reported the owner and mode of `lowerDirs` (the parent layers' dirs, nearest first, now
 * committed). Reads only real directories of the lower dirs, writes only inside `targetDir`.
 */
export function fixImplicitDirs(targetDir: string, implicitDirs: string[], lowerDirs: string[]): void {
  if (implicitDirs.length === 0 || lowerDirs.length === 0) return;
  const root = fs.realpathSync(targetDir);
  if (root === '/') throw ERR_FSOPS_FAILED('refusing to change /');
  const ap = new Applier(root, { whiteoutMode: 'overlay', lowerDirs });
  for (const d of implicitDirs) cleanEntryPath(d);
  ap.fixImplicit(implicitDirs);
}

/**
 * Applies one uncompressed layer tar to `targetDir` (which must exist). See the file comment.
 * Resolves with the number of entries and file bytes written.
 */
export async function applyLayer(tar: NodeJS.ReadableStream, targetDir: string, opts: ApplyOptions): Promise<ApplyResult> {
  patchPaxDecoder();
  const root = fs.realpathSync(targetDir);
  if (!fs.statSync(root).isDirectory()) throw ERR_FSOPS_FAILED(`${targetDir} is not a directory`);
  // A layer dir is never the host's root: refuse a caller bug before it can hurt.
  if (root === '/') throw ERR_FSOPS_FAILED('refusing to apply a layer onto /');
  if (opts.detached && (opts.whiteoutMode !== 'overlay' || (opts.lowerDirs?.length ?? 0) > 0)) throw ERR_FSOPS_FAILED('a detached apply is overlay-only and reads no lower dirs');
  const ap = new Applier(root, opts);
  const reader = new TarReader(ap);
  // The tar goes through the reader chunk by chunk; a chunk is done (and the next one may come)
  // once every entry in it is applied, or once start() is done waiting (the file writer, the
  // native helper).
  const sink = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, cb) {
      let wait: void | Promise<void>;
      try {
        wait = reader.write(chunk);
      } catch (err) {
        return cb(err as Error);
      }
      // Done with the chunk and every view of it (data() copies or writes what it keeps): a
      // lent chunk goes back to its decoder (core/lent.ts, codecs.ts decodeHashApply `lend`).
      if (wait) {
        wait.then(() => {
          giveBack(chunk);
          cb();
        }, cb);
      } else {
        giveBack(chunk);
        cb();
      }
    },
    final(cb) {
      try {
        reader.end();
      } catch (err) {
        return cb(err as Error);
      }
      cb();
    },
  });
  let srcErr: unknown;
  const src = tar as NodeJS.ReadableStream & { destroy?: (e?: Error) => void };
  const onSrcError = (e: unknown) => {
    srcErr ??= e;
    sink.destroy(e as Error);
  };
  // A source destroyed without an error (no 'end', no 'error') would leave the reader waiting
  // for bytes that never come: treat a close before the end as a truncated layer.
  let ended = false;
  const onEnd = () => {
    ended = true;
  };
  const onClose = () => {
    if (!ended && srcErr === undefined) onSrcError(ERR_LAYER_CORRUPT('the layer stream closed before its end'));
  };
  src.on('error', onSrcError);
  src.on('end', onEnd);
  src.on('close', onClose);
  const done = new Promise<void>((resolve, reject) => {
    sink.on('finish', resolve);
    sink.on('error', reject);
  });
  src.pipe(sink);
  try {
    await done;
    if (srcErr !== undefined) throw srcErr;
    await ap.finish();
    return ap.result;
  } catch (err) {
    src.unpipe(sink);
    sink.destroy();
    ap.abandonEntry();
    // The writer thread must be done before the caller removes the half-written target.
    await ap.closeOffload().catch(() => undefined);
    // A failing source (network, digest check upstream) explains everything after it.
    if (srcErr !== undefined) throw srcErr;
    // Destroyed without an error: the caller learns the reason from our rejection, and no
    // 'error' event fires on a stream nobody may be listening to any more.
    src.destroy?.();
    if (err instanceof BerthError) throw err;
    // tar-reader.ts reports a corrupt tar as ERR_LAYER_CORRUPT itself: what is left is I/O
    throw ERR_FSOPS_FAILED.with({ cause: err }, (err as Error).message);
  } finally {
    src.removeListener('error', onSrcError);
    src.removeListener('end', onEnd);
    src.removeListener('close', onClose);
  }
}
