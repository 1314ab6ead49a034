/**
 * The overlay storage driver: one overlayfs layer per snapshot, committed layers shared by every
 * image (and container) built on them.
 *
 * Layout (see plugins/storage/common/snapshots.ts for the index and crash safety):
 *   <dataDir>/snapshots/<id>/fs     the layer's own files (the upper dir while active)
 *   <dataDir>/snapshots/<id>/work   overlayfs' work dir (active snapshots)
 * Whiteouts are kept as overlayfs expects them: a 0/0 character device for a deletion, the
 * xattr `trusted.overlay.opaque=y` on an opaque directory (written by core/images/apply.ts).
 *
 * Mounts
 * - active, no parent: a read-write bind of `fs`;
 * - active with parents: `overlay` lowerdir=<parent fs>:<grandparent fs>…, upperdir=fs, workdir=work;
 * - committed: its own layer plus ancestors, read-only (a bind when it is a single layer);
 * - view: the parent's chain read-only (a bind when the parent is a single layer).
 * Paths are absolute; core/images/mount.ts shortens them when the option string would exceed
 * the kernel's page limit (deep images, e.g. 128 layers).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ERR_SNAPSHOT_ATTACHED, ERR_SNAPSHOT_NOT_ACTIVE, ERR_SNAPSHOT_NOT_FOUND, ERR_SNAPSHOT_PARENT_NOT_COMMITTED, checkSnapshotKey,
  type DetachedApplier, type DetachedApplyResult, type Mount, type SnapshotKind,
} from '../../../core/contracts/storage';
import { SnapshotDriver, type SnapIndex, type SnapRecord } from '../common/snapshots';

export class OverlayDriver extends SnapshotDriver implements DetachedApplier {
  readonly name = 'overlay';
  readonly whiteoutMode = 'overlay' as const;

  protected async populate(dir: string, kind: SnapshotKind): Promise<void> {
    // two mkdirs: synchronous (a thread-pool round trip each cost more than the call)
    fs.mkdirSync(path.join(dir, 'fs'), { mode: 0o755 });
    if (kind === 'active') fs.mkdirSync(path.join(dir, 'work'), { mode: 0o700 });
  }

  /**
   * DetachedApplier: a layer dir holds only the layer's own changes, so a layer can be applied
   * (on a worker thread) before its parent exists; attach() then gives its implicit directories
   * their lower layers' owner and mode and records the parent.
   */
  async applyDetached(key: string, blob: NodeJS.ReadableStream, compression: 'gzip' | 'zstd' | 'none'): Promise<DetachedApplyResult> {
    checkSnapshotKey(key);
    const rec = await this.record(key);
    if (rec.kind !== 'active') throw ERR_SNAPSHOT_NOT_ACTIVE(key);
    if (rec.parent !== '') throw ERR_SNAPSHOT_ATTACHED(key, rec.parent);
    const { unpackThreaded } = require('../../../core/images/apply-thread') as typeof import('../../../core/images/apply-thread');
    // The caller must check the diff id (DetachedApplier's contract): gzip's CRC-32 is skipped.
    const r = await unpackThreaded(blob, compression, this.layerDirOf(rec), { whiteoutMode: 'overlay', detached: true }, { unchecked: true });
    return { ...r.result, diffId: r.diffId, size: r.size };
  }

  /** DetachedApplier.prewarm: starts the apply worker pool (idle, unref'd) ahead of the first layer. */
  prewarm(): void {
    try {
      const { prewarmApplyPool } = require('../../../core/images/apply-thread') as typeof import('../../../core/images/apply-thread');
      prewarmApplyPool();
    } catch {
      /* a hint only: the first applyDetached starts its worker as before */
    }
  }

  async attach(key: string, parent: string, implicitDirs: string[]): Promise<void> {
    checkSnapshotKey(key);
    checkSnapshotKey(parent);
    const check = (idx: SnapIndex) => {
      const rec = Object.prototype.hasOwnProperty.call(idx.snaps, key) ? idx.snaps[key] : undefined;
      if (!rec) throw ERR_SNAPSHOT_NOT_FOUND(key);
      if (rec.kind !== 'active') throw ERR_SNAPSHOT_NOT_ACTIVE(key);
      if (rec.parent !== '') throw ERR_SNAPSHOT_ATTACHED(key, rec.parent);
      const p = Object.prototype.hasOwnProperty.call(idx.snaps, parent) ? idx.snaps[parent] : undefined;
      if (!p) throw ERR_SNAPSHOT_NOT_FOUND(parent);
      if (p.kind !== 'committed') throw ERR_SNAPSHOT_PARENT_NOT_COMMITTED(parent, p.kind);
      return rec;
    };
    const idx = await this.index();
    const rec = check(idx);
    // Committed layers never change: their dirs can be read outside the lock.
    const lowers = this.chainOf(idx, parent).map((r) => this.layerDirOf(r));
    const { fixImplicitDirs } = require('../../../core/images/apply') as typeof import('../../../core/images/apply');
    fixImplicitDirs(this.layerDirOf(rec), implicitDirs, lowers);
    // Not fsynced: the layer is still an active extract snapshot, committed (durably, with this
    // change in the same index file) right after; a crash that undoes the parent leaves a stale
    // extract snapshot, which the next pull or prune removes. One fsync less per layer on the
    // pull's tail.
    await this.mutate((cur) => {
      check(cur).parent = parent;
    }, { durable: false });
  }

  protected lowerDirsOf(chain: SnapRecord[]): string[] {
    return chain.slice(1).map((r) => this.layerDirOf(r));
  }

  protected mountsOf(rec: SnapRecord, chain: SnapRecord[]): Mount[] {
    const own = this.layerDirOf(rec);
    const ancestors = chain.slice(1).map((r) => this.layerDirOf(r));
    if (rec.kind === 'active') {
      if (ancestors.length === 0) return [{ type: 'bind', source: own, options: ['rbind', 'rw'] }];
      return [{
        type: 'overlay',
        source: 'overlay',
        options: [`lowerdir=${ancestors.join(':')}`, `upperdir=${own}`, `workdir=${path.join(this.dirOf(rec), 'work')}`],
      }];
    }
    const layers = rec.kind === 'committed' ? [own, ...ancestors] : ancestors;
    if (layers.length === 1) return [{ type: 'bind', source: layers[0]!, options: ['rbind', 'ro'] }];
    return [{ type: 'overlay', source: 'overlay', options: ['ro', `lowerdir=${layers.join(':')}`] }];
  }
}
