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
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Mount, SnapshotKind } from '../../../core/contracts/storage';
import { SnapshotDriver, type SnapRecord } from '../common/snapshots';

export class OverlayDriver extends SnapshotDriver {
  readonly name = 'overlay';
  readonly whiteoutMode = 'overlay' as const;

  protected async populate(dir: string, kind: SnapshotKind): Promise<void> {
    await fsp.mkdir(path.join(dir, 'fs'), { mode: 0o755 });
    if (kind === 'active') await fsp.mkdir(path.join(dir, 'work'), { mode: 0o700 });
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
