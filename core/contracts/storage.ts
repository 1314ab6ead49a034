/**
 * Contract: storage drivers (`berth.storage.v1`), after containerd's Snapshotter.
 *
 * Vocabulary
 * - *snapshot*: a filesystem state. It is either *committed* (read-only, identified by a *name*,
 *   for image layers: the layer's chain id) or *active* (writable, identified by a *key*, for a
 *   layer being applied or a container's rootfs), or a *view* (a read-only active snapshot used
 *   to look at a committed one, e.g. `berth cp` from an image). Keys and names share one
 *   namespace inside a driver: a string names at most one snapshot.
 * - *parent*: the committed snapshot a new snapshot starts from; the empty string for a base.
 *   Only committed snapshots can be parents. A snapshot with children cannot be removed.
 * - *layer dir* (`writableDir`): the directory that holds a snapshot's *own* content — for
 *   overlay the upper dir (only what this layer changed, deletions as whiteouts), for vfs a full
 *   copy of the parent plus the changes.
 * - *mounts*: how to see a snapshot as a complete directory tree — a list of mount specs
 *   (`overlay` with lowerdir/upperdir/workdir, or `bind`) that the isolation backend or a helper
 *   process performs (`core/images/mount.ts`: `mountAll`, `unmountAll`, `withMounted`). The
 *   driver itself never mounts inside the Node process. Paths in a Mount are absolute; the
 *   helper shortens them when the option string would exceed the kernel's page limit.
 * - *apply*: writing a layer's tar entries into an active snapshot's layer dir safely
 *   (whiteouts translated to the driver's representation — `whiteoutMode` — and nothing ever
 *   written outside the layer dir; see `core/images/apply.ts`).
 * - *half-made snapshot*: a directory left by a process that died inside prepare/commit/remove.
 *   It lives under a temp name, is never listed by `walk`/`stat`, and `cleanup()` removes it.
 *
 * Lifecycle — importing a layer:
 *   const key = `extract-${random}`;
 *   await d.prepare(key, parentChainId);                 // active, writable layer dir
 *   await d.apply(key, tarStream);                       // or applyLayer(tar, await d.writableDir(key), …)
 *   await d.commit(chainId, key);                        // committed under the chain id; key is gone
 *   // on any failure: await d.remove(key)
 * Running a container:
 *   await d.prepare(containerId, imageTopChainId);
 *   const m = await d.mounts(containerId);               // handed to the isolation backend / mountAll
 *   … container runs, exits …
 *   await d.remove(containerId);
 * Removing an image: remove its chain ids from the top down; a committed snapshot that still has
 * children (another image's layers, a container) fails with ERR_SNAPSHOT_IN_USE.
 *
 * Every operation is crash-safe: the snapshot index is one record replaced atomically under a
 * lock, and directories are built under temp names and renamed into place before the index
 * names them, so a crash leaves either the old state or the new one plus, at worst, a
 * half-made directory that `cleanup` removes. Concurrent berth processes on one root serialise
 * on the driver's index lock; slow work (copies) happens outside it.
 */
import { defineError } from '../errors';

export const ERR_SNAPSHOT_NOT_FOUND = defineError('ERR_SNAPSHOT_NOT_FOUND', 'notFound', 'snapshot %s does not exist');
export const ERR_SNAPSHOT_EXISTS = defineError('ERR_SNAPSHOT_EXISTS', 'alreadyExists', 'snapshot %s already exists');
export const ERR_SNAPSHOT_IN_USE = defineError('ERR_SNAPSHOT_IN_USE', 'failedPrecondition', 'snapshot %s has children');
export const ERR_SNAPSHOT_NOT_ACTIVE = defineError('ERR_SNAPSHOT_NOT_ACTIVE', 'failedPrecondition', 'snapshot %s is not active');
export const ERR_SNAPSHOT_INVALID_KEY = defineError('ERR_SNAPSHOT_INVALID_KEY', 'invalidArgument', 'invalid snapshot key %s: want a non-empty string without NUL, at most 1024 characters');
export const ERR_SNAPSHOT_PARENT_NOT_COMMITTED = defineError('ERR_SNAPSHOT_PARENT_NOT_COMMITTED', 'failedPrecondition', 'snapshot %s cannot be a parent: it is %s, not committed');
export const ERR_SNAPSHOT_ATTACHED = defineError('ERR_SNAPSHOT_ATTACHED', 'failedPrecondition', 'snapshot %s already has parent %s');
export const ERR_SNAPSHOT_IO = defineError('ERR_SNAPSHOT_IO_FAILED', 'internal', 'snapshot %s: %s failed: %s');

