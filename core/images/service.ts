/**
 * The image service: what every front end (CLI, API server, containers, build) calls for images.
 * Attach it with `engine.use(imageService)`.
 *
 * Vocabulary (see store.ts for image/tag/digest): an image is *in use* when a container was
 * created from it (the containers service's `inUse` checker, or records of the `containers`
 * metadata bucket whose `image` is the image id). *Untag* removes one name; *delete* removes the
 * image record, then its snapshots and blobs that no other image shares.
 *
 * Lifecycle
 *   const images = engine.use(imageService);
 *   const img = await images.pull('busybox');                 // ImageRecord
 *   await images.tag('busybox', 'me/bb:1');
 *   await images.remove('me/bb:1', { force: false });        // [{Untagged:'me/bb:1'}]
 *   const mine = await images.createImage({ parent: img, layers: [{ tarPath }], config: { Cmd: ['sh'] } });
 *
 * This module registers the `images` maintainer (df / check / prune) when it loads.
 */
import type { Engine } from '../engine';
import { defineError } from '../errors';
import { registerMaintainer, type DfRow, type PruneOptions, type PruneResult } from '../maintenance';
import type { CheckIssue } from '../store/metadata';
import { ERR_SNAPSHOT_IN_USE } from '../contracts/storage';
import type { OciImageConfig } from './manifest';
import { ImageStore, isDangling, StoredImage, hexOf, ERR_IMAGE_NOT_FOUND } from './store';
import { familiarName, familiarTagged, looksLikeId, matchesReferenceFilter, parseNormalized, parseReference } from './reference';
import type { PullProgress } from './pull';

export { ERR_IMAGE_NOT_FOUND } from './store';
export type { OciImageConfig } from './manifest';
export const ERR_IMAGE_CONFLICT = defineError('ERR_IMAGE_CONFLICT', 'conflict', 'conflict: unable to %s');
export const ERR_IMAGE_FILTER_INVALID = defineError('ERR_IMAGE_FILTER_INVALID', 'invalidArgument', 'invalid filter %s');
export const ERR_IMAGE_TAG_INVALID = defineError('ERR_IMAGE_TAG_INVALID', 'invalidArgument', 'invalid tag %s: %s');

export type Progress = PullProgress;

export interface ImageRecord {
  /** `sha256:<config digest>`. */
  id: string;
  repoTags: string[];
  repoDigests: string[];
  /** Full image config JSON. */
  config: OciImageConfig;
  /** Per layer; the last is the committed snapshot a container's rootfs is prepared on ('' for none). */
  chainIds: string[];
  size: number;
  created: string;
  storageDriver: string;
}

export interface RemoveOptions { force: boolean; inUse?: (id: string) => Promise<string[]> }

export interface CreateImageOptions {
  parent?: ImageRecord;
  layers: Array<{ tarPath: string }>;
  config: Partial<OciImageConfig>;
  history?: Array<{ created_by: string; comment?: string; empty_layer?: boolean }>;
  tag?: string;
  /** Event action to publish (`commit`, `import`, `build`); none by default. */
  event?: string;
}

export interface ImageService {
  get(refOrId: string): Promise<ImageRecord>;
  list(opts?: { all?: boolean; filters?: Record<string, string[]> }): Promise<ImageRecord[]>;
  pull(ref: string, opts?: { platform?: string; progress?: Progress; quiet?: boolean }): Promise<ImageRecord>;
  createImage(opts: CreateImageOptions): Promise<ImageRecord>;
  tag(src: string, target: string): Promise<void>;
  remove(refOrId: string, opts: RemoveOptions): Promise<Array<{ Untagged?: string; Deleted?: string }>>;
  /** The stored record with layers, manifest and sources (push, save, inspect). */
  stored(refOrId: string): Promise<StoredImage>;
  /** Container ids using each image id (from the `containers` bucket and the registered checker). */
  usage(): Promise<Map<string, string[]>>;
  /** Lets the containers service say which containers use an image. */
  setInUseChecker(fn: (id: string) => Promise<string[]>): void;
  close(): Promise<void>;
}

