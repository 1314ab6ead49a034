/**
 * The metadata store: small typed records (containers, images, networks, volumes …) kept one file
 * per record, written crash-safely and guarded by cross-process locks.
 *
 * Vocabulary
 * - *bucket*: a namespace of records, one directory `<dir>/<bucket>/` (`containers`, `images` …).
 * - *key*: a record's name inside its bucket; the record lives in `<dir>/<bucket>/<key>.rec`.
 *   Buckets and keys match `[A-Za-z0-9][A-Za-z0-9_.:@-]{0,254}` and never contain `..`; keys are
 *   further capped at 251 characters so that `<key>.rec` fits the 255-byte NAME_MAX of Linux
 *   filesystems. Anything else is ERR_STORE_INVALID_KEY (invalidArgument), so a key can never
 *   escape its bucket nor fail later with ENAMETOOLONG.
 * - *record file*: a 16-byte header followed by the msgpackr payload:
 *     0  4  magic "BRTH"
 *     4  1  format version (1)
 *     5  3  reserved, zero
 *     8  4  payload length, uint32 big-endian
 *     12 4  CRC-32 (IEEE) of the payload, uint32 big-endian
 *   A file whose magic, version, length or CRC does not match is *corrupt*: `get`/`list` throw
 *   ERR_STORE_CORRUPT_RECORD (internal) and never return garbage; `check()` reports it.
 * - *temp file*: `.<key>.rec.tmp-<pid>-<random>` left by a writer that died before its rename
 *   (see `atomic.ts`). Ignored by `get`/`list`/`keys`, reported by `check()`, removed by `repair()`.
 * - *record lock*: the lock named by the record's path (see `lock.ts`); `put`, `delete` and
 *   `update` hold it, so concurrent read-modify-writes from many processes serialise and none is
 *   lost. Readers take no lock: the atomic rename means they see the old or the new record whole.
 * - *bucket lock*: a separate lock per bucket, for callers that must make a decision over several
 *   records (for example reserving a unique container name). It does not exclude record writers
 *   that do not take it; callers that need that exclusion take it everywhere they write.
 *
 * Lifecycle
 *   const meta = new MetadataStore(`${root}/meta`);      // nothing touched until the first write
 *   await meta.put('containers', id, record);            // mkdir -p bucket, atomic write, fsync dir
 *   await meta.update<number>('counters', 'n', (n) => (n ?? 0) + 1);
 *   await meta.get('containers', id);                    // undefined when absent
 *   await meta.list('containers');                       // [{key, value}], sorted by key
 *   await meta.delete('containers', id);                 // true when it existed
 *   await meta.check(); await meta.repair();             // `berth system check` / after a crash
 *
 * Encoding: msgpackr with `useRecords: false`, so each file is self-describing and readable without
 * shared structure state; Dates, Maps, Sets, Buffers and bigints round-trip. Records should stay
 * small (they are read whole); bulk data goes to the content store.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { Packr } from 'msgpackr';
import { defineError } from '../errors';
import { fsyncDir, isTempFileName, tempFileOwnerGone, writeFileAtomic } from './atomic';
import { withLock, type LockOptions } from './lock';

export const ERR_STORE_INVALID_KEY = defineError('ERR_STORE_INVALID_KEY', 'invalidArgument', 'invalid %s %s: want [A-Za-z0-9][A-Za-z0-9_.:@-]* without "..", at most 251 (key) or 255 (bucket) characters');
export const ERR_STORE_CORRUPT_RECORD = defineError('ERR_STORE_CORRUPT_RECORD', 'internal', 'corrupt record %s: %s');
export const ERR_STORE_ENCODE = defineError('ERR_STORE_ENCODE_FAILED', 'invalidArgument', 'cannot encode record %s: %s');
export const ERR_STORE_IO = defineError('ERR_STORE_IO_FAILED', 'internal', '%s %s: %s');

/** One problem found by a store's `check()`. */
export interface CheckIssue {
  /** Machine-readable kind: `temp-file`, `corrupt-record`, `stray-file`, `blob-digest-mismatch` … */
  kind: string;
  /** The file or directory concerned. */
  path: string;
  message: string;
}

export const RECORD_MAGIC = Buffer.from('BRTH', 'ascii');
export const RECORD_VERSION = 1;
export const RECORD_HEADER_SIZE = 16;
const REC_EXT = '.rec';
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,254}$/;
/** `<key>.rec` must fit NAME_MAX (255 bytes), so keys stop at 251 characters; buckets at 255. */
export const MAX_KEY_LENGTH = 251;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, as zlib/PNG); `crc32(Buffer.from('123456789')) === 0xcbf43926`. */
export function crc32(buf: Uint8Array, seed = 0): number {
  let c = (seed ^ 0xffffffff) >>> 0;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** True when `name` is a valid bucket or key. */
export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && NAME_RE.test(name) && !name.includes('..');
}

