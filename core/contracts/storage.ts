/**
 * Contract: storage drivers (`berth.storage.v1`), after containerd's Snapshotter.
 *
 * Vocabulary
 * - *snapshot*: a filesystem state. It is either *committed* (read-only, identified by a *name*,
 *   for image layers: the layer's chain id) or *active* (writable, identified by a *key*, for a
 *   layer being applied or a container's rootfs).
 * - *parent*: the committed snapshot a new snapshot starts from; the empty string for a base.
 * - *mounts*: how to see a snapshot as a directory tree — a list of mount specs (`overlay`
 *   with lowerdir/upperdir/workdir, or `bind`) that the isolation backend or a helper process
 *   performs. The driver itself never mounts inside the Node process.
 * - *apply*: writing a layer's tar entries into an active snapshot's upper directory safely
 *   (whiteouts translated to the driver's representation; nothing written outside the root).
 *
 * Lifecycle — importing a layer:
 *   const dir = await d.prepare('extract-<random>', parentChainId);   // active, writable dir
 *   …tar entries applied into dir (see core/images/apply.ts) …
 *   await d.commit(chainId, 'extract-<random>');                       // now committed, read-only
 * Running a container:
 *   await d.prepare(containerId, imageTopChainId);
 *   const m = await d.mounts(containerId);  // handed to the isolation backend
 *   … container runs, exits …
 *   await d.remove(containerId);
 *
 * Removing a committed snapshot that still has children is a failedPrecondition error.
 * Every operation is crash-safe: a half-prepared or half-committed snapshot is found by
 * `walk`/`cleanup` and removed; it is never mistaken for a committed one.
 */
import { defineError } from '../errors';

export const ERR_SNAPSHOT_NOT_FOUND = defineError('ERR_SNAPSHOT_NOT_FOUND', 'notFound', 'snapshot %s does not exist');
export const ERR_SNAPSHOT_EXISTS = defineError('ERR_SNAPSHOT_EXISTS', 'alreadyExists', 'snapshot %s already exists');
export const ERR_SNAPSHOT_IN_USE = defineError('ERR_SNAPSHOT_IN_USE', 'failedPrecondition', 'snapshot %s has children');
export const ERR_SNAPSHOT_NOT_ACTIVE = defineError('ERR_SNAPSHOT_NOT_ACTIVE', 'failedPrecondition', 'snapshot %s is not active');

export type SnapshotKind = 'active' | 'view' | 'committed';

export interface SnapshotInfo {
  /** Key (active/view) or name (committed). */
  name: string;
  parent: string;
  kind: SnapshotKind;
  created: number;
  labels: Record<string, string>;
}

export interface Mount {
  type: string;       // 'overlay', 'bind', …
  source: string;
  target?: string;
  options: string[];
}

export interface Usage { size: number; inodes: number }

export interface StorageDriver {
  /** The id users name (`overlay`, `vfs`). */
  readonly name: string;
  stat(key: string): Promise<SnapshotInfo>;
  /** Creates an active snapshot on `parent` and returns the directory to write into. */
  prepare(key: string, parent: string, labels?: Record<string, string>): Promise<string>;
  /** A read-only active snapshot of `parent` (for `berth cp`/`export` of an image). */
  view(key: string, parent: string): Promise<string>;
  /** Turns an active snapshot into a committed one named `name`. */
  commit(name: string, key: string, labels?: Record<string, string>): Promise<void>;
  remove(key: string): Promise<void>;
  /** How to mount the snapshot as a complete tree. */
  mounts(key: string): Promise<Mount[]>;
  usage(key: string): Promise<Usage>;
  walk(fn: (info: SnapshotInfo) => void | Promise<void>): Promise<void>;
  /** The directory apply writes into for an active snapshot (its upper dir). */
  writableDir(key: string): Promise<string>;
  /** How this driver represents a deletion of `path` (relative) during apply. */
  readonly whiteoutMode: 'overlay' | 'delete';
}

/** Optional: the driver can clean up half-done snapshots after a crash. */
export interface Cleaner { cleanup(): Promise<number> }
export function isCleaner(d: unknown): d is Cleaner {
  return typeof (d as Cleaner | undefined)?.cleanup === 'function';
}
