/**
 * Turning layer blobs into committed snapshots: the one place that decompresses, hashes the tar
 * (its diff id), hands the entries to the storage driver and commits under the chain id.
 *
 * Vocabulary
 * - *extract key*: `extract-<pid>-<random>`, the active snapshot a layer is applied into. The pid
 *   lets a later process tell a crashed extraction (pid gone) from a running one and remove it.
 * - *unpack*: prepare(extract key, parent chain id) → apply(decompressed, hashed tar) → verify the
 *   diff id → commit(chain id). On any failure the extract snapshot is removed: nothing is ever
 *   committed under a chain id without its diff id having been verified.
 */
import { randomBytes } from 'node:crypto';
import type { ApplyResult, DetachedApplier, DetachedApplyResult, StorageDriver } from '../contracts/storage';
import { ERR_SNAPSHOT_EXISTS, ERR_SNAPSHOT_NOT_FOUND } from '../contracts/storage';
import { ERR_CONTENT_DIGEST_MISMATCH } from '../store/content';
import { decodeHashApply } from './codecs';
import { hasCode } from '../errors';
import { ERR_LAYER_CORRUPT } from './tar-safety';
import type { Compression } from './manifest';

export function extractKey(): string {
  return `extract-${process.pid}-${randomBytes(6).toString('hex')}`;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes active `extract-*` snapshots whose process is gone. Returns how many. */
export async function cleanupStaleExtracts(driver: StorageDriver): Promise<number> {
  const stale: string[] = [];
  await driver.walk((info) => {
    const m = /^extract-(\d+)-/.exec(info.name);
    if (m && info.kind !== 'committed' && !pidAlive(Number(m[1]))) stale.push(info.name);
  });
  for (const k of stale) await driver.remove(k).catch(() => undefined);
  const c = driver as unknown as { cleanup?: () => Promise<number> };
  if (typeof c.cleanup === 'function') await c.cleanup().catch(() => 0);
  return stale.length;
}

export async function snapshotExists(driver: StorageDriver, name: string): Promise<boolean> {
  try {
    const s = await driver.stat(name);
    return s.kind === 'committed';
  } catch (e) {
    if (ERR_SNAPSHOT_NOT_FOUND.is(e)) return false;
    throw e;
  }
}

export interface UnpackResult {
  diffId: string;
  size: number;
  /** Tar chunks the decoder lent rather than gave (core/lent.ts; 0 where it did not lend). */
  lentChunks?: number;
}

/**
 * Decompresses `blob`, hashes the tar (its diff id) and hands it to `apply`. Resolves once the
 * whole stream was hashed (trailing bytes after the tar's end included); any stream error rejects.
 */
async function applyHashed(
  blob: NodeJS.ReadableStream,
  compression: Compression,
  apply: (tar: NodeJS.ReadableStream) => Promise<ApplyResult>,
  onBytes?: (n: number) => void,
  sizeHint?: number,
  unchecked = false,
  lend = false,
): Promise<{ diffId: string; size: number; result: ApplyResult; lentChunks: number }> {
  // A source that failed before we listen emits nothing any more (a pipe would wait forever).
  const gone = blob as NodeJS.ReadableStream & { destroyed?: boolean; errored?: Error | null };
  if (gone.destroyed) throw gone.errored ?? ERR_LAYER_CORRUPT('the layer stream closed before its end');
  return decodeHashApply(blob, compression, apply, { ...(onBytes ? { onBytes } : {}), ...(sizeHint !== undefined ? { sizeHint } : {}), unchecked, lend });
}

async function commitAs(driver: StorageDriver, chainId: string, key: string): Promise<boolean> {
  try {
    await driver.commit(chainId, key);
    return true;
  } catch (e) {
    // Another process committed the same layer first: same content, keep theirs.
    if (!ERR_SNAPSHOT_EXISTS.is(e)) throw e;
    return false;
  }
}

/**
 * Applies one layer (`blob`, compressed as `compression`) on top of `parent` and commits it as
 * `chainId`, after checking its diff id equals `expectDiffId` (when given). Returns the diff id
 * and the uncompressed size. When `expectDiffId` is undefined (import, load of an unverified
 * archive) the computed diff id is returned and the caller computes the chain id from it:
 * `chainIdFor(diffId)` is then called before commit.
 */
export async function unpackLayer(
  driver: StorageDriver,
  blob: NodeJS.ReadableStream,
  compression: Compression,
  parent: string,
  target: { chainId: string; expectDiffId: string } | { chainIdFor: (diffId: string) => string },
  /** Called with the number of blob (compressed) bytes read, for progress. */
  onBytes?: (n: number) => void,
  /** Awaited before the commit: a stream-applied layer commits only once its blob is verified. */
  beforeCommit?: () => Promise<unknown>,
  /** The blob's size when `blob` is a network stream (lets the decoder choose its thread at once). */
  sizeHint?: number,
): Promise<UnpackResult> {
  const key = extractKey();
  await driver.prepare(key, parent, { 'berth.extract': '1' });
  let committed = false;
  try {
    // With an expected diff id, that check covers the decompressed bytes: gzip's CRC-32 is skipped.
    const { diffId, size, lentChunks } = await applyHashed(blob, compression, (tar) => driver.apply(key, tar), onBytes, sizeHint, 'expectDiffId' in target, driver.givesBackChunks === true);
    let chainId: string;
    if ('expectDiffId' in target) {
      if (diffId !== target.expectDiffId) throw ERR_CONTENT_DIGEST_MISMATCH('layer (uncompressed tar, diff_id)', target.expectDiffId, diffId);
      chainId = target.chainId;
    } else {
      chainId = target.chainIdFor(diffId);
    }
    if (beforeCommit) await beforeCommit();
    committed = await commitAs(driver, chainId, key);
    return { diffId, size, lentChunks };
  } finally {
    if (!committed) await driver.remove(key).catch(() => undefined);
  }
}

/**
 * Unpacks a layer before its parent exists (DetachedApplier, see core/contracts/storage.ts):
 * prepare without a parent → applyDetached (decompress, hash, apply: off the main thread) → diff id check → wait for
 * `parent()` (the parent's chain id once it is committed, '' for a base layer) → attach →
 * `beforeCommit` → commit. Resolves with undefined, having removed its snapshot, when the layer
 * needs its parent's content (ERR_LAYER_NEEDS_PARENT): the caller then uses unpackLayer.
 */
export async function unpackLayerDetached(
  driver: StorageDriver & DetachedApplier,
  blob: NodeJS.ReadableStream,
  compression: Compression,
  target: { chainId: string; expectDiffId: string },
  parent: () => Promise<string>,
  beforeCommit?: () => Promise<unknown>,
): Promise<UnpackResult | undefined> {
  const key = extractKey();
  await driver.prepare(key, '', { 'berth.extract': '1' });
  let committed = false;
  try {
    let applied: DetachedApplyResult;
    try {
      applied = await driver.applyDetached(key, blob, compression);
    } catch (e) {
      if (hasCode(e, 'ERR_LAYER_NEEDS_PARENT')) return undefined;
      throw e;
    }
    if (applied.diffId !== target.expectDiffId) throw ERR_CONTENT_DIGEST_MISMATCH('layer (uncompressed tar, diff_id)', target.expectDiffId, applied.diffId);
    const p = await parent();
    if (p !== '') await driver.attach(key, p, applied.implicitDirs ?? []);
    if (beforeCommit) await beforeCommit();
    committed = await commitAs(driver, target.chainId, key);
    return { diffId: applied.diffId, size: applied.size };
  } finally {
    if (!committed) await driver.remove(key).catch(() => undefined);
  }
}
