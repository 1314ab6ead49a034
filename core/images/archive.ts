/**
 * `save` and `load`: images to and from one tar holding BOTH layouts, as Docker ≥ 25 writes it.
 *
 * Vocabulary
 * - *OCI image layout*: `oci-layout` (`{"imageLayoutVersion":"1.0.0"}`), `index.json` (an image
 *   index whose manifest descriptors carry `org.opencontainers.image.ref.name` = the tag and
 *   `io.containerd.image.name` = the full reference) and `blobs/sha256/<hex>`.
 * - *docker-archive*: `manifest.json` (`[{Config, RepoTags, Layers}]`, paths into the tar) and
 *   `repositories` (`{"busybox":{"latest":"<top layer hex>"}}`). The legacy (≤ 24) form with
 *   `<id>/layer.tar` paths is read as well.
 * Save writes the blobs as stored (the pulled manifest's compressed layers, so digests and repo
 * digests stay valid). Load keys on `manifest.json` like `docker load`, else on `index.json`.
 *
 * Load lifecycle: the tar is unpacked into a private temp dir under the engine's tmp dir (only
 * the names the two layouts use are accepted: no `..`, no absolute paths, no links), each
 * config is validated, each layer stored as a blob and unpacked with its diff id verified
 * against the config, then the record is written and tags moved. The temp dir is removed.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Engine } from '../engine';
import { defineError } from '../errors';
import type { Descriptor } from '../contracts/image-transport';
import { chainIds, hostPlatform, ImageIndex, ImageManifest, layerKind, MT, parseConfig, parseManifest, selectManifest, sha256Digest } from './manifest';
import { familiarTagged, parseNormalized, parseReference, withDefaultTag } from './reference';
import { ImageStore, LayerInfo, StoredImage } from './store';
import { snapshotExists, unpackLayer } from './layers';
import { manifestFor } from './push';
import { storeFileBlob } from './import';
import { sniffCompression } from './codecs';
import { isoTime } from '../time';

export const ERR_ARCHIVE_INVALID = defineError('ERR_IMAGE_ARCHIVE_INVALID', 'invalidArgument', 'invalid image archive: %s');

interface SaveEntry { img: StoredImage; names: string[] }

/** Writes the images named by `refs` (tags, ids) as one tar to `out`. */
export async function saveImages(engine: Engine, refs: string[], out: NodeJS.WritableStream): Promise<void> {
  const tarStream = require('tar-stream') as typeof import('tar-stream');
  const store = new ImageStore(engine.metadata);
  const entries: SaveEntry[] = [];
  for (const r of refs) {
    const img = await store.resolve(r);
    let names: string[];
    try {
      const ref = parseNormalized(r);
      if (ref.digest === undefined && !/^(sha256:)?[a-f0-9]{6,64}$/.test(r)) names = [familiarTagged(withDefaultTag(ref))];
      else names = [];
    } catch {
      names = [];
    }
    // A repository name without tag saves every tag of that repository (Docker does the same).
    if (!r.includes(':') && !r.includes('@') && names.length) {
      const repo = names[0]!.slice(0, names[0]!.lastIndexOf(':'));
      names = img.repoTags.filter((t) => t.slice(0, t.lastIndexOf(':')) === repo);
    }
    if (/^(sha256:)?[a-f0-9]{6,64}$/.test(r) && !names.length) names = [...img.repoTags];
    const prev = entries.find((e) => e.img.id === img.id);
    if (prev) prev.names = [...new Set([...prev.names, ...names])];
    else entries.push({ img, names });
  }
  const pack = tarStream.pack();
  const done = pipeline(pack, out as NodeJS.WritableStream);
  const written = new Set<string>();
  const addFile = (name: string, data: Buffer | string) =>
    new Promise<void>((res, rej) => pack.entry({ name, mode: 0o644, mtime: new Date(0) }, data, (e) => (e ? rej(e) : res())));
  const addBlob = async (digest: string) => {
    if (written.has(digest)) return;
    written.add(digest);
    const { size } = await engine.content.info(digest);
    await new Promise<void>((res, rej) => {
      const w = pack.entry({ name: `blobs/sha256/${digest.slice(7)}`, size, mode: 0o644, mtime: new Date(0) }, (e) => (e ? rej(e) : res()));
      const src = engine.content.createReadStream(digest);
      src.on('error', rej);
      src.pipe(w);
    });
  };
  const index: ImageIndex = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [] };
  const manifestJson: Array<{ Config: string; RepoTags: string[] | null; Layers: string[] }> = [];
  const repositories: Record<string, Record<string, string>> = {};
  try {
    for (const { img, names } of entries) {
      const m = await manifestFor(engine, img);
      await addBlob(m.config.digest);
      for (const l of m.layers) {
        if (layerKind(l.mediaType)?.foreign && !(await engine.content.has(l.digest))) continue;
        await addBlob(l.digest);
      }
      if (!written.has(m.desc.digest)) {
        written.add(m.desc.digest);
        await addFile(`blobs/sha256/${m.desc.digest.slice(7)}`, m.bytes);
      }
      const base: Descriptor = { mediaType: m.desc.mediaType, digest: m.desc.digest, size: m.desc.size };
      if (names.length === 0) index.manifests.push(base);
      for (const n of names) {
        const r = parseReference(n);
        index.manifests.push({ ...base, annotations: { 'io.containerd.image.name': `${r.name}:${r.tag}`, 'org.opencontainers.image.ref.name': r.tag! } });
        const repo = n.slice(0, n.lastIndexOf(':'));
        (repositories[repo] ??= {})[r.tag!] = m.layers.length ? m.layers[m.layers.length - 1]!.digest.slice(7) : '';
      }
      manifestJson.push({ Config: `blobs/sha256/${m.config.digest.slice(7)}`, RepoTags: names.length ? names : null, Layers: m.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`) });
    }
    await addFile('oci-layout', JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await addFile('index.json', JSON.stringify(index));
    await addFile('manifest.json', JSON.stringify(manifestJson));
    if (Object.keys(repositories).length) await addFile('repositories', JSON.stringify(repositories));
    pack.finalize();
  } catch (e) {
    pack.destroy(e as Error);
    await done.catch(() => undefined);
    throw e;
  }
  await done;
  for (const { img, names } of entries) {
    await engine.events.publish({ Type: 'image', Action: 'save', Actor: { ID: img.id, Attributes: { name: names[0] ?? img.id } } });
  }
}

const SAFE_NAME = /^(?:blobs\/[a-z0-9]+\/[a-f0-9]{32,128}|index\.json|oci-layout|manifest\.json|repositories|[a-f0-9]{64}(?:\.json|\.tar|\/(?:layer\.tar|json|VERSION))|[a-f0-9]{64})$/;

/** Unpacks an archive into `dir`, accepting only layout names. */
async function unpackArchive(input: NodeJS.ReadableStream, dir: string): Promise<void> {
  const tarStream = require('tar-stream') as typeof import('tar-stream');
  const { decompressor } = require('./codecs') as typeof import('./codecs');
  // Archives may be compressed (docker load accepts gzip/zstd too): sniff the first bytes.
  const src = input as import('node:stream').Readable;
  const first = await peek(src);
  const dec = decompressor(sniffCompression(first));
  const ex = tarStream.extract();
  src.on('error', (e: Error) => dec.destroy(e));
  dec.on('error', (e: Error) => ex.destroy(e));
  src.pipe(dec).pipe(ex);
  for await (const entry of ex) {
    const name = entry.header.name.replace(/^\.\//, '').replace(/\/$/, '');
    if (entry.header.type === 'directory' || name === '' || name === '.' || /^blobs(\/[a-z0-9]+)?$/.test(name) || /^[a-f0-9]{64}$/.test(name)) {
      entry.resume();
      continue;
    }
    if (entry.header.type !== 'file' || !SAFE_NAME.test(name)) {
      entry.resume();
      if (entry.header.type === 'symlink' || entry.header.type === 'link') continue; // legacy archives link shared layers; ignored
      throw ERR_ARCHIVE_INVALID(`unexpected entry ${JSON.stringify(entry.header.name)} (${entry.header.type})`);
    }
    const target = join(dir, name);
    await mkdir(dirname(target), { recursive: true });
    await pipeline(entry, createWriteStream(target, { mode: 0o600 }));
  }
}

/** The first chunk of `src`, pushed back so the stream still starts at byte 0. */
function peek(src: import('node:stream').Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const done = () => {
      src.off('readable', onReadable);
      src.off('end', onEnd);
      src.off('error', onError);
    };
    const onReadable = () => {
      const c = src.read() as Buffer | null;
      if (c === null) return;
      done();
      src.unshift(c);
      resolve(c);
    };
    const onEnd = () => {
      done();
      resolve(Buffer.alloc(0));
    };
    const onError = (e: Error) => {
      done();
      reject(e);
    };
    src.on('readable', onReadable);
    src.on('end', onEnd);
    src.on('error', onError);
  });
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Creates (or finds) an image from a config and layer files whose diff ids the config names,
 * verifying every layer. Shared by load; `manifest` keeps the original manifest when known.
 */
async function storeImage(engine: Engine, configBytes: Buffer, layerFiles: Array<{ file: string; mediaType?: string }>, repoTags: string[], manifest?: { bytes: Buffer; desc: Descriptor }): Promise<StoredImage> {
  const driver = engine.storage();
  const store = new ImageStore(engine.metadata);
  const id = sha256Digest(configBytes);
  const config = parseConfig(configBytes, id, layerFiles.length);
  const chains = chainIds(config.rootfs.diff_ids);
  const layers: LayerInfo[] = [];
  const existing = await store.byId(id);
  for (let i = 0; i < layerFiles.length; i++) {
    const { file, mediaType } = layerFiles[i]!;
    const fh = await (await import_fs()).open(file, 'r');
    const head = Buffer.alloc(4);
    await fh.read(head, 0, 4, 0);
    await fh.close();
    const compression = mediaType && layerKind(mediaType) ? layerKind(mediaType)!.compression : sniffCompression(head);
    const mt = mediaType ?? (compression === 'gzip' ? MT.ociLayerGzip : compression === 'zstd' ? MT.ociLayerZstd : MT.ociLayer);
    const blob = await storeFileBlob(engine, file, mt);
    let size = existing?.layers[i]?.size ?? 0;
    if (!(await snapshotExists(driver, chains[i]!))) {
      const r = await unpackLayer(driver, engine.content.createReadStream(blob.digest), compression, i ? chains[i - 1]! : '', { chainId: chains[i]!, expectDiffId: config.rootfs.diff_ids[i]! });
      size = r.size;
    } else if (!size) {
      size = (await driver.usage(chains[i]!).catch(() => ({ size: 0 }))).size;
    }
    layers.push({ diffId: config.rootfs.diff_ids[i]!, chainId: chains[i]!, size, blob });
  }
  await engine.content.put(configBytes, { digest: id, size: configBytes.length });
  if (manifest) await engine.content.put(manifest.bytes, { digest: manifest.desc.digest, size: manifest.desc.size });
  return store.withLock(async () => {
    const all = await store.all();
    const cur = all.find((x) => x.id === id);
    const rec: StoredImage = cur ?? {
      id, repoTags: [], repoDigests: [], config, layers, sources: {}, created: config.created ?? isoTime(), stored: Date.now(),
      size: layers.reduce((a, l) => a + l.size, 0), storageDriver: driver.name,
    };
    if (manifest && !rec.manifest) rec.manifest = manifest.desc;
    for (const t of repoTags) {
      if (!rec.repoTags.includes(t)) {
        await store.moveTag(all, id, t);
        rec.repoTags.push(t);
      }
    }
    await store.put(rec);
    return rec;
  });
}

const import_fs = async () => require('node:fs/promises') as typeof import('node:fs/promises');

export interface LoadResult { loaded: Array<{ id: string; tags: string[] }> }

export async function loadImages(engine: Engine, input: NodeJS.ReadableStream): Promise<LoadResult> {
  const dir = join(engine.tmpDir, `load-${process.pid}-${randomBytes(6).toString('hex')}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    await unpackArchive(input, dir);
    const loaded: LoadResult['loaded'] = [];
    const inDir = (p: string) => {
      const clean = p.replace(/^\.\//, '');
      if (!SAFE_NAME.test(clean)) throw ERR_ARCHIVE_INVALID(`path ${JSON.stringify(p)} is not a layout path`);
      return join(dir, clean);
    };
    // OCI manifests by config digest, to keep the original manifest (and its digest).
    const ociByConfig = new Map<string, { bytes: Buffer; desc: Descriptor; manifest: ImageManifest }>();
    const ociEntries: Array<{ desc: Descriptor; tags: string[] }> = [];
    if (await exists(join(dir, 'index.json'))) {
      const idx = parseManifest(await readFile(join(dir, 'index.json')), MT.ociIndex, 'index.json');
      if (idx.kind !== 'index') throw ERR_ARCHIVE_INVALID('index.json is not an image index');
      const walk = async (descs: Descriptor[], tags: string[], depth: number): Promise<void> => {
        for (const d of descs) {
          const p = join(dir, 'blobs', 'sha256', d.digest.slice(7));
          if (!(await exists(p))) continue;
          const bytes = await readFile(p);
          if (sha256Digest(bytes) !== d.digest) throw ERR_ARCHIVE_INVALID(`blob ${d.digest} does not match its digest`);
          const own = tagsOf(d);
          const parsed = parseManifest(bytes, d.mediaType, d.digest);
          if (parsed.kind === 'index') {
            if (depth > 2) continue;
            const pick = selectManifest(parsed.index, hostPlatform());
            await walk(pick ? [pick] : parsed.index.manifests, [...tags, ...own], depth + 1);
          } else {
            ociByConfig.set(parsed.manifest.config.digest, { bytes, desc: { mediaType: parsed.mediaType, digest: d.digest, size: bytes.length }, manifest: parsed.manifest });
            ociEntries.push({ desc: d, tags: [...tags, ...own] });
          }
        }
      };
      await walk(idx.index.manifests, [], 0);
    }
    if (await exists(join(dir, 'manifest.json'))) {
      let list: Array<{ Config: string; RepoTags?: string[] | null; Layers: string[] }>;
      try {
        list = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as typeof list;
        if (!Array.isArray(list)) throw new Error('not a list');
      } catch (e) {
        throw ERR_ARCHIVE_INVALID(`manifest.json: ${(e as Error).message}`);
      }
      for (const e of list) {
        if (typeof e?.Config !== 'string' || !Array.isArray(e.Layers)) throw ERR_ARCHIVE_INVALID('manifest.json entry without Config/Layers');
        const configBytes = await readFile(inDir(e.Config));
        const id = sha256Digest(configBytes);
        const oci = ociByConfig.get(id);
        const tags = (e.RepoTags ?? []).map((t) => familiarTagged(parseReference(t)));
        const files = e.Layers.map((l, i) => ({ file: inDir(l), ...(oci?.manifest.layers[i] && oci.manifest.layers[i]!.digest === `sha256:${l.split('/').pop()}` ? { mediaType: oci.manifest.layers[i]!.mediaType } : {}) }));
        const img = await storeImage(engine, configBytes, files, tags, oci ? { bytes: oci.bytes, desc: oci.desc } : undefined);
        loaded.push({ id: img.id, tags });
      }
    } else if (ociEntries.length) {
      for (const { tags } of ociEntries) void tags;
      const byConfig = new Map<string, string[]>();
      for (const e of ociEntries) {
        const m = [...ociByConfig.values()].find((x) => x.desc.digest === e.desc.digest)!;
        byConfig.set(m.manifest.config.digest, [...(byConfig.get(m.manifest.config.digest) ?? []), ...e.tags]);
      }
      for (const [configDigest, tags] of byConfig) {
        const m = ociByConfig.get(configDigest)!;
        const configBytes = await readFile(inDir(`blobs/sha256/${configDigest.slice(7)}`));
        if (sha256Digest(configBytes) !== configDigest) throw ERR_ARCHIVE_INVALID(`config ${configDigest} does not match its digest`);
        const files = m.manifest.layers.map((l) => ({ file: inDir(`blobs/sha256/${l.digest.slice(7)}`), mediaType: l.mediaType }));
        const unique = [...new Set(tags)];
        const img = await storeImage(engine, configBytes, files, unique, { bytes: m.bytes, desc: m.desc });
        loaded.push({ id: img.id, tags: unique });
      }
    } else {
      throw ERR_ARCHIVE_INVALID('neither manifest.json nor index.json found');
    }
    for (const l of loaded) {
      await engine.events.publish({ Type: 'image', Action: 'load', Actor: { ID: l.id, Attributes: { name: l.tags[0] ?? l.id } } });
    }
    return { loaded };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Tags from an index descriptor's annotations (`io.containerd.image.name` or a ref.name that is a full reference). */
function tagsOf(d: Descriptor): string[] {
  const a = d.annotations ?? {};
  const full = a['io.containerd.image.name'];
  if (full) {
    try {
      return [familiarTagged(parseReference(full))];
    } catch {
      /* ignore */
    }
  }
  const rn = a['org.opencontainers.image.ref.name'];
  if (rn && /[/:]/.test(rn)) {
    try {
      return [familiarTagged(parseReference(rn))];
    } catch {
      /* a bare tag without a repository cannot name an image */
    }
  }
  return [];
}

export async function openArchive(file: string): Promise<NodeJS.ReadableStream> {
  return createReadStream(file, { highWaterMark: 1 << 20 });
}
