/**
 * `push NAME[:TAG]`: an image's blobs, then its manifest, to a registry.
 *
 * Lifecycle
 *   1. the manifest to push: the one the image was pulled with (its bytes, so the digest stays the
 *      same and RepoDigests stay true), else a new OCI manifest over the image's layer blobs;
 *   2. per layer (3 at a time): for a new manifest, a layer held only as a plain tar (`berth
 *      import`, `berth commit`) is pushed gzip-compressed, as Docker does: the gzip blob of the same
 *      diff id another record already names is reused, else the tar is compressed (node:zlib) into
 *      the content store under ingest ref `push-gzip:<tar digest>`. Then HEAD → skip ("Layer
 *      already exists"); else a cross-repository mount from a repository of the same registry the
 *      image came from; else upload — one PUT up to the transport's monolithic limit, PATCH chunks
 *      above it. Foreign (non-distributable) layers are never uploaded, as Docker does;
 *   3. the config blob (unchanged: diff ids name the uncompressed tars), then the manifest PUT
 *      under the tag; the manifest is kept and the record updated: repo digest, source and, for a
 *      new manifest, the manifest and the layers' (compressed) blobs, so the next push and `berth
 *      save` use the same bytes. The plain tars are then unreferenced and prune removes them.
 */
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Engine } from '../engine';
import { defineError } from '../errors';
import type { CredentialLookup, Descriptor } from '../contracts/image-transport';
import { layerKind, MT, sha256Digest } from './manifest';
import { familiarName, parseReference, Reference } from './reference';
import { ImageStore, repoDigestOf, StoredImage } from './store';
import { pickTransport, type PullProgress } from './pull';

export const ERR_IMAGE_LAYER_BLOB_MISSING = defineError('ERR_IMAGE_LAYER_BLOB_MISSING', 'failedPrecondition', 'layer %s of image %s has no stored blob (%s): pull or load the image again');
export const ERR_IMAGE_PUSH_NO_TAG = defineError('ERR_IMAGE_PUSH_NO_TAG', 'notFound', 'An image does not exist locally with the tag: %s');

export interface PushResult { digest: string; size: number; tag: string; ref: Reference }

interface ManifestParts { bytes: Buffer; desc: Descriptor; layers: Descriptor[]; config: Descriptor }

/** The manifest the image was pulled with (or last pushed with), when its blob is stored. */
async function storedManifest(engine: Engine, img: StoredImage): Promise<ManifestParts | undefined> {
  if (!img.manifest || !(await engine.content.has(img.manifest.digest))) return undefined;
  const bytes = await engine.content.readBuffer(img.manifest.digest);
  const j = JSON.parse(bytes.toString('utf8')) as { config: Descriptor; layers: Descriptor[] };
  return { bytes, desc: img.manifest, layers: j.layers, config: j.config };
}

/** The image's layer blobs as the record names them (ERR_IMAGE_LAYER_BLOB_MISSING when one has none). */
function recordLayers(img: StoredImage): Descriptor[] {
  return img.layers.map((l, i) => {
    if (!l.blob) throw ERR_IMAGE_LAYER_BLOB_MISSING(i, img.id, l.diffId);
    return { mediaType: l.blob.mediaType, digest: l.blob.digest, size: l.blob.size };
  });
}

/** A new OCI manifest over `layers` and the image's config. */
async function newManifest(engine: Engine, img: StoredImage, layers: Descriptor[]): Promise<ManifestParts> {
  const configInfo = await engine.content.info(img.id);
  const config: Descriptor = { mediaType: MT.ociConfig, digest: img.id, size: configInfo.size };
  const m = { schemaVersion: 2, mediaType: MT.ociManifest, config, layers };
  const bytes = Buffer.from(JSON.stringify(m));
  return { bytes, desc: { mediaType: MT.ociManifest, digest: sha256Digest(bytes), size: bytes.length }, layers, config };
}

/**
 * The manifest bytes to save for an image: the pulled (or pushed) one, else a fresh OCI manifest
 * over the layer blobs as stored — plain tars for an image made by import or commit and never
 * pushed, as `docker save` writes them.
 */
export async function manifestFor(engine: Engine, img: StoredImage): Promise<ManifestParts> {
  return (await storedManifest(engine, img)) ?? newManifest(engine, img, recordLayers(img));
}

/**
 * The gzip blob to push for the plain-tar layer blob `tar` (diff id `diffId`): one that an image
 * record already names for this diff id and the store still holds, else `tar` compressed now.
 */