export function toRecord(img: StoredImage): ImageRecord {
  return {
    id: img.id,
    repoTags: [...img.repoTags],
    repoDigests: [...img.repoDigests],
    config: img.config,
    chainIds: img.layers.map((l) => l.chainId),
    size: img.size,
    created: img.created,
    storageDriver: img.storageDriver,
  };
}

/** Container ids per image id, from the `containers` metadata bucket. */
async function containersByImage(engine: Engine): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  let recs: Array<{ key: string; value: unknown }>;
  try {
    recs = await engine.metadata.list<unknown>('containers');
  } catch {
    return out;
  }
  for (const { key, value } of recs) {
    const v = value as { image?: unknown; Image?: unknown; imageId?: unknown; id?: unknown } | null;
    const img = [v?.image, v?.imageId, v?.Image].find((x) => typeof x === 'string' && /^sha256:[a-f0-9]{64}$/.test(x)) as string | undefined;
    if (!img) continue;
    const id = typeof v?.id === 'string' ? v.id : key;
    out.set(img, [...(out.get(img) ?? []), id]);
  }
  return out;
}

class Images implements ImageService {
  readonly store: ImageStore;
  private inUseChecker?: (id: string) => Promise<string[]>;

  constructor(private readonly engine: Engine) {
    this.store = new ImageStore(engine.metadata);
  }

  setInUseChecker(fn: (id: string) => Promise<string[]>): void {
    this.inUseChecker = fn;
  }

  async stored(refOrId: string): Promise<StoredImage> {
    return this.store.resolve(refOrId);
  }

  async get(refOrId: string): Promise<ImageRecord> {
    return toRecord(await this.store.resolve(refOrId));
  }

  async usage(): Promise<Map<string, string[]>> {
    return containersByImage(this.engine);
  }

  private async usersOf(id: string, checker?: (id: string) => Promise<string[]>): Promise<string[]> {
    const set = new Set<string>((await containersByImage(this.engine)).get(id) ?? []);
    for (const c of [checker, this.inUseChecker]) if (c) for (const x of await c(id)) set.add(x);
    return [...set];
  }

  async list(opts: { all?: boolean; filters?: Record<string, string[]> } = {}): Promise<ImageRecord[]> {
    const all = await this.store.all();
    const filters = opts.filters ?? {};
    for (const k of Object.keys(filters)) {
      if (!['dangling', 'reference', 'label', 'before', 'since'].includes(k)) throw ERR_IMAGE_FILTER_INVALID(`'${k}'`);
    }
    const children = new Set(all.map((i) => i.parent).filter((p): p is string => !!p));
    const resolveOne = async (s: string) => (await this.store.resolve(s)).stored;
    const before = filters.before?.length ? Math.min(...(await Promise.all(filters.before.map(resolveOne)))) : undefined;
    const since = filters.since?.length ? Math.max(...(await Promise.all(filters.since.map(resolveOne)))) : undefined;
    const out = all.filter((img) => {
      const dangling = isDangling(img) || img.repoTags.length === 0;
      if (!opts.all && dangling && children.has(img.id)) return false;
      if (filters.dangling?.length) {
        const want = filters.dangling[filters.dangling.length - 1]!;
        if (!['true', 'false', '1', '0'].includes(want)) throw ERR_IMAGE_FILTER_INVALID(`'dangling=${want}': want true or false`);
        if ((want === 'true' || want === '1') !== (img.repoTags.length === 0)) return false;
      }
      if (filters.reference?.length) {
        const refs = img.repoTags.map((t) => parseNormalized(t));
        if (!filters.reference.some((p) => refs.some((r) => matchesReferenceFilter(p, r)))) return false;
      }
      if (filters.label?.length) {
        const labels = img.config.config?.Labels ?? {};
        for (const l of filters.label) {
          const i = l.indexOf('=');
          if (i < 0 ? !(l in labels) : labels[l.slice(0, i)] !== l.slice(i + 1)) return false;
        }
      }
      if (before !== undefined && img.stored >= before) return false;
      if (since !== undefined && img.stored <= since) return false;
      return true;
    });
    out.sort((a, b) => Date.parse(b.created) - Date.parse(a.created) || b.stored - a.stored);
    const recs = out.map(toRecord);
    if (filters.reference?.length) {
      // Like Docker, only the names that match are listed.
      const keep = (n: string) => {
        try {
          const r = parseNormalized(n);
          return filters.reference!.some((p) => matchesReferenceFilter(p, r));
        } catch {
          return false;
        }
      };
      for (const r of recs) {
        r.repoTags = r.repoTags.filter(keep);
        r.repoDigests = r.repoDigests.filter(keep);
      }
    }
    return recs;
  }