function checkName(what: 'bucket' | 'key', name: unknown): string {
  if (!isValidName(name) || (what === 'key' && name.length > MAX_KEY_LENGTH)) throw ERR_STORE_INVALID_KEY(what, JSON.stringify(name));
  return name;
}

// useBigIntExtension: bigints beyond 64 bits round-trip instead of failing to encode.
const packr = new Packr({ useRecords: false, useBigIntExtension: true });

/** Encodes a value as a complete record file (header + payload). */
export function encodeRecord(value: unknown): Buffer {
  const payload = packr.pack(value);
  const out = Buffer.allocUnsafe(RECORD_HEADER_SIZE + payload.length);
  RECORD_MAGIC.copy(out, 0);
  out.writeUInt8(RECORD_VERSION, 4);
  out.fill(0, 5, 8);
  out.writeUInt32BE(payload.length, 8);
  out.writeUInt32BE(crc32(payload), 12);
  payload.copy(out, RECORD_HEADER_SIZE);
  return out;
}

/** Decodes a record file; throws ERR_STORE_CORRUPT_RECORD naming `where` on any mismatch. */
export function decodeRecord<T>(buf: Buffer, where: string): T {
  const bad = (why: string) => ERR_STORE_CORRUPT_RECORD(where, why);
  if (buf.length < RECORD_HEADER_SIZE) throw bad(`file is ${buf.length} bytes, shorter than the header`);
  if (!buf.subarray(0, 4).equals(RECORD_MAGIC)) throw bad('bad magic');
  const version = buf.readUInt8(4);
  if (version !== RECORD_VERSION) throw bad(`unsupported format version ${version}`);
  const len = buf.readUInt32BE(8);
  if (buf.length !== RECORD_HEADER_SIZE + len) throw bad(`payload is ${buf.length - RECORD_HEADER_SIZE} bytes, header says ${len}`);
  const payload = buf.subarray(RECORD_HEADER_SIZE);
  if (crc32(payload) !== buf.readUInt32BE(12)) throw bad('CRC mismatch');
  try {
    return packr.unpack(payload) as T;
  } catch (err) {
    throw ERR_STORE_CORRUPT_RECORD.with({ cause: err }, where, `undecodable payload: ${(err as Error).message}`);
  }
}

const isENOENT = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';

/**
 * A directory of msgpackr records, one file per record, crash-safe and multi-process safe.
 *
 * Vocabulary (details in the file comment): a *bucket* is a directory, a *key* names one record
 * file `<bucket>/<key>.rec` inside it, a *record lock* serialises writers of one record across
 * every process on the host, a *bucket lock* is an independent lock for multi-record decisions,
 * a *temp file* is the leftover of a write interrupted before its rename.
 *
 * Lifecycle
 * - Construction touches nothing on disk; the store directory and bucket directories are created
 *   (and their parents fsynced) by the first write into them. Many `MetadataStore` objects, in one
 *   or many processes, may share a directory: all coordination is through locks named by paths.
 * - Reads (`get`, `keys`, `list`) take no lock and see every record either as before or as after
 *   any concurrent write, never half of it.
 * - Writes (`put`, `delete`, `update`) take the record lock, write a temp file, fsync, rename and
 *   fsync the directory; when the promise resolves the change survives a power cut.
 * - After a crash: `check()` reports temp files (and anything corrupt or foreign), `repair()`
 *   removes temp files whose writer is dead. Nothing else needs recovery: a record is whole or
 *   absent, because the rename is the commit point.
 * - A corrupt record (disk damage, manual edit) makes `get`/`list`/`update` on it throw
 *   ERR_STORE_CORRUPT_RECORD until it is overwritten with `put` or removed with `delete`.
 */
export interface WriteOptions {
  /** Default true: the change survives a power cut once the promise resolves. */
  durable?: boolean;
}

export class MetadataStore {
  readonly dir: string;
  private readonly lockOpts: LockOptions;

  /** `dir` is created lazily; `lockTimeoutMs` bounds every wait for a record or bucket lock. */
  constructor(dir: string, opts: { lockTimeoutMs?: number } = {}) {
    this.dir = path.resolve(dir);
    this.lockOpts = opts.lockTimeoutMs === undefined ? {} : { timeoutMs: opts.lockTimeoutMs };
  }