export type SnapshotKind = 'active' | 'view' | 'committed';

export interface SnapshotInfo {
  /** Key (active/view) or name (committed). */
  name: string;
  /** The committed parent's name, or '' for a base snapshot. */
  parent: string;
  kind: SnapshotKind;
  /** Milliseconds since the epoch. */
  created: number;
  labels: Record<string, string>;
}

/** One mount to perform, in order. `source` and paths in `options` are absolute. */
export interface Mount {
  type: string;       // 'overlay', 'bind', …
  source: string;
  target?: string;
  /** mount(8) `-o` options: `ro`, `rbind`, `lowerdir=…`, `upperdir=…`, `workdir=…`. */
  options: string[];
}

/** Disk use of a snapshot's own layer dir, du-style: allocated bytes, hardlinks counted once. */
export interface Usage { size: number; inodes: number }

/** What a layer apply did (see core/images/apply.ts). */
export interface ApplyResult {
  /** Tar entries processed (whiteouts included, PAX/GNU meta headers not). */
  entries: number;
  /** Bytes of regular-file content written. */
  bytes: number;
  /**
   * Detached applies only: directories the layer created without an entry of their own, whose
   * owner and mode come from the parent's layers once they exist (`DetachedApplier.attach`).
   */
  implicitDirs?: string[];
}

export interface StorageDriver {
  /** The id users name (`overlay`, `vfs`). */
  readonly name: string;
  /** How this driver represents a deletion during apply: overlay whiteouts or real deletions. */
  readonly whiteoutMode: 'overlay' | 'delete';
  /** Must throw ERR_SNAPSHOT_NOT_FOUND for an unknown or half-made snapshot. */
  stat(key: string): Promise<SnapshotInfo>;
  /**
   * Creates an active snapshot on `parent` ('' for none) and returns its layer dir.
   * Must throw ERR_SNAPSHOT_EXISTS when `key` names any snapshot, ERR_SNAPSHOT_NOT_FOUND when the
   * parent does not exist, ERR_SNAPSHOT_PARENT_NOT_COMMITTED when it is not committed.
   */
  prepare(key: string, parent: string, labels?: Record<string, string>): Promise<string>;
  /**
   * A read-only snapshot of committed `parent` (a child of it: the parent cannot be removed while
   * the view exists). Returns its own, empty layer dir; read the tree through `mounts()`, which
   * are read-only.
   */
  view(key: string, parent: string, labels?: Record<string, string>): Promise<string>;
  /**
   * Turns active snapshot `key` into committed `name` (same content, no copy); `key` no longer
   * exists afterwards. ERR_SNAPSHOT_NOT_ACTIVE for a view or committed key, ERR_SNAPSHOT_EXISTS
   * when `name` is taken.
   */
  commit(name: string, key: string, labels?: Record<string, string>): Promise<void>;
  /** Removes a snapshot of any kind. ERR_SNAPSHOT_IN_USE while it has children. */
  remove(key: string): Promise<void>;
  /** How to mount the snapshot as a complete tree (rw for active, ro otherwise). */
  mounts(key: string): Promise<Mount[]>;
  /** Size of the snapshot's own layer dir (not its parents'). */
  usage(key: string): Promise<Usage>;
  /** Calls `fn` for every complete snapshot, sorted by name. Never lists half-made ones. */
  walk(fn: (info: SnapshotInfo) => void | Promise<void>): Promise<void>;
  /** The layer dir apply writes into (active snapshots only: ERR_SNAPSHOT_NOT_ACTIVE otherwise). */
  writableDir(key: string): Promise<string>;
  /**
   * Applies an uncompressed layer tar into active snapshot `key`, with this driver's whiteout
   * mode and lower dirs. Rejects with the ERR_LAYER_* codes of core/images/apply.ts; the caller
   * then removes the snapshot. Destroys `tar` on failure.
   */
  apply(key: string, tar: NodeJS.ReadableStream): Promise<ApplyResult>;
  /**
   * Optional: `apply` gives every chunk it reads from `tar` back (core/lent.ts `giveBack`) once
   * it will not read it, or any view of it, again — as core/images/apply.ts applyLayer does.
   * The pull may then hand it chunks that are views into memory its decoder reuses (lent
   * chunks) instead of fresh buffers. A driver that sets it and keeps a chunk without giving it
   * back stalls the pull; the conformance suite checks it.
   */
  readonly givesBackChunks?: boolean;
}