  async pull(ref: string, opts: { platform?: string; progress?: Progress; quiet?: boolean } = {}): Promise<ImageRecord> {
    const { pullImage } = require('./pull') as typeof import('./pull');
    return toRecord((await pullImage(this.engine, ref, opts)).image);
  }

  async createImage(opts: CreateImageOptions): Promise<ImageRecord> {
    const { createImage } = require('./import') as typeof import('./import');
    return toRecord(await createImage(this.engine, opts));
  }

  async tag(src: string, target: string): Promise<void> {
    const img = await this.store.resolve(src);
    const r = parseNormalized(target);
    if (r.digest !== undefined) throw ERR_IMAGE_TAG_INVALID(target, 'refusing to create a tag with a digest reference');
    const repoTag = familiarTagged(parseReference(target));
    await this.store.withLock(async () => {
      const all = await this.store.all();
      const cur = all.find((i) => i.id === img.id);
      if (!cur) throw ERR_IMAGE_NOT_FOUND(src);
      await this.store.moveTag(all, cur.id, repoTag);
      if (!cur.repoTags.includes(repoTag)) cur.repoTags.push(repoTag);
      await this.store.put(cur);
    });
    await this.engine.events.publish({ Type: 'image', Action: 'tag', Actor: { ID: img.id, Attributes: { name: repoTag } } });
  }

  async remove(refOrId: string, opts: RemoveOptions): Promise<Array<{ Untagged?: string; Deleted?: string }>> {
    const out: Array<{ Untagged?: string; Deleted?: string }> = [];
    const events: Array<{ Action: string; name: string }> = [];
    let deleted: StoredImage | undefined;
    await this.store.withLock(async () => {
      const img = await this.store.resolve(refOrId);
      const all = await this.store.all();
      // Did the user name a reference (tag/digest) or the id?
      let named: string | undefined;
      const byId = looksLikeId(refOrId) && hexOf(img.id).startsWith(hexOf(refOrId)) && !img.repoTags.includes(familiarTaggedSafe(refOrId));
      if (!byId) {
        const r = parseNormalized(refOrId);
        named = r.digest !== undefined ? `${familiarName(r)}@${r.digest}` : familiarTagged(parseReference(refOrId));
      }
      const users = await this.usersOf(img.id, opts.inUse);
      if (named !== undefined) {
        // Untag; delete only when this was the last name.
        const remainingTags = img.repoTags.filter((t) => t !== named);
        if (remainingTags.length > 0 || (named.includes('@') && img.repoTags.length > 0)) {
          img.repoTags = remainingTags;
          img.repoDigests = img.repoDigests.filter((d) => d !== named);
          await this.store.put(img);
          out.push({ Untagged: named });
          events.push({ Action: 'untag', name: named });
          return;
        }
        if (users.length && !opts.force) {
          throw ERR_IMAGE_CONFLICT(`remove repository reference "${refOrId}" (must force) - container ${users[0]!.slice(0, 12)} is using its referenced image ${hexOf(img.id).slice(0, 12)}`);
        }
      } else {
        const repos = new Set(img.repoTags.map((t) => t.slice(0, t.lastIndexOf(':'))));
        if (repos.size > 1 && !opts.force) {
          throw ERR_IMAGE_CONFLICT(`delete ${hexOf(img.id).slice(0, 12)} (must be forced) - image is referenced in multiple repositories`);
        }
        if (users.length && !opts.force) {
          throw ERR_IMAGE_CONFLICT(`delete ${hexOf(img.id).slice(0, 12)} (must be forced) - image is being used by stopped container ${users[0]!.slice(0, 12)}`);
        }
      }
      if (all.some((o) => o.parent === img.id && o.id !== img.id)) {
        if (named !== undefined || img.repoTags.length) {
          for (const t of img.repoTags) {
            out.push({ Untagged: t });
            events.push({ Action: 'untag', name: t });
          }
          img.repoTags = [];
          await this.store.put(img);
          return;
        }
        throw ERR_IMAGE_CONFLICT(`delete ${hexOf(img.id).slice(0, 12)} (cannot be forced) - image has dependent child images`);
      }
      for (const t of img.repoTags) {
            out.push({ Untagged: t });
            events.push({ Action: 'untag', name: t });
          }
      for (const d of img.repoDigests) out.push({ Untagged: d });
      if (users.length) {
        // Forced while a container uses it: the names go, the image stays (Docker keeps it, dangling).
        img.repoTags = [];
        img.repoDigests = [];
        await this.store.put(img);
        return;
      }
      await this.store.delete(img.id);
      out.push({ Deleted: img.id });
      events.push({ Action: 'delete', name: img.id });
      deleted = img;
    });
    if (deleted) await this.releaseResources(deleted);
    for (const e of events) {
      await this.engine.events.publish({ Type: 'image', Action: e.Action, Actor: { ID: deleted?.id ?? e.name, Attributes: { name: e.name } } });
    }
    return out;
  }