  private bucketDir(bucket: string): string {
    return path.join(this.dir, checkName('bucket', bucket));
  }

  private recordPath(bucket: string, key: string): string {
    return path.join(this.bucketDir(bucket), checkName('key', key) + REC_EXT);
  }

  private async ensureBucket(bucket: string): Promise<string> {
    const bdir = this.bucketDir(bucket);
    if (fs.existsSync(bdir)) return bdir;
    const first = fs.mkdirSync(bdir, { recursive: true });
    if (first !== undefined) {
      // Make every newly created directory entry durable, from the bucket up to the first new one.
      let d = bdir;
      for (;;) {
        const parent = path.dirname(d);
        await fsyncDir(parent);
        if (d === first || parent === d) break;
        d = parent;
      }
    }
    return bdir;
  }

  private async readAt<T>(file: string): Promise<T | undefined> {
    // Records are small: one synchronous read (microseconds) instead of four thread-pool round
    // trips (open, fstat, read, close), which cost the short-lived CLI more than they save.
    let buf: Buffer;
    try {
      buf = fs.readFileSync(file);
    } catch (err) {
      if (isENOENT(err)) return undefined;
      throw ERR_STORE_IO.with({ cause: err }, 'read', file, (err as Error).message);
    }
    return decodeRecord<T>(buf, file);
  }

  private async writeAt(bucket: string, key: string, file: string, value: unknown, durable = true): Promise<void> {
    if (value === undefined) throw ERR_STORE_ENCODE(`${bucket}/${key}`, 'undefined is not a record value (use delete)');
    let buf: Buffer;
    try {
      buf = encodeRecord(value);
    } catch (err) {
      throw ERR_STORE_ENCODE.with({ cause: err }, `${bucket}/${key}`, (err as Error).message);
    }
    await this.ensureBucket(bucket);
    await writeFileAtomic(file, buf, 0o600, durable);
  }

  private async removeAt(file: string, durable = true): Promise<boolean> {
    try {
      fs.unlinkSync(file);
    } catch (err) {
      if (isENOENT(err)) return false;
      throw ERR_STORE_IO.with({ cause: err }, 'unlink', file, (err as Error).message);
    }
    if (durable) await fsyncDir(path.dirname(file));
    return true;
  }

  /** The record, or undefined when absent. Throws ERR_STORE_CORRUPT_RECORD for a damaged file. */
  async get<T>(bucket: string, key: string): Promise<T | undefined> {
    return this.readAt<T>(this.recordPath(bucket, key));
  }

  /**
   * Replaces the record atomically under its record lock. `durable: false` skips the fsyncs
   * (every reader still sees the old or the new record, never a mix; a power cut may undo the
   * change): for records meant to live no longer than one command, such as a `run --rm` container.
   */
  async put<T>(bucket: string, key: string, value: T, opts: WriteOptions = {}): Promise<void> {
    const file = this.recordPath(bucket, key);
    await withLock(file, () => this.writeAt(bucket, key, file, value, opts.durable !== false), this.lockOpts);
  }

  /** Removes the record; true when it existed. `durable` as for `put`. */
  async delete(bucket: string, key: string, opts: WriteOptions = {}): Promise<boolean> {
    const file = this.recordPath(bucket, key);
    return withLock(file, () => this.removeAt(file, opts.durable !== false), this.lockOpts);
  }

  /**
   * Locked read-modify-write: `fn` gets the current value (undefined when absent) and returns the
   * new one; returning undefined deletes the record. Returns what `fn` returned. If `fn` throws,
   * nothing is written. A corrupt current record throws before `fn` runs (repair it first).
   * `durable` as for `put`.
   */
  async update<T>(bucket: string, key: string, fn: (cur: T | undefined) => T | undefined | Promise<T | undefined>, opts: WriteOptions = {}): Promise<T | undefined> {
    const file = this.recordPath(bucket, key);
    const durable = opts.durable !== false;
    return withLock(
      file,
      async () => {
        const cur = await this.readAt<T>(file);
        const next = await fn(cur);
        if (next === undefined) {
          if (cur !== undefined) await this.removeAt(file, durable);
        } else {
          await this.writeAt(bucket, key, file, next, durable);
        }
        return next;
      },
      this.lockOpts,
    );
  }

