/**
 * The image store: one metadata record per image, in bucket `images`, keyed by the hex of the
 * image id (the config digest).
 *
 * Vocabulary
 * - *image*: a config blob plus an ordered list of layers, each a committed snapshot of the
 *   storage driver named by its chain id. Its id is `sha256:<hex of the config bytes>`.
 * - *repo tag*: a familiar `name:tag` (`busybox:latest`, `127.0.0.1:5000/app:1`) pointing to one
 *   image. A tag points to at most one image: tagging moves it, and an image left with no tags
 *   and no digests is *dangling* (`<none>:<none>`).
 * - *repo digest*: `name@sha256:<manifest digest>` — where the image was pulled from or pushed to.
 * - *sources*: repository name → manifest digest, for cross-repository mounts on push.
 *
 * Every record write is atomic (MetadataStore). Tag moves between images happen under the bucket
 * lock so two processes tagging at once never leave a tag on two images. The blobs and snapshots
 * an image names are created BEFORE its record is written and removed AFTER it is deleted, so a
 * crash leaves at worst unreferenced content (removed by prune), never a record naming something
 * missing.
 */
import { defineError } from '../errors';
import type { MetadataStore } from '../store/metadata';
import type { Descriptor } from '../contracts/image-transport';
import type { OciImageConfig } from './manifest';
import { familiarTagged, familiarName, looksLikeId, parseNormalized, Reference } from './reference';

export const ERR_IMAGE_NOT_FOUND = defineError('ERR_IMAGE_NOT_FOUND', 'notFound', 'No such image: %s');
export const ERR_IMAGE_AMBIGUOUS = defineError('ERR_IMAGE_AMBIGUOUS', 'invalidArgument', 'image id prefix %s is ambiguous: it matches %s images');

export const IMAGES_BUCKET = 'images';

export interface LayerInfo {
  diffId: string;
  chainId: string;
  /** Bytes of the uncompressed tar. */
  size: number;
  /** The compressed blob as the registry served it, when kept in the content store. */
  blob?: Descriptor;
}

export interface StoredImage {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  config: OciImageConfig;
  layers: LayerInfo[];
  /** The (platform) manifest kept in the content store, when the image came from a registry or was pushed. */
  manifest?: Descriptor;
  /** repository name (`domain/path`) → manifest digest (top-level) it was pulled from / pushed to. */
  sources: Record<string, string>;
  /** ISO time the image was created (from the config), or when it was stored. */
  created: string;
  /** When it was stored here (ms). */
  stored: number;
  size: number;
  storageDriver: string;
  /** Image id this one was built on (commit/build), for `images -a` and history. */
  parent?: string;
}

export function hexOf(id: string): string {
  return id.startsWith('sha256:') ? id.slice(7) : id;
}

/** `busybox:latest` from a reference. */
export function repoTagOf(r: Reference): string {
  return familiarTagged(r);
}

export function repoDigestOf(r: Pick<Reference, 'domain' | 'path'>, digest: string): string {
  return `${familiarName(r)}@${digest}`;
}

export class ImageStore {
  constructor(private readonly meta: MetadataStore) {}

  async all(): Promise<StoredImage[]> {
    return (await this.meta.list<StoredImage>(IMAGES_BUCKET)).map((e) => e.value);
  }

  async byId(id: string): Promise<StoredImage | undefined> {
    return this.meta.get<StoredImage>(IMAGES_BUCKET, hexOf(id));
  }

  async put(img: StoredImage): Promise<void> {
    await this.meta.put(IMAGES_BUCKET, hexOf(img.id), img);
  }

  async delete(id: string): Promise<boolean> {
    return this.meta.delete(IMAGES_BUCKET, hexOf(id));
  }

  withLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.meta.withBucketLock(IMAGES_BUCKET, fn);
  }

  /**
   * Finds an image as Docker does: a full id; else a reference (tag, or digest against the repo
   * digests); else an id prefix. ERR_IMAGE_NOT_FOUND / ERR_IMAGE_AMBIGUOUS.
   */
  async resolve(refOrId: string): Promise<StoredImage> {
    const all = await this.all();
    const full = /^(sha256:)?([a-f0-9]{64})$/.exec(refOrId);
    if (full) {
      const hit = all.find((i) => hexOf(i.id) === full[2]);
      if (hit) return hit;
    }
    let ref: Reference | undefined;
    try {
      if (!full) ref = parseNormalized(refOrId);
    } catch {
      ref = undefined;
    }
    if (ref) {
      if (ref.digest !== undefined) {
        const want = repoDigestOf(ref, ref.digest);
        const hit = all.find((i) => i.repoDigests.includes(want)) ?? (ref.tag === undefined ? undefined : undefined);
        if (hit) return hit;
        // Docker also finds an image by the digest of its config through name@sha256:<id>.
        const byId = all.find((i) => i.id === ref!.digest && i.repoTags.some((t) => t.startsWith(`${familiarName(ref!)}:`)));
        if (byId) return byId;
      } else {
        const tag = familiarTagged(ref);
        const hit = all.find((i) => i.repoTags.includes(tag));
        if (hit) return hit;
      }
    }
    if (looksLikeId(refOrId)) {
      const prefix = hexOf(refOrId);
      const hits = all.filter((i) => hexOf(i.id).startsWith(prefix));
      if (hits.length === 1) return hits[0]!;
      if (hits.length > 1) throw ERR_IMAGE_AMBIGUOUS(refOrId, hits.length);
    }
    throw ERR_IMAGE_NOT_FOUND(refOrId);
  }

  /**
   * Points `repoTag` at image `id` (under the caller's lock): removes it from any other image.
   * Returns the images that lost the tag.
   */
  async moveTag(all: StoredImage[], id: string, repoTag: string): Promise<StoredImage[]> {
    const changed: StoredImage[] = [];
    for (const img of all) {
      if (img.id !== id && img.repoTags.includes(repoTag)) {
        img.repoTags = img.repoTags.filter((t) => t !== repoTag);
        await this.put(img);
        changed.push(img);
      }
    }
    return changed;
  }
}

export function isDangling(img: StoredImage): boolean {
  return img.repoTags.length === 0 && img.repoDigests.length === 0;
}