/**
 * Optional: layers can be applied before their parent exists, so a pull applies all its layers
 * at once (overlay: a layer dir holds only the layer's own changes; vfs, a full copy of the parent,
 * cannot). Lifecycle of one layer:
 *   await d.prepare(key, '');                              // no parent yet
 *   const r = await d.applyDetached(key, blob, 'gzip');    // reads nothing outside key's layer dir
 *   // r.diffId: check it against the image config before going on
 *   … the parent (chainId of the layer below) is committed …
 *   await d.attach(key, parentChainId, r.implicitDirs ?? []);  // now key's parent is parentChainId
 *   await d.commit(chainId, key);
 * The result is the same as prepare(key, parent) + apply(key, tar) except for ctimes. The diff
 * id is the integrity check of the decompressed bytes (a driver may skip gzip's own CRC-32 on this
 * path, as overlay does): a caller must compare it with the digest the image names. Like
 * containerd's diff Applier, applyDetached takes the layer *blob* (compressed as `compression`)
 * and returns the sha256 of the uncompressed tar with it, so the whole layer can be processed
 * off the main thread.
 * applyDetached rejects with ERR_LAYER_NEEDS_PARENT (failedPrecondition) when the layer needs its
 * parent's content (a hardlink to a file of a lower layer): remove the snapshot and apply the
 * layer the ordinary way once the parent is committed. It may run the apply off the main thread.
 * applyDetached and attach: ERR_SNAPSHOT_NOT_ACTIVE unless `key` is active; ERR_SNAPSHOT_ATTACHED
 * (failedPrecondition) when `key` already has a parent; attach: ERR_SNAPSHOT_NOT_FOUND / ERR_SNAPSHOT_PARENT_NOT_COMMITTED for
 * the parent. A crash between the steps leaves an active snapshot, removed like any other.
 */
export interface DetachedApplyResult extends ApplyResult {
  /** `sha256:<hex>` of the uncompressed tar (every byte, trailing ones after its end included). */
  diffId: string;
  /** Length of the uncompressed tar. */
  size: number;
}
export interface DetachedApplier {
  applyDetached(key: string, blob: NodeJS.ReadableStream, compression: 'gzip' | 'zstd' | 'none'): Promise<DetachedApplyResult>;
  /**
   * Optional hint: detached applies are likely to follow soon (a pull calls it before it asks the
   * registry for the manifest, unless the reference is already in the store). A driver that
   * applies on worker threads may start them now, so their start-up overlaps the registry round
   * trips. Must be cheap, must not throw, must not keep the process alive.
   */
  prewarm?(): void;
  attach(key: string, parent: string, implicitDirs: string[]): Promise<void>;
}
export function isDetachedApplier(d: unknown): d is DetachedApplier {
  return typeof (d as DetachedApplier | undefined)?.applyDetached === 'function' && typeof (d as DetachedApplier | undefined)?.attach === 'function';
}

/** Optional: the driver can clean up half-done snapshots after a crash. Returns how many. */
export interface Cleaner { cleanup(): Promise<number> }
export function isCleaner(d: unknown): d is Cleaner {
  return typeof (d as Cleaner | undefined)?.cleanup === 'function';
}

/** Checks a key or name; throws ERR_SNAPSHOT_INVALID_KEY. */
export function checkSnapshotKey(key: unknown): string {
  if (typeof key !== 'string' || key === '' || key.length > 1024 || key.includes('\0')) throw ERR_SNAPSHOT_INVALID_KEY(JSON.stringify(key));
  return key;
}
