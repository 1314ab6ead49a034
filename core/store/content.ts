/**
 * The content store: immutable blobs addressed by their sha256 digest (layers, manifests, image
 * configs), with verified, resumable ingestion.
 *
 * Vocabulary
 * - *digest*: `sha256:<64 lowercase hex>`; anything else is ERR_CONTENT_INVALID_DIGEST
 *   (invalidArgument). A blob's digest is the sha256 of its bytes, always: `check()` re-hashes.
 * - *blob*: a committed, verified, read-only file `<dir>/blobs/sha256/<hex>`. A blob exists iff its
 *   file exists; there is no other index to get out of sync.
 * - *ref*: a caller-chosen name for an ingest (for a pull, typically the layer digest or
 *   `<repo>@<digest>`); any non-empty string up to 1024 bytes. Its directory is the sha256 of the
 *   ref, so refs need no escaping.
 * - *ingest*: a blob being written, `<dir>/ingest/<sha256(ref)>/` holding `meta` (JSON: ref,
 *   expected digest/size, start time) and `data` (the bytes so far). Ingests are never visible
 *   through `has`/`info`/`list`/`readBuffer`; `listIngests()` shows them.
 * - *offset*: how many bytes an ingest holds; > 0 when resuming a partial left by a killed writer.
 * - *ingest lock*: the lock named by the ingest directory (`lock.ts`); held from `ingest()` until
 *   `commit()`/`abort()`, so there is one writer per ref at a time, and released by the kernel if
 *   the writer dies, so a later `ingest(ref, {resume: true})` can take over.
 *
 * Lifecycle of an ingest
 *   const w = await cs.ingest(ref, { expected: { digest, size }, resume: true });
 *   //   takes the ingest lock; with resume, re-hashes the existing `data` and starts at w.offset,
 *   //   without it, truncates any partial; writes `meta` first (so the ingest is listable)
 *   await w.write(chunk) ...        // appends + hashes; exceeding an expected size fails at once
 *   await w.commit();               // fsync data; verify size then digest; on success rename
 *   //   data -> blobs/sha256/<hex>, fsync the blobs dir, remove the ingest dir, release the lock.
 *   //   On mismatch: ERR_CONTENT_SIZE_MISMATCH / ERR_CONTENT_DIGEST_MISMATCH (invalidArgument),
 *   //   the partial is deleted, the lock released, and the store is exactly as before.
 *   // or: await w.abort();         // delete the partial, release the lock
 * If the blob already exists at commit, the ingest is dropped and the existing blob reported
 * (committing identical content twice is not an error). After commit/abort/a failed write the
 * ingest is closed: further calls throw ERR_CONTENT_INGEST_CLOSED (failedPrecondition).
 *
 * Crash behaviour: a writer killed mid-ingest leaves `ingest/<h>/` behind and nothing in `blobs/`.
 * The data of a killed (not power-cut) writer is intact, so resume continues from its offset; after
 * a power cut the tail of `data` may be garbage, which the digest check at commit rejects.
 * `cleanupIngests()` removes partials nobody holds.
 *
 * Ingest directories appear and disappear by rename only, so `ingest/<h>/` always holds a readable
 * `meta` whatever moment a writer is killed at:
 * - *creating*: `ingest/.new-<pid>-<12 hex>/` gets `meta` and an empty `data` (fsynced), then is
 *   renamed to `ingest/<h>`;
 * - *removing* (commit, abort, a failed ingest, cleanup): `ingest/<h>` is renamed to
 *   `ingest/.rm-<pid>-<12 hex>` first, then deleted.
 * A `.new-*`/`.rm-*` directory whose pid is gone is a *temp dir*: debris of a killed process that
 * nothing reads; `check()` reports it as `temp-dir` (a leftover, not an inconsistency) and
 * `cleanupIngests()` removes it. One whose pid is alive is an operation in progress and is left
 * alone. Inside an ingest dir, anything but `meta` and `data` (a temp file of an interrupted meta
 * rewrite) is removed by the next writer that takes the ingest lock.
 *
 * Hashing goes through a `Hasher` factory so the WASM sha256 can replace node's crypto.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { defineError } from '../errors';
import { fsyncDir, processGone, writeAll, writeFileAtomic } from './atomic';
import { acquireLock, type LockHandle } from './lock';
import type { CheckIssue } from './metadata';

export const ERR_CONTENT_INVALID_DIGEST = defineError('ERR_CONTENT_INVALID_DIGEST', 'invalidArgument', 'invalid digest %s: want sha256:<64 lowercase hex>');
export const ERR_CONTENT_NOT_FOUND = defineError('ERR_CONTENT_NOT_FOUND', 'notFound', 'content %s: not found');
export const ERR_CONTENT_DIGEST_MISMATCH = defineError('ERR_CONTENT_DIGEST_MISMATCH', 'invalidArgument', 'ingest %s: digest mismatch: expected %s, got %s');
export const ERR_CONTENT_SIZE_MISMATCH = defineError('ERR_CONTENT_SIZE_MISMATCH', 'invalidArgument', 'ingest %s: size mismatch: expected %s bytes, got %s');
export const ERR_CONTENT_INVALID_REF = defineError('ERR_CONTENT_INVALID_REF', 'invalidArgument', 'invalid ingest ref %s: want a non-empty string of at most 1024 bytes');
export const ERR_CONTENT_INVALID_SIZE = defineError('ERR_CONTENT_INVALID_SIZE', 'invalidArgument', 'invalid expected size %s: want a non-negative safe integer');
export const ERR_CONTENT_INGEST_CLOSED = defineError('ERR_CONTENT_INGEST_CLOSED', 'failedPrecondition', 'ingest %s is already %s');

export interface Hasher {
  update(b: Uint8Array): unknown;
  digest(): Buffer;
}

export interface BlobInfo {
  digest: string;
  size: number;
}

export interface Expected {
  digest?: string;
  size?: number;
}

export interface Ingest {
  readonly ref: string;
  /** Bytes held so far; > 0 right after `ingest()` when a partial was resumed. */
  readonly offset: number;
  write(chunk: Uint8Array): Promise<void>;
  commit(expected?: Expected): Promise<BlobInfo>;
  abort(): Promise<void>;
}

