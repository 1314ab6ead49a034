/**
 * The vfs storage driver: every snapshot is a complete, plain copy of its parent. Works on any
 * filesystem, needs no kernel feature; costs disk space and copy time.
 *
 * Layout (see plugins/storage/common/snapshots.ts for the index and crash safety):
 *   <dataDir>/snapshots/<id>/fs     the whole tree of the snapshot
 * A new active snapshot copies its parent with `cp -a --reflink=auto` in a child process
 * (owners, modes, times, xattrs, hardlinks, devices, sparse files preserved; reflinks on
 * filesystems that offer them). Deletions during apply are real deletions.
 *
 * Mounts: a bind of `fs` (read-write while active, read-only when committed); a view binds its
 * parent's tree read-only (no copy is made).
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Mount, SnapshotKind } from '../../../core/contracts/storage';
import { SnapshotDriver, run, type SnapRecord } from '../common/snapshots';

export class VfsDriver extends SnapshotDriver {
  readonly name = 'vfs';
  readonly whiteoutMode = 'delete' as const;

  protected async populate(dir: string, kind: SnapshotKind, parent: { name: string; rec: SnapRecord } | undefined): Promise<void> {
    const fsDir = path.join(dir, 'fs');
    if (parent === undefined || kind === 'view') {
      await fsp.mkdir(fsDir, { mode: 0o755 });
      return;
    }
    // setpriv --pdeathsig: if berth is killed mid-copy, cp dies with it instead of writing on
    // into a temp dir that cleanup() is about to remove.
    await run('setpriv', ['--pdeathsig', 'SIGKILL', '--', 'cp', '-a', '--reflink=auto', '--', this.layerDirOf(parent.rec), fsDir]);
  }

  protected lowerDirsOf(): string[] {
    return [];
  }

  protected mountsOf(rec: SnapRecord, chain: SnapRecord[]): Mount[] {
    if (rec.kind === 'view') return [{ type: 'bind', source: this.layerDirOf(chain[1]!), options: ['rbind', 'ro'] }];
    return [{ type: 'bind', source: this.layerDirOf(rec), options: ['rbind', rec.kind === 'active' ? 'rw' : 'ro'] }];
  }
}
