/**
 * The snapshot bookkeeping both stock storage drivers share: an index of snapshots, their
 * directories, crash-safe prepare/commit/remove, cleanup, walk and du-style usage. A driver
 * (overlay, vfs) supplies only how a new layer dir is populated, how it is mounted, and which
 * lower dirs apply may read.
 *
 * Vocabulary
 * - *index*: one msgpackr record (`<dataDir>/meta/snapshots/index.rec`, via MetadataStore):
 *   `{ nextId, snaps: { [key or name]: { id, kind, parent, created, labels } } }`. It is the
 *   only truth about which snapshots exist; it is replaced atomically under its record lock, so
 *   every mutation (including the directory rename that goes with it) is serialised across
 *   processes.
 * - *snapshot dir*: `<dataDir>/snapshots/<id>/` with `fs/` (the layer dir) and, for overlay,
 *   `work/`. Ids are small integers, never reused, which keeps overlay's lowerdir option short.
 * - *temp dir*: `<dataDir>/snapshots/.tmp-<pid>-<id>` (being prepared) or `.rm-<id>` (being
 *   removed). Never listed; `cleanup()` removes those whose process is gone.
 *
 * Lifecycle of prepare (the only slow operation: vfs copies the parent):
 *   1. under the index lock: check key free and parent committed, reserve an id;
 *   2. unlocked: build `.tmp-<pid>-<id>` (mkdir / copy);
 *   3. under the index lock: check again, rename the temp dir to `<id>`, add the record.
 * A crash between 1 and 3 leaves only a temp dir (or an unnamed `<id>`), both removed by
 * cleanup. remove() drops the record under the lock, then renames `<id>` to `.rm-<id>` and deletes
 * the tree unlocked — or, for an active (writable) snapshot, renames it into `<dataDir>/trash/`,
 * which a detached `rm -rf` empties after the command (cleanup() empties what it never reached).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { CheckIssue, MetadataStore } from '../../../core/store/metadata';
import { emptyTrash, trash } from '../../../core/store/trash';
import {
  ERR_SNAPSHOT_EXISTS,
  ERR_SNAPSHOT_IN_USE,
  ERR_SNAPSHOT_IO,
  ERR_SNAPSHOT_NOT_ACTIVE,
  ERR_SNAPSHOT_NOT_FOUND,
  ERR_SNAPSHOT_PARENT_NOT_COMMITTED,
  checkSnapshotKey,
  type ApplyResult,
  type Cleaner,
  type Mount,
  type SnapshotInfo,
  type SnapshotKind,
  type StorageDriver,
  type Usage,
} from '../../../core/contracts/storage';

export interface SnapRecord {
  id: number;
  kind: SnapshotKind;
  parent: string;
  created: number;
  labels: Record<string, string>;
}

export interface SnapIndex {
  nextId: number;
  snaps: Record<string, SnapRecord>;
}

const BUCKET = 'snapshots';
const KEY = 'index';
const TMP_RE = /^\.tmp-(\d+)-(\d+)$/;

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs a command in a child process; rejects with its stderr. */
export function run(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const err: Buffer[] = [];
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${file} ${args.join(' ')}: ${Buffer.concat(err).toString().trim() || `exit ${code}`}`))));
  });
}

/** du-style usage of a tree: allocated bytes (st_blocks × 512) and inodes, hardlinks once. */
export async function diskUsage(dir: string): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0;
  let inodes = 0;
  const visit = async (p: string): Promise<void> => {
    let st: fs.BigIntStats;
    try {
      st = await fsp.lstat(p, { bigint: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const id = `${st.dev}:${st.ino}`;
    if (!seen.has(id)) {
      seen.add(id);
      inodes++;
      size += Number(st.blocks) * 512;
    }
    if (st.isDirectory()) {
      const names = await fsp.readdir(p);
      for (const n of names) await visit(path.join(p, n));
    }
  };
  await visit(dir);
  return { size, inodes };
}

/**
 * Base of the overlay and vfs drivers. See the file comment for the layout and lifecycle.
 */
export abstract class SnapshotDriver implements StorageDriver, Cleaner {
  abstract readonly name: string;
  abstract readonly whiteoutMode: 'overlay' | 'delete';
  private _meta: MetadataStore | undefined;
  readonly snapDir: string;
  /** Where removed writable layers wait for their background remover (core/store/trash.ts). */
  readonly trashDir: string;

  /** The index store, loaded on first use (msgpackr is not free to load; plugin init must be cheap). */
  protected get meta(): MetadataStore {
    if (!this._meta) {
      const { MetadataStore: Store } = require('../../../core/store/metadata') as typeof import('../../../core/store/metadata');
      this._meta = new Store(path.join(this.dataDir, 'meta'));
    }
    return this._meta;
  }

  constructor(readonly dataDir: string) {
    this.snapDir = path.join(dataDir, 'snapshots');
    this.trashDir = path.join(dataDir, 'trash');
    fs.mkdirSync(this.snapDir, { recursive: true });
  }

  /** Fills a new snapshot's temp dir (`fs/`, `work/` …); `parent` is the committed parent, if any. */
  protected abstract populate(dir: string, kind: SnapshotKind, parent: { name: string; rec: SnapRecord } | undefined): Promise<void>;
  /** The mounts of a snapshot, given its chain (the snapshot itself first, then its ancestors). */
  protected abstract mountsOf(rec: SnapRecord, chain: SnapRecord[]): Mount[];
  /** The lower dirs apply may read for an active snapshot (nearest first). */
  protected abstract lowerDirsOf(chain: SnapRecord[]): string[];

  private spread: Promise<void> | undefined;

  /**
   * Once per root: marks `snapshots/` as a top of directory hierarchies for ext4's Orlov
   * allocator (`chattr +T`, EXT4_TOPDIR_FL), so every new snapshot dir (a unique name) starts
   * in a lightly used block group of its own instead of the group of its siblings. Why: on an
   * ext4 without a journal (this project's VMs) every inode allocation skips the group's free
   * inodes that were deleted in the last 60 s (`recently_deleted()`), scanning them one by one,
   * so creating a layer's files in the group a removed image just freed costs ~0.5 ms per file
   * (record 020: 7.7k files, 5–13 s instead of 0.4 s). With the flag, layer dirs land in other
   * groups. Elsewhere it is harmless (the flag only guides placement) or unsupported (ignored).
   * The marker `<dataDir>/topdir` records that it was tried.
   */
  protected spreadLayerDirs(): Promise<void> {
    return (this.spread ??= (async () => {
      const marker = path.join(this.dataDir, 'topdir');
      if (fs.existsSync(marker)) return;
      const ok = await run('chattr', ['+T', this.snapDir]).then(() => true, () => false);
      await fsp.writeFile(marker, ok ? 'chattr +T snapshots: done\n' : 'chattr +T snapshots: unsupported here\n').catch(() => undefined);
    })());
  }

  dirOf(rec: SnapRecord): string {
    return path.join(this.snapDir, String(rec.id));
  }

  layerDirOf(rec: SnapRecord): string {
    return path.join(this.snapDir, String(rec.id), 'fs');
  }

  protected async index(): Promise<SnapIndex> {
    return (await this.meta.get<SnapIndex>(BUCKET, KEY)) ?? { nextId: 1, snaps: {} };
  }

  /**
   * Locked read-modify-write of the index; `fn` may throw to abort without writing. `durable:
   * false` (only for changes a crash may undo harmlessly) skips the fsyncs.
   */
  protected async mutate<T>(fn: (idx: SnapIndex) => Promise<T> | T, opts: { durable?: boolean } = {}): Promise<T> {
    let out: T | undefined;
    await this.meta.update<SnapIndex>(BUCKET, KEY, async (cur) => {
      const idx = cur ?? { nextId: 1, snaps: {} };
      out = await fn(idx);
      return idx;
    }, opts);
    return out as T;
  }

  protected async record(key: string): Promise<SnapRecord> {
    checkSnapshotKey(key);
    const idx = await this.index();
    const rec = Object.prototype.hasOwnProperty.call(idx.snaps, key) ? idx.snaps[key] : undefined;
    if (!rec) throw ERR_SNAPSHOT_NOT_FOUND(key);
    return rec;
  }

  /** The record and its ancestors, the record first. */
  protected chainOf(idx: SnapIndex, key: string): SnapRecord[] {
    const out: SnapRecord[] = [];
    let cur: string = key;
    for (let guard = 0; cur !== '' && guard < 10000; guard++) {
      const r = idx.snaps[cur];
      if (!r) throw ERR_SNAPSHOT_NOT_FOUND(cur);
      out.push(r);
      cur = r.parent;
    }
    return out;
  }

  private info(name: string, r: SnapRecord): SnapshotInfo {
    return { name, parent: r.parent, kind: r.kind, created: r.created, labels: { ...r.labels } };
  }

  async stat(key: string): Promise<SnapshotInfo> {
    return this.info(key, await this.record(key));
  }

  prepare(key: string, parent: string, labels: Record<string, string> = {}): Promise<string> {
    return this.create(key, parent, 'active', labels);
  }

  view(key: string, parent: string, labels: Record<string, string> = {}): Promise<string> {
    return this.create(key, parent, 'view', labels);
  }

  private async create(key: string, parent: string, kind: SnapshotKind, labels: Record<string, string>): Promise<string> {
    checkSnapshotKey(key);
    if (parent !== '') checkSnapshotKey(parent);
    if (kind === 'view' && parent === '') throw ERR_SNAPSHOT_NOT_FOUND('(empty parent of a view)');
    const check = (idx: SnapIndex) => {
      if (Object.prototype.hasOwnProperty.call(idx.snaps, key)) throw ERR_SNAPSHOT_EXISTS(key);
      if (parent === '') return undefined;
      const p = Object.prototype.hasOwnProperty.call(idx.snaps, parent) ? idx.snaps[parent] : undefined;
      if (!p) throw ERR_SNAPSHOT_NOT_FOUND(parent);
      if (p.kind !== 'committed') throw ERR_SNAPSHOT_PARENT_NOT_COMMITTED(parent, p.kind);
      return p;
    };
    // The id reservation needs the lock (two processes never get the same id) but not the disk:
    // a crash may undo it, and the id is then handed out again — harmless, as nothing names it
    // yet and a dir left under it is an orphan removed below. Not fsynced (two fsyncs less on
    // every prepare, i.e. every `run`).
    const { id, prec } = await this.mutate((idx) => {
      const p = check(idx);
      const n = idx.nextId++;
      return { id: n, prec: p };
    }, { durable: false });
    const tmp = path.join(this.snapDir, `.tmp-${process.pid}-${id}`);
    const final = path.join(this.snapDir, String(id));
    try {
      await this.spreadLayerDirs();
      fs.mkdirSync(tmp, { mode: 0o700 });
      await this.populate(tmp, kind, prec ? { name: parent, rec: prec } : undefined);
      await this.mutate(async (idx) => {
        check(idx);
        fs.rmSync(final, { recursive: true, force: true }); // an orphan of a crashed run
        fs.renameSync(tmp, final);
        idx.snaps[key] = { id, kind, parent, created: Date.now(), labels: { ...labels } };
      });
    } catch (err) {
      await fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      if ((err as { code?: string }).code?.startsWith('ERR_')) throw err;
      throw ERR_SNAPSHOT_IO.with({ cause: err }, key, 'prepare', (err as Error).message);
    }
    return path.join(final, 'fs');
  }

  async commit(name: string, key: string, labels: Record<string, string> = {}): Promise<void> {
    checkSnapshotKey(name);
    checkSnapshotKey(key);
    await this.mutate((idx) => {
      const rec = Object.prototype.hasOwnProperty.call(idx.snaps, key) ? idx.snaps[key] : undefined;
      if (!rec) throw ERR_SNAPSHOT_NOT_FOUND(key);
      if (rec.kind !== 'active') throw ERR_SNAPSHOT_NOT_ACTIVE(key);
      if (Object.prototype.hasOwnProperty.call(idx.snaps, name)) throw ERR_SNAPSHOT_EXISTS(name);
      delete idx.snaps[key];
      idx.snaps[name] = { id: rec.id, kind: 'committed', parent: rec.parent, created: Date.now(), labels: { ...rec.labels, ...labels } };
    });
  }

  async remove(key: string): Promise<void> {
    checkSnapshotKey(key);
    // 1. The index forgets the snapshot (atomically); from then on nobody can reach its id.
    // 2. Its dir is renamed out of the way and deleted. A crash between 1 and 2 leaves an id dir
    //    the index does not name, which cleanup() removes; never a listed snapshot without a dir.
    const rec = await this.mutate((idx) => {
      const r = Object.prototype.hasOwnProperty.call(idx.snaps, key) ? idx.snaps[key] : undefined;
      if (!r) throw ERR_SNAPSHOT_NOT_FOUND(key);
      for (const o of Object.values(idx.snaps)) if (o.parent === key) throw ERR_SNAPSHOT_IN_USE(key);
      delete idx.snaps[key];
      return r;
    });
    // A container's writable layer goes to this driver's trash: one rename, and a detached
    // `rm -rf` frees it after the command (on an ext4 with online discard every freed block is
    // discarded synchronously: 5-15 ms of `run --rm`'s critical path; core/store/trash.ts).
    if (rec.kind === 'active') {
      trash(this.trashDir, this.dirOf(rec));
      return;
    }
    const gone = path.join(this.snapDir, `.rm-${process.pid}-${rec.id}`);
    try {
      await fsp.rename(this.dirOf(rec), gone);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw ERR_SNAPSHOT_IO.with({ cause: err }, key, 'remove', (err as Error).message);
    }
    // Committed layers can be large: async, so a long removal never blocks the event loop.
    await fsp.rm(gone, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
  }

  async mounts(key: string): Promise<Mount[]> {
    checkSnapshotKey(key);
    const idx = await this.index();
    const chain = this.chainOf(idx, key);
    return this.mountsOf(chain[0]!, chain);
  }

  async usage(key: string): Promise<Usage> {
    const rec = await this.record(key);
    return diskUsage(this.layerDirOf(rec));
  }

  async walk(fn: (info: SnapshotInfo) => void | Promise<void>): Promise<void> {
    const idx = await this.index();
    for (const k of Object.keys(idx.snaps).sort()) await fn(this.info(k, idx.snaps[k]!));
  }

  async writableDir(key: string): Promise<string> {
    const rec = await this.record(key);
    if (rec.kind !== 'active') throw ERR_SNAPSHOT_NOT_ACTIVE(key);
    return this.layerDirOf(rec);
  }

  /** apply() is core's applyLayer, which gives every chunk back (lent chunks, core/lent.ts). */
  readonly givesBackChunks = true;

  async apply(key: string, tar: NodeJS.ReadableStream): Promise<ApplyResult> {
    checkSnapshotKey(key);
    const idx = await this.index();
    const chain = this.chainOf(idx, key);
    const rec = chain[0]!;
    if (rec.kind !== 'active') throw ERR_SNAPSHOT_NOT_ACTIVE(key);
    const { applyLayer } = require('../../../core/images/apply') as typeof import('../../../core/images/apply');
    const lowerDirs = this.lowerDirsOf(chain);
    return applyLayer(tar, this.layerDirOf(rec), { whiteoutMode: this.whiteoutMode, ...(lowerDirs.length ? { lowerDirs } : {}) });
  }

  /**
   * Read-only consistency check for `berth system check`: every indexed snapshot has its dir
   * and its parent; every dir is indexed (else a leftover of a crash, or a prepare in progress
   * when its pid is alive); the index record itself is intact.
   */
  async check(): Promise<CheckIssue[]> {
    const issues: CheckIssue[] = [...(await this.meta.check())];
    let idx: SnapIndex;
    try {
      idx = await this.index();
    } catch {
      return issues; // the corrupt index is already reported by meta.check()
    }
    const ids = new Set<string>();
    for (const [k, r] of Object.entries(idx.snaps)) {
      ids.add(String(r.id));
      if (!fs.existsSync(this.layerDirOf(r))) issues.push({ kind: 'snapshot-dir-missing', path: this.dirOf(r), message: `snapshot ${k} has no layer dir` });
      if (r.parent !== '' && !Object.prototype.hasOwnProperty.call(idx.snaps, r.parent)) issues.push({ kind: 'snapshot-parent-missing', path: this.dirOf(r), message: `snapshot ${k}: parent ${r.parent} does not exist` });
    }
    let names: string[] = [];
    try {
      names = await fsp.readdir(this.snapDir);
    } catch {
      /* no snapshots yet */
    }
    for (const n of names) {
      const p = path.join(this.snapDir, n);
      const m = TMP_RE.exec(n);
      if (m || n.startsWith('.rm-')) {
        const pid = Number(m ? m[1] : n.split('-')[1]);
        if (!pidAlive(pid)) issues.push({ kind: 'temp-dir', path: p, message: 'leftover of an interrupted snapshot operation (system prune removes it)' });
      } else if (/^\d+$/.test(n)) {
        if (!ids.has(n)) issues.push({ kind: 'orphan-dir', path: p, message: 'snapshot dir no index record names (system prune removes it)' });
      } else {
        issues.push({ kind: 'stray-file', path: p, message: 'not a snapshot dir' });
      }
    }
    return issues;
  }

  /** Removes half-made snapshot dirs whose process is gone and dirs no record names. */
  async cleanup(): Promise<number> {
    // Temp files of index writes killed mid-way (their writer is dead).
    let removed = await this.meta.repair();
    // Removed writable layers whose background remover has not run (or never will: a killed
    // process). Pending deletions, not leftovers of an interrupted operation: not counted.
    emptyTrash(this.trashDir);
    const leftovers = (idx: SnapIndex, names: string[]): string[] => {
      const ids = new Set(Object.values(idx.snaps).map((r) => String(r.id)));
      return names.filter((n) => {
        const m = TMP_RE.exec(n);
        if (m) return !pidAlive(Number(m[1]));
        if (n.startsWith('.rm-')) return !pidAlive(Number(n.split('-')[1]));
        return /^\d+$/.test(n) && !ids.has(n);
      });
    };
    // Every pull starts with this: look first, without the index lock, and take the lock (and
    // rewrite the index, fsync included) only when something is to be removed.
    if (leftovers(await this.index(), await fsp.readdir(this.snapDir)).length === 0) return removed;
    await this.mutate(async (idx) => {
      // Again under the lock: the index may have changed since.
      for (const n of leftovers(idx, await fsp.readdir(this.snapDir))) {
        // Retries: a helper the dead process started (cp) may still be finishing.
        await fsp.rm(path.join(this.snapDir, n), { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
        removed++;
      }
    });
    return removed;
  }
}