export interface IngestStatus {
  ref: string;
  offset: number;
  /** ms since the epoch of the last write (mtime of the partial data). */
  updatedAt: number;
}

interface IngestMeta {
  ref: string;
  expected?: Expected;
  startedAt: number;
}

const DIGEST_RE = /^sha256:([0-9a-f]{64})$/;
const HEX_RE = /^[0-9a-f]{64}$/;
/** An ingest dir being created (`.new-`) or removed (`.rm-`) by process `<pid>`. */
const TEMP_DIR_RE = /^\.(new|rm)-(\d+)-[0-9a-f]{12}$/;

/** True when the process that named a `.new-`/`.rm-` dir is gone (never for our own pid). */
function tempDirOwnerGone(name: string): boolean {
  const m = TEMP_DIR_RE.exec(name);
  return !!m && processGone(Number(m[2]));
}

function tempDirName(kind: 'new' | 'rm'): string {
  return `.${kind}-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/** The hex part of a valid digest; throws ERR_CONTENT_INVALID_DIGEST otherwise. */
export function parseDigest(digest: unknown): string {
  const m = typeof digest === 'string' ? DIGEST_RE.exec(digest) : null;
  if (!m) throw ERR_CONTENT_INVALID_DIGEST(JSON.stringify(digest));
  return m[1]!;
}

export function isValidDigest(digest: unknown): digest is string {
  return typeof digest === 'string' && DIGEST_RE.test(digest);
}

function checkExpected(e: Expected | undefined): Expected {
  const out: Expected = {};
  if (e?.digest !== undefined) {
    parseDigest(e.digest);
    out.digest = e.digest;
  }
  if (e?.size !== undefined) {
    if (!Number.isSafeInteger(e.size) || e.size < 0) throw ERR_CONTENT_INVALID_SIZE(String(e.size));
    out.size = e.size;
  }
  return out;
}

function mergeExpected(a: Expected, b: Expected | undefined): Expected {
  const c = checkExpected(b);
  return { ...a, ...c };
}

const isENOENT = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
const defaultHasher = (): Hasher => createHash('sha256');
const READ_CHUNK = 1 << 20;

/** Feeds a whole file through `h`; returns the number of bytes read. */
async function hashFile(file: string, h: Hasher): Promise<number> {
  const fh = await fsp.open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    let total = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, total);
      if (bytesRead === 0) return total;
      h.update(buf.subarray(0, bytesRead));
      total += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

/**
 * One open ingest; created only by `ContentStore.ingest`.
 *
 * States: `open` → `committed` (blob visible) | `aborted` (partial removed) | `failed` (size or
 * digest mismatch, or an I/O error: partial removed). Leaving `open` always closes the data file
 * and releases the ingest lock; any call afterwards throws ERR_CONTENT_INGEST_CLOSED, except
 * `abort()`, which is a no-op. Calls are serialised, so `write(a); write(b); commit()` issued
 * without awaiting still apply in order.
 */
class IngestWriter implements Ingest {
  private state: 'open' | 'committed' | 'aborted' | 'failed' = 'open';
  private busy: Promise<unknown> = Promise.resolve();

  constructor(
    readonly ref: string,
    private readonly store: ContentStore,
    private readonly ingestDir: string,
    private readonly fh: fsp.FileHandle,
    private readonly hasher: Hasher,
    private readonly lock: LockHandle,
    private readonly expected: Expected,
    private size: number,
  ) {}

  get offset(): number {
    return this.size;
  }

  /** Serialises calls so an un-awaited write followed by commit still lands in order. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.busy.then(fn);
    this.busy = p.catch(() => undefined);
    return p;
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw ERR_CONTENT_INGEST_CLOSED(JSON.stringify(this.ref), this.state);
  }

  /** Deletes the partial and releases the lock; the ingest ends in `state`. */
  private async discard(state: 'aborted' | 'failed'): Promise<void> {
    this.state = state;
    await this.fh.close().catch(() => undefined);
    try {
      await this.store.removeIngestDir(this.ingestDir);
    } finally {
      await this.lock.release();
    }
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.serial(async () => {
      this.assertOpen();
      if (chunk.length === 0) return;
      if (this.expected.size !== undefined && this.size + chunk.length > this.expected.size) {
        const got = this.size + chunk.length;
        await this.discard('failed');
        throw ERR_CONTENT_SIZE_MISMATCH(JSON.stringify(this.ref), this.expected.size, `at least ${got}`);
      }
      try {
        await writeAll(this.fh, chunk);
      } catch (err) {
        await this.discard('failed');
        throw err;
      }
      this.hasher.update(chunk);
      this.size += chunk.length;
    });
  }

  commit(expected?: Expected): Promise<BlobInfo> {
    return this.serial(async () => {
      this.assertOpen();
      let want: Expected;
      try {
        want = mergeExpected(this.expected, expected);
      } catch (err) {
        await this.discard('failed');
        throw err;
      }
      const digest = 'sha256:' + this.hasher.digest().toString('hex');
      const ref = JSON.stringify(this.ref);
      if (want.size !== undefined && want.size !== this.size) {
        await this.discard('failed');
        throw ERR_CONTENT_SIZE_MISMATCH(ref, want.size, this.size);
      }
      if (want.digest !== undefined && want.digest !== digest) {
        await this.discard('failed');
        throw ERR_CONTENT_DIGEST_MISMATCH(ref, want.digest, digest);
      }
      try {
        await this.fh.sync();
        await this.fh.chmod(0o444);
        await this.fh.close();
        await this.store.publish(path.join(this.ingestDir, 'data'), digest);
      } catch (err) {
        await this.discard('failed');
        throw err;
      }
      this.state = 'committed';
      try {
        // Killed before this rename: the blob exists and `ingest/<h>` holds only `meta`, an empty
        // ingest that cleanup removes (and that a later ingest of the ref starts over from).
        await this.store.removeIngestDir(this.ingestDir);
      } finally {
        await this.lock.release();
      }
      return { digest, size: this.size };
    });
  }

  abort(): Promise<void> {
    return this.serial(async () => {
      if (this.state !== 'open') return;
      await this.discard('aborted');
    });
  }
}

/**
 * sha256-addressed blob store with verified, resumable ingests.
 *
 * Vocabulary (details in the file comment): a *blob* is a committed, verified, read-only file
 * `blobs/sha256/<hex>`; a *digest* is `sha256:<hex>`; an *ingest* is a blob being written under a
 * caller-chosen *ref* in `ingest/<sha256(ref)>/`, guarded by the *ingest lock*; the *offset* is
 * how many bytes an ingest holds.
 *
 * Lifecycle
 * - Construction touches nothing on disk. Several stores (and processes) may share a directory.
 * - Writing: `ingest(ref)` → `write()`… → `commit(expected)` or `abort()`; `put(bytes)` is the
 *   one-shot form. The blob becomes visible only by the final rename, after size and digest were
 *   verified and the data fsynced; a mismatch deletes the partial and leaves the store unchanged.
 * - Reading: `has`, `info`, `readBuffer`, `createReadStream`, `path`, `list` see only blobs.
 * - Removing: `delete(digest)`. The store keeps no references; the garbage collector (the image
 *   store) decides what is unreferenced.
 * - Recovery: a killed writer's partial stays resumable (`ingest(ref, {resume: true})`, re-hashing
 *   what is there) until `cleanupIngests()` removes it; `check()` re-hashes every blob and reports
 *   tampered or stray files; there is nothing to repair automatically, since a blob whose bytes do
 *   not match its name can only be deleted and fetched again.
 */
export class ContentStore {
  readonly dir: string;
  private readonly hasher: () => Hasher;
  private readonly blobsDir: string;
  private readonly ingestRoot: string;

  constructor(dir: string, opts: { hasher?: () => Hasher } = {}) {
    this.dir = path.resolve(dir);
    this.hasher = opts.hasher ?? defaultHasher;
    this.blobsDir = path.join(this.dir, 'blobs', 'sha256');
    this.ingestRoot = path.join(this.dir, 'ingest');
  }

  /** The file of a blob (it may not exist). Throws ERR_CONTENT_INVALID_DIGEST. */
  path(digest: string): string {
    return path.join(this.blobsDir, parseDigest(digest));
  }

  private ingestDirOf(ref: string): string {
    if (typeof ref !== 'string' || ref.length === 0 || Buffer.byteLength(ref) > 1024) throw ERR_CONTENT_INVALID_REF(JSON.stringify(ref));
    return path.join(this.ingestRoot, createHash('sha256').update(ref).digest('hex'));
  }

  private async mkdirDurable(dir: string): Promise<void> {
    const first = await fsp.mkdir(dir, { recursive: true });
    if (first === undefined) return;
    let d = dir;
    for (;;) {
      const parent = path.dirname(d);
      await fsyncDir(parent);
      if (d === first || parent === d) return;
      d = parent;
    }
  }

  /**
   * Removes an ingest dir crash-safely: renamed to `.rm-<pid>-<hex>` (so `ingest/<h>` is gone
   * atomically), then deleted. A kill during the delete leaves a temp dir that cleanup removes.
   * No fsync: a power cut that undoes the rename brings back a whole ingest dir (meta, maybe
   * data), which is a valid partial. Internal to ingests; the caller holds the ingest lock.
   */
  async removeIngestDir(idir: string): Promise<void> {
    const doomed = path.join(this.ingestRoot, tempDirName('rm'));
    try {
      await fsp.rename(idir, doomed);
    } catch (err) {
      if (isENOENT(err)) return;
      throw err;
    }
    await fsp.rm(doomed, { recursive: true, force: true });
  }

  /**
   * Creates `idir` with `meta` and an empty `data` through a `.new-*` temp dir and one rename, so
   * the ingest dir never exists without its meta. Returns the open `data` (the rename keeps it
   * valid). The caller holds the ingest lock and has made sure `idir` does not exist.
   */
  private async createIngestDir(idir: string, meta: IngestMeta): Promise<fsp.FileHandle> {
    await this.mkdirDurable(this.ingestRoot);
    const tmp = path.join(this.ingestRoot, tempDirName('new'));
    await fsp.mkdir(tmp, 0o700);
    let fh: fsp.FileHandle | undefined;
    try {
      const mh = await fsp.open(path.join(tmp, 'meta'), 'wx', 0o600);
      try {
        await writeAll(mh, Buffer.from(JSON.stringify(meta)));
        await mh.sync();
      } finally {
        await mh.close();
      }
      fh = await fsp.open(path.join(tmp, 'data'), 'wx', 0o600);
      await fsyncDir(tmp);
      await fsp.rename(tmp, idir);
      await fsyncDir(this.ingestRoot);
      return fh;
    } catch (err) {
      await fh?.close().catch(() => undefined);
      await fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      throw err;
    }
  }

  /** Removes what a writer killed mid meta-rewrite left in an ingest dir (caller holds the lock). */
  private async clearIngestDebris(idir: string): Promise<void> {
    let names: string[];
    try {
      names = await fsp.readdir(idir);
    } catch (err) {
      if (isENOENT(err)) return;
      throw err;
    }
    for (const n of names) if (n !== 'meta' && n !== 'data') await fsp.rm(path.join(idir, n), { recursive: true, force: true });
  }

  /** Moves a verified, fsynced file into place as blob `digest`. Internal to ingests. */
  async publish(file: string, digest: string): Promise<void> {
    const target = this.path(digest);
    await this.mkdirDurable(this.blobsDir);
    if (await this.has(digest)) {
      // Same digest, same bytes: keep the existing blob (readers may hold it open) and drop ours.
      await fsp.unlink(file).catch(() => undefined);
      return;
    }
    await fsp.rename(file, target);
    await fsyncDir(this.blobsDir);
  }

  /**
   * Whether an ingest dir exists for `ref` (a live, interrupted or half-removed ingest), without
   * taking its lock: a cheap check before `ingest()` + `abort()` sweeps a leftover.
   */
  hasIngest(ref: string): boolean {
    return fs.existsSync(this.ingestDirOf(ref));
  }

  async has(digest: string): Promise<boolean> {
    try {
      return (await fsp.stat(this.path(digest))).isFile();
    } catch (err) {
      if (isENOENT(err)) return false;
      throw err;
    }
  }

  /** Size of a blob; ERR_CONTENT_NOT_FOUND (notFound) when absent. */
  async info(digest: string): Promise<BlobInfo> {
    try {
      const st = await fsp.stat(this.path(digest));
      if (!st.isFile()) throw ERR_CONTENT_NOT_FOUND(digest);
      return { digest, size: st.size };
    } catch (err) {
      if (isENOENT(err)) throw ERR_CONTENT_NOT_FOUND.with({ cause: err }, digest);
      throw err;
    }
  }

  async readBuffer(digest: string): Promise<Buffer> {
    try {
      return await fsp.readFile(this.path(digest));
    } catch (err) {
      if (isENOENT(err)) throw ERR_CONTENT_NOT_FOUND.with({ cause: err }, digest);
      throw err;
    }
  }

  /**
   * A stream of the blob's bytes. Throws ERR_CONTENT_NOT_FOUND synchronously when the blob is
   * absent now; the file is opened immediately, so a later delete does not cut the stream short.
   */
  createReadStream(digest: string): NodeJS.ReadableStream {
    const file = this.path(digest);
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (err) {
      if (isENOENT(err)) throw ERR_CONTENT_NOT_FOUND.with({ cause: err }, digest);
      throw err;
    }
    return fs.createReadStream(file, { fd, autoClose: true });
  }

  /**
   * Opens an ingest for `ref` (see the lifecycle in the file comment). Waits up to `timeoutMs`
   * (default 30 s) for another writer of the same ref, then throws ERR_STORE_LOCK_TIMEOUT.
   */
  async ingest(ref: string, opts: { expected?: Expected; resume?: boolean; timeoutMs?: number } = {}): Promise<Ingest> {
    const idir = this.ingestDirOf(ref);
    let expected = checkExpected(opts.expected);
    const lock = await acquireLock(idir, opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs });
    try {
      const dataPath = path.join(idir, 'data');
      const metaPath = path.join(idir, 'meta');
      const hasher = this.hasher();
      let offset = 0;
      let startedAt = Date.now();
      const prior = await this.readMeta(idir);
      if (!prior || prior.ref !== ref) {
        // No ingest dir, or one that is not this ref's ingest (an unreadable meta, left by an
        // older berth): set it aside, then create the dir whole.
        await this.removeIngestDir(idir);
        const meta: IngestMeta = { ref, startedAt, ...(Object.keys(expected).length ? { expected } : {}) };
        const fh = await this.createIngestDir(idir, meta);
        return new IngestWriter(ref, this, idir, fh, hasher, lock, expected, 0);
      }
      await this.clearIngestDebris(idir);
      if (opts.resume) {
        startedAt = prior.startedAt;
        if (opts.expected === undefined && prior.expected) expected = checkExpected(prior.expected);
        try {
          offset = await hashFile(dataPath, hasher);
        } catch (err) {
          if (!isENOENT(err)) throw err;
        }
      }
      // A partial already longer than the blob can be is useless: start over.
      if (expected.size !== undefined && offset > expected.size) offset = 0;
      const meta: IngestMeta = { ref, startedAt, ...(Object.keys(expected).length ? { expected } : {}) };
      await writeFileAtomic(metaPath, JSON.stringify(meta), 0o600);
      const fh = await fsp.open(dataPath, offset > 0 ? 'a' : 'w', 0o600);
      if (offset === 0) await fh.truncate(0);
      await fsyncDir(idir);
      return new IngestWriter(ref, this, idir, fh, offset > 0 ? hasher : this.hasher(), lock, expected, offset);
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  private async readMeta(idir: string): Promise<IngestMeta | undefined> {
    try {
      const m = JSON.parse(await fsp.readFile(path.join(idir, 'meta'), 'utf8')) as IngestMeta;
      return typeof m?.ref === 'string' ? m : undefined;
    } catch {
      return undefined;
    }
  }

  /** Stores `data` as a blob, verified against `expected`; returns its digest and size. */
  async put(data: Uint8Array, expected?: Expected): Promise<BlobInfo> {
    const want = checkExpected(expected);
    if (want.digest !== undefined && (await this.has(want.digest))) {
      // Still verify the caller's bytes: a put must never succeed with the wrong content.
      const h = this.hasher();
      h.update(data);
      const got = 'sha256:' + h.digest().toString('hex');
      if (want.size !== undefined && want.size !== data.length) throw ERR_CONTENT_SIZE_MISMATCH('(put)', want.size, data.length);
      if (got !== want.digest) throw ERR_CONTENT_DIGEST_MISMATCH('(put)', want.digest, got);
      return { digest: got, size: data.length };
    }
    const w = await this.ingest(`put-${process.pid}-${randomBytes(8).toString('hex')}`, { expected: want });
    try {
      await w.write(data);
    } catch (err) {
      await w.abort();
      throw err;
    }
    return w.commit();
  }

  /** Removes a blob; true when it existed. Callers own reference counting (see the GC). */
  async delete(digest: string): Promise<boolean> {
    try {
      await fsp.unlink(this.path(digest));
    } catch (err) {
      if (isENOENT(err)) return false;
      throw err;
    }
    await fsyncDir(this.blobsDir);
    return true;
  }

  /** Every committed blob, sorted by digest. */
  async list(): Promise<BlobInfo[]> {
    let names: string[];
    try {
      names = await fsp.readdir(this.blobsDir);
    } catch (err) {
      if (isENOENT(err)) return [];
      throw err;
    }
    const out: BlobInfo[] = [];
    for (const n of names.sort()) {
      if (!HEX_RE.test(n)) continue;
      try {
        const st = await fsp.stat(path.join(this.blobsDir, n));
        if (st.isFile()) out.push({ digest: 'sha256:' + n, size: st.size });
      } catch (err) {
        if (!isENOENT(err)) throw err;
      }
    }
    return out;
  }

  /** Partial ingests (with readable meta), sorted by ref. */
  async listIngests(): Promise<IngestStatus[]> {
    let names: string[];
    try {
      names = await fsp.readdir(this.ingestRoot);
    } catch (err) {
      if (isENOENT(err)) return [];
      throw err;
    }
    const out: IngestStatus[] = [];
    for (const n of names) {
      if (!HEX_RE.test(n)) continue;
      const idir = path.join(this.ingestRoot, n);
      const meta = await this.readMeta(idir);
      if (!meta) continue;
      let offset = 0;
      let updatedAt = meta.startedAt;
      try {
        const st = await fsp.stat(path.join(idir, 'data'));
        offset = st.size;
        updatedAt = Math.max(updatedAt, st.mtimeMs);
      } catch (err) {
        if (!isENOENT(err)) throw err;
      }
      out.push({ ref: meta.ref, offset, updatedAt: Math.floor(updatedAt) });
    }
    return out.sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
  }

  /**
   * Removes partial ingests not updated for `olderThanMs` (default 0: all of them) and not held by
   * a live writer (their lock is tried, never waited for), and the temp dirs (`.new-*`, `.rm-*`)
   * of dead processes whatever their age. Also removes ingest directories without a readable meta
   * (left by an older berth). Returns how many were removed.
   */
  async cleanupIngests(olderThanMs = 0): Promise<number> {
    let names: string[];
    try {
      names = await fsp.readdir(this.ingestRoot);
    } catch (err) {
      if (isENOENT(err)) return 0;
      throw err;
    }
    const now = Date.now();
    let removed = 0;
    for (const n of names) {
      const idir = path.join(this.ingestRoot, n);
      if (TEMP_DIR_RE.test(n)) {
        // A live owner is still creating or deleting it.
        if (!tempDirOwnerGone(n)) continue;
        await fsp.rm(idir, { recursive: true, force: true });
        removed++;
        continue;
      }
      let lock: LockHandle;
      try {
        lock = await acquireLock(idir, { timeoutMs: 0 });
      } catch {
        continue; // a live writer holds it
      }
      try {
        let updatedAt = 0;
        for (const f of ['', 'meta', 'data']) {
          try {
            updatedAt = Math.max(updatedAt, (await fsp.stat(path.join(idir, f))).mtimeMs);
          } catch {
            /* missing */
          }
        }
        if (now - updatedAt < olderThanMs) continue;
        await this.removeIngestDir(idir);
        removed++;
      } finally {
        await lock.release();
      }
    }
    if (removed > 0) await fsyncDir(this.ingestRoot);
    return removed;
  }

  /**
   * Re-hashes every blob against its name (`blob-digest-mismatch`), and reports `stray-file`s in
   * the blob directory, ingest directories without a readable meta (`stray-ingest`: this version
   * never leaves one, an older one or a damaged disk may) and temp dirs of dead processes
   * (`temp-dir`: leftovers of an ingest created or removed when its process was killed).
   * Read-only; it reads every byte of the store.
   */
  async check(): Promise<CheckIssue[]> {
    const issues: CheckIssue[] = [];
    let names: fs.Dirent[] = [];
    try {
      names = await fsp.readdir(this.blobsDir, { withFileTypes: true });
    } catch (err) {
      if (!isENOENT(err)) throw err;
    }
    for (const e of names.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(this.blobsDir, e.name);
      if (!HEX_RE.test(e.name) || !e.isFile()) {
        issues.push({ kind: 'stray-file', path: p, message: 'not a blob' });
        continue;
      }
      const h = this.hasher();
      try {
        await hashFile(p, h);
      } catch (err) {
        if (isENOENT(err)) continue;
        issues.push({ kind: 'unreadable-blob', path: p, message: (err as Error).message });
        continue;
      }
      const got = h.digest().toString('hex');
      if (got !== e.name) issues.push({ kind: 'blob-digest-mismatch', path: p, message: `content hashes to sha256:${got}` });
    }
    let ingests: fs.Dirent[] = [];
    try {
      ingests = await fsp.readdir(this.ingestRoot, { withFileTypes: true });
    } catch (err) {
      if (!isENOENT(err)) throw err;
    }
    for (const e of ingests) {
      const p = path.join(this.ingestRoot, e.name);
      if (TEMP_DIR_RE.test(e.name)) {
        if (tempDirOwnerGone(e.name)) issues.push({ kind: 'temp-dir', path: p, message: 'leftover of an ingest created or removed by a killed process (cleanup removes it)' });
        continue;
      }
      if (!HEX_RE.test(e.name) || !e.isDirectory() || !(await this.readMeta(p))) {
        issues.push({ kind: 'stray-ingest', path: p, message: 'not a resumable ingest (no readable meta)' });
      }
    }
    return issues;
  }
}