  /** Removes the snapshots and blobs of a deleted image that no remaining image uses. */
  async releaseResources(img: StoredImage): Promise<number> {
    const rest = await this.store.all();
    const usedChains = new Set(rest.flatMap((i) => i.layers.map((l) => l.chainId)));
    const usedBlobs = new Set(rest.flatMap((i) => blobsOf(i)));
    let freed = 0;
    let driver;
    try {
      driver = this.engine.storage(img.storageDriver);
    } catch {
      driver = undefined;
    }
    if (driver) {
      for (const l of [...img.layers].reverse()) {
        if (usedChains.has(l.chainId)) continue;
        try {
          await driver.remove(l.chainId);
          freed += l.size;
        } catch (e) {
          if (ERR_SNAPSHOT_IN_USE.is(e)) break; // a container (or another image) still builds on it
          if (!String((e as { code?: string }).code).includes('NOT_FOUND')) throw e;
        }
      }
    }
    for (const b of blobsOf(img)) if (!usedBlobs.has(b)) await this.engine.content.delete(b).catch(() => false);
    return freed;
  }

  async close(): Promise<void> {
    const { PluginType } = require('../plugin-types') as typeof import('../plugin-types');
    for (const t of this.engine.plugins.getAll<{ close?: () => void }>(PluginType.ImageTransport)) t.instance.close?.();
  }
}

function familiarTaggedSafe(s: string): string {
  try {
    return familiarTagged(parseReference(s));
  } catch {
    return '';
  }
}

/** Every content-store blob an image record names. */
export function blobsOf(img: StoredImage): string[] {
  const out = [img.id];
  if (img.manifest) out.push(img.manifest.digest);
  for (const d of Object.values(img.sources)) out.push(d);
  for (const l of img.layers) if (l.blob) out.push(l.blob.digest);
  return [...new Set(out)];
}

export function imageService(engine: Engine): ImageService {
  const { configureCodecs } = require('./codecs') as typeof import('./codecs');
  configureCodecs({ cacheFile: `${engine.root}/codecs.json`, ...engine.config.codecs });
  return new Images(engine);
}

// ---------------------------------------------------------------------------------------------
// Maintenance: df / check / prune for images.

async function df(engine: Engine): Promise<DfRow[]> {
  const svc = engine.use(imageService) as Images;
  const all = await svc.store.all();
  const users = await svc.usage();
  const seen = new Map<string, number>();
  const activeChains = new Set<string>();
  for (const img of all) {
    for (const l of img.layers) seen.set(l.chainId, l.size);
    if (users.has(img.id)) for (const l of img.layers) activeChains.add(l.chainId);
  }
  let size = 0;
  let reclaimable = 0;
  for (const [c, s] of seen) {
    size += s;
    if (!activeChains.has(c)) reclaimable += s;
  }
  return [{ type: 'Images', total: all.length, active: all.filter((i) => users.has(i.id)).length, size, reclaimable }];
}

