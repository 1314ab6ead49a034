/**
 * `push NAME[:TAG]`: an image's blobs, then its manifest, to a registry.
 *
 * Lifecycle
 *   1. the manifest to push: the one the image was pulled with (its bytes, so the digest stays the
 *      same and RepoDigests stay true), else a new OCI manifest over the image's layer blobs;
 *   2. per layer (3 at a time): HEAD → skip ("Layer already exists"); else a cross-repository
 *      mount from a repository of the same registry the image came from; else upload — one PUT up
 *      to the transport's monolithic limit, PATCH chunks above it. Foreign (non-distributable)
 *      layers are never uploaded, as Docker does;
 *   3. the config blob, then the manifest PUT under the tag; the repo digest is recorded.
 */
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

/** The manifest bytes to push/save for an image: the pulled one, or a fresh OCI manifest. */
export async function manifestFor(engine: Engine, img: StoredImage): Promise<{ bytes: Buffer; desc: Descriptor; layers: Descriptor[]; config: Descriptor }> {
  if (img.manifest && (await engine.content.has(img.manifest.digest))) {
    const bytes = await engine.content.readBuffer(img.manifest.digest);
    const j = JSON.parse(bytes.toString('utf8')) as { config: Descriptor; layers: Descriptor[] };
    return { bytes, desc: img.manifest, layers: j.layers, config: j.config };
  }
  const configInfo = await engine.content.info(img.id);
  const config: Descriptor = { mediaType: MT.ociConfig, digest: img.id, size: configInfo.size };
  const layers: Descriptor[] = img.layers.map((l, i) => {
    if (!l.blob) throw ERR_IMAGE_LAYER_BLOB_MISSING(i, img.id, l.diffId);
    return { mediaType: l.blob.mediaType, digest: l.blob.digest, size: l.blob.size };
  });
  const m = { schemaVersion: 2, mediaType: MT.ociManifest, config, layers };
  const bytes = Buffer.from(JSON.stringify(m));
  return { bytes, desc: { mediaType: MT.ociManifest, digest: sha256Digest(bytes), size: bytes.length }, layers, config };
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
    const { bytes, desc, layers, config } = await manifestFor(engine, img);
    const short = (d: string) => d.slice(7, 19);
    const todo = layers.filter((l) => !layerKind(l.mediaType)?.foreign);
    for (const l of [...todo].reverse()) progress?.update(short(l.digest), 'Preparing');
    const queue = [...todo];
    const worker = async () => {
      for (let l = queue.shift(); l; l = queue.shift()) {
        const d = l;
        if (!(await engine.content.has(d.digest))) throw ERR_IMAGE_LAYER_BLOB_MISSING(d.digest, img.id, 'blob not in the content store');
        progress?.update(short(d.digest), 'Waiting');
        const r = await session.pushBlob(d, () => engine.content.createReadStream(d.digest), {
          ...(sameHost[0] ? { mountFrom: sameHost[0] } : {}),
          onProgress: (n) => progress?.update(short(d.digest), 'Pushing', { current: n, total: d.size }),
        });
        progress?.update(short(d.digest), r === 'exists' ? 'Layer already exists' : r === 'mounted' ? `Mounted from ${sameHost[0]!.slice(ref.domain.length + 1)}` : 'Pushed');
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    await session.pushBlob(config, () => engine.content.createReadStream(config.digest));
    const digest = await session.putManifest(tag, desc.mediaType, bytes);
    // Keep the manifest we pushed and record where the image now lives.
    await engine.content.put(bytes, { digest: desc.digest, size: desc.size });
    await store.withLock(async () => {
      const cur = await store.byId(img.id);
      if (!cur) return;
      if (!cur.manifest) cur.manifest = desc;
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