async function gzipLayer(engine: Engine, store: ImageStore, tar: Descriptor, diffId: string): Promise<Descriptor> {
  for (const other of await store.all()) {
    for (const l of other.layers) {
      if (l.diffId !== diffId || !l.blob) continue;
      const kind = layerKind(l.blob.mediaType);
      if (kind?.compression === 'gzip' && !kind.foreign && (await engine.content.has(l.blob.digest))) return { mediaType: MT.ociLayerGzip, digest: l.blob.digest, size: l.blob.size };
    }
  }
  // No resume: a gzip stream cannot continue from a partial; a killed push's partial is truncated.
  const w = await engine.content.ingest(`push-gzip:${tar.digest}`, { timeoutMs: 600_000 });
  try {
    // Level 6: Go's gzip.DefaultCompression, what Docker pushes with.
    await pipeline(engine.content.createReadStream(tar.digest), createGzip({ level: 6 }), async (gz: AsyncIterable<Buffer>) => {
      for await (const c of gz) await w.write(c);
    });
  } catch (e) {
    await w.abort();
    throw e;
  }
  const info = await w.commit();
  return { mediaType: MT.ociLayerGzip, digest: info.digest, size: info.size };
}

export async function pushImage(engine: Engine, input: string, opts: { progress?: PullProgress; credentials?: CredentialLookup } = {}): Promise<PushResult> {
  const ref = parseReference(input);
  const store = new ImageStore(engine.metadata);
  const tag = ref.tag ?? 'latest';
  let img: StoredImage;
  try {
    img = await store.resolve(ref.digest ? input : `${ref.name}:${tag}`);
  } catch {
    throw ERR_IMAGE_PUSH_NO_TAG(`${familiarName(ref)}:${tag}`);
  }
  const { getCredentials } = require('./auth') as typeof import('./auth');
  // Cross-repo mount candidates: repositories of the same registry the image came from.
  const sameHost = Object.keys(img.sources).filter((n) => n.startsWith(`${ref.domain}/`) && n !== ref.name);
  const transport = pickTransport(engine, ref.name);
  const session = transport.open(ref.name, { actions: ['pull', 'push'], credentials: opts.credentials ?? getCredentials, alsoPullFrom: sameHost });
  const progress = opts.progress;
  try {
    progress?.line(`The push refers to repository [${ref.name === `docker.io/${ref.path}` ? `docker.io/${ref.path}` : ref.name}]`);
    const stored = await storedManifest(engine, img);
    const layers = stored ? [...stored.layers] : recordLayers(img);
    const short = (d: string) => d.slice(7, 19);
    // Progress lines keep the id of the blob as stored, also while it is compressed.
    const todo = layers.map((l, i) => ({ i, id: short(l.digest) })).filter(({ i }) => !layerKind(layers[i]!.mediaType)?.foreign);
    for (const { id } of [...todo].reverse()) progress?.update(id, 'Preparing');
    const queue = [...todo];
    const worker = async () => {
      for (let job = queue.shift(); job; job = queue.shift()) {
        const { i, id } = job;
        if (!(await engine.content.has(layers[i]!.digest))) throw ERR_IMAGE_LAYER_BLOB_MISSING(layers[i]!.digest, img.id, 'blob not in the content store');
        if (!stored && layerKind(layers[i]!.mediaType)?.compression === 'none') layers[i] = await gzipLayer(engine, store, layers[i]!, img.layers[i]!.diffId);
        const d = layers[i]!;
        progress?.update(id, 'Waiting');
        const r = await session.pushBlob(d, () => engine.content.createReadStream(d.digest), {
          ...(sameHost[0] ? { mountFrom: sameHost[0] } : {}),
          onProgress: (n) => progress?.update(id, 'Pushing', { current: n, total: d.size }),
        });
        progress?.update(id, r === 'exists' ? 'Layer already exists' : r === 'mounted' ? `Mounted from ${sameHost[0]!.slice(ref.domain.length + 1)}` : 'Pushed');
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    const { bytes, desc, config } = stored ?? (await newManifest(engine, img, layers));
    await session.pushBlob(config, () => engine.content.createReadStream(config.digest));
    const digest = await session.putManifest(tag, desc.mediaType, bytes);
    // Keep the manifest we pushed and record where the image now lives.
    await engine.content.put(bytes, { digest: desc.digest, size: desc.size });
    await store.withLock(async () => {
      const cur = await store.byId(img.id);
      if (!cur) return;
      if (!stored && (!cur.manifest || !(await engine.content.has(cur.manifest.digest)))) {
        // A new manifest: the record now names it and the blobs it lists (compressed layers).
        cur.manifest = desc;
        cur.layers = cur.layers.map((l, i) => ({ ...l, blob: layers[i]! }));
      } else if (!cur.manifest) {
        cur.manifest = desc;
      }
      cur.sources[ref.name] = desc.digest;
      const rd = repoDigestOf(ref, desc.digest);
      const prefix = `${familiarName(ref)}@`;
      cur.repoDigests = [...cur.repoDigests.filter((d) => !d.startsWith(prefix)), rd];
      await store.put(cur);
    });
    progress?.line(`${tag}: digest: ${digest} size: ${bytes.length}`);
    await engine.events.publish({ Type: 'image', Action: 'push', Actor: { ID: `${familiarName(ref)}:${tag}`, Attributes: { name: familiarName(ref) } } });
    return { digest, size: bytes.length, tag, ref };
  } finally {
    session.close();
  }
}