async function check(engine: Engine): Promise<CheckIssue[]> {
  const svc = engine.use(imageService) as Images;
  const issues: CheckIssue[] = [];
  const all = await svc.store.all();
  const { sha256Digest } = require('./manifest') as typeof import('./manifest');
  for (const img of all) {
    const where = `image ${hexOf(img.id).slice(0, 12)}`;
    try {
      const cfg = await engine.content.readBuffer(img.id);
      if (sha256Digest(cfg) !== img.id) issues.push({ kind: 'image-config-mismatch', path: where, message: `config blob does not hash to ${img.id}` });
    } catch {
      issues.push({ kind: 'image-config-missing', path: where, message: `config blob ${img.id} missing` });
    }
    for (const b of [img.manifest?.digest, ...img.layers.map((l) => l.blob?.digest)]) {
      if (b && !(await engine.content.has(b))) {
        // Layer blobs are optional (a layer that already existed may have no blob); manifests are not.
        if (b === img.manifest?.digest) issues.push({ kind: 'image-manifest-missing', path: where, message: `manifest blob ${b} missing` });
      }
    }
    let driver;
    try {
      driver = engine.storage(img.storageDriver);
    } catch {
      issues.push({ kind: 'image-driver-missing', path: where, message: `storage driver ${img.storageDriver} is not loaded` });
      continue;
    }
    for (const l of img.layers) {
      try {
        const s = await driver.stat(l.chainId);
        if (s.kind !== 'committed') issues.push({ kind: 'image-layer-not-committed', path: where, message: `snapshot ${l.chainId} is ${s.kind}` });
      } catch {
        issues.push({ kind: 'image-layer-missing', path: where, message: `snapshot ${l.chainId} missing` });
      }
    }
  }
  return issues;
}

async function prune(engine: Engine, opts: PruneOptions): Promise<PruneResult> {
  const svc = engine.use(imageService) as Images;
  const removed: string[] = [];
  let reclaimed = 0;
  const users = await svc.usage();
  const labelFilters = opts.filters?.label ?? [];
  for (const img of await svc.store.all()) {
    const dangling = img.repoTags.length === 0;
    if (!dangling && !opts.all) continue;
    if (users.has(img.id)) continue;
    const labels = img.config.config?.Labels ?? {};
    if (labelFilters.some((l) => { const i = l.indexOf('='); return i < 0 ? !(l in labels) : labels[l.slice(0, i)] !== l.slice(i + 1); })) continue;
    try {
      const res = await svc.remove(img.id, { force: true });
      for (const r of res) if (r.Deleted) removed.push(r.Deleted);
      reclaimed += img.size;
    } catch {
      /* in use or has children: keep */
    }
  }
  // Content: blobs no image names (older than a minute: a pull in flight commits its blobs before
  // it writes the record that names them), and stale ingests.
  const keep = new Set((await svc.store.all()).flatMap((i) => blobsOf(i)));
  const { stat } = require('node:fs/promises') as typeof import('node:fs/promises');
  const graceMs = Number(process.env.BERTH_PRUNE_GRACE_MS ?? 60_000);
  for (const b of await engine.content.list()) {
    if (keep.has(b.digest)) continue;
    const st = await stat(engine.content.path(b.digest)).catch(() => undefined);
    if (!st || Date.now() - st.mtimeMs < graceMs) continue;
    if (await engine.content.delete(b.digest)) reclaimed += b.size;
  }
  await engine.content.cleanupIngests(graceMs);
  try {
    const { cleanupStaleExtracts } = require('./layers') as typeof import('./layers');
    await cleanupStaleExtracts(engine.storage());
  } catch {
    /* no storage driver */
  }
  return { removed, reclaimed };
}

registerMaintainer({ name: 'images', order: 40, df, check, prune });