  /** Keys of the bucket, sorted; temp files and foreign files are skipped. */
  async keys(bucket: string): Promise<string[]> {
    let names: string[];
    try {
      names = await fsp.readdir(this.bucketDir(bucket));
    } catch (err) {
      if (isENOENT(err)) return [];
      throw ERR_STORE_IO.with({ cause: err }, 'readdir', this.bucketDir(bucket), (err as Error).message);
    }
    const keys: string[] = [];
    for (const n of names) {
      if (!n.endsWith(REC_EXT) || isTempFileName(n)) continue;
      const k = n.slice(0, -REC_EXT.length);
      if (isValidName(k)) keys.push(k);
    }
    return keys.sort();
  }

  /**
   * Every record of the bucket, sorted by key. A record deleted while listing is skipped; a corrupt
   * one throws ERR_STORE_CORRUPT_RECORD (use `check()` to find it).
   */
  async list<T>(bucket: string): Promise<Array<{ key: string; value: T }>> {
    const out: Array<{ key: string; value: T }> = [];
    for (const key of await this.keys(bucket)) {
      const value = await this.get<T>(bucket, key);
      if (value !== undefined) out.push({ key, value });
    }
    return out;
  }

  /** Runs `fn` holding the bucket lock (distinct from every record lock). */
  async withBucketLock<T>(bucket: string, fn: () => Promise<T>): Promise<T> {
    return withLock(this.bucketDir(bucket) + '/#bucket', fn, this.lockOpts);
  }

  /**
   * Reads every record and lists what is wrong: `corrupt-record` (unreadable or damaged file),
   * `temp-file` (leftover of an interrupted write), `stray-file` (anything else that is not a
   * record, including badly named bucket directories). Never modifies the store.
   */
  async check(): Promise<CheckIssue[]> {
    const issues: CheckIssue[] = [];
    let buckets: fs.Dirent[];
    try {
      buckets = await fsp.readdir(this.dir, { withFileTypes: true });
    } catch (err) {
      if (isENOENT(err)) return [];
      throw err;
    }
    for (const b of buckets.sort((x, y) => (x.name < y.name ? -1 : 1))) {
      const bpath = path.join(this.dir, b.name);
      if (!b.isDirectory() || !isValidName(b.name)) {
        issues.push({ kind: isTempFileName(b.name) ? 'temp-file' : 'stray-file', path: bpath, message: 'not a bucket directory' });
        continue;
      }
      let entries: fs.Dirent[];
      try {
        entries = await fsp.readdir(bpath, { withFileTypes: true });
      } catch (err) {
        issues.push({ kind: 'unreadable-bucket', path: bpath, message: (err as Error).message });
        continue;
      }
      for (const e of entries.sort((x, y) => (x.name < y.name ? -1 : 1))) {
        const p = path.join(bpath, e.name);
        if (isTempFileName(e.name)) {
          const gone = tempFileOwnerGone(e.name);
          issues.push({ kind: 'temp-file', path: p, message: gone ? 'leftover of an interrupted write' : 'temp file of a write that may still be in progress' });
          continue;
        }
        const key = e.name.endsWith(REC_EXT) ? e.name.slice(0, -REC_EXT.length) : '';
        if (!e.isFile() || !isValidName(key)) {
          issues.push({ kind: 'stray-file', path: p, message: 'not a record file' });
          continue;
        }
        try {
          await this.readAt(p);
        } catch (err) {
          issues.push({ kind: 'corrupt-record', path: p, message: (err as Error).message });
        }
      }
    }
    return issues;
  }

  /**
   * Removes temp files whose writer is gone (dead pid); a temp file of a live process is left
   * alone, since removing it would fail that write. Corrupt records are not touched: they need a
   * decision (restore, delete) that only the owner of the bucket can make. Returns the count.
   */
  async repair(): Promise<number> {
    let removed = 0;
    const dirs = [this.dir];
    try {
      for (const b of await fsp.readdir(this.dir, { withFileTypes: true })) if (b.isDirectory()) dirs.push(path.join(this.dir, b.name));
    } catch (err) {
      if (isENOENT(err)) return 0;
      throw err;
    }
    // Only directory listings: repair never needs to decode a record.
    for (const d of dirs) {
      let names: string[];
      try {
        names = await fsp.readdir(d);
      } catch (err) {
        if (isENOENT(err)) continue;
        throw err;
      }
      let here = 0;
      for (const n of names) {
        if (!isTempFileName(n) || !tempFileOwnerGone(n)) continue;
        try {
          await fsp.unlink(path.join(d, n));
          here++;
        } catch (err) {
          if (!isENOENT(err)) throw err;
        }
      }
      if (here > 0) await fsyncDir(d);
      removed += here;
    }
    return removed;
  }
}
