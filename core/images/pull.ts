/**
 * `pull`: reference → registry → verified blobs in the content store → committed snapshots →
 * an image record.
 *
 * Lifecycle of one pull
 *   1. resolve: GET the manifest by tag or digest (exact bytes kept; by digest they are verified);
 *      an index / manifest list is narrowed to the wanted platform (host or `--platform`), then
 *      that manifest is fetched by digest. Schema 1 is refused; everything is validated.
 *   2. config: fetched, verified (size + sha256), validated against the manifest's layer count.
 *   3. layers, two overlapping streams of work:
 *      - downloads, at most 3 at a time (like Docker): registry → content-store ingest named
 *        `pull:<digest>` (resumable: a killed pull leaves the partial, the next one continues it
 *        with a Range request) → committed only when size and sha256 match the descriptor;
 *      - unpacks, in layer order, each as soon as its blob is committed and its parent snapshot
 *        exists: blob → decompress → sha256 of the tar (checked against the config's diff_ids) →
 *        storage driver apply → commit under the chain id (core/images/layers.ts).
 *      With a driver that offers DetachedApplier (overlay) every layer is instead unpacked while
 *      it downloads, all at once, each on a worker thread into a snapshot without a parent, then
 *      attached to its parent and committed in layer order once its blob verified
 *      (BERTH_PULL_PARALLEL=0 turns that off; a layer with a hardlink into a lower layer is
 *      applied the ordinary way after its parent).
 *      A layer whose chain id is already committed is not fetched ("Already exists").
 *   4. manifest(s) and config are stored as blobs, then the image record is written and the tag
 *      moved (under the images lock). Only now is the image visible.
 * Any failure stops the other downloads, removes the half-applied snapshot and leaves no record;
 * verified blobs and committed layers stay (content-addressed, reused by the next pull, removed by
 * prune when nothing references them).
 *
 * Decision record: docs/decisions/030-pull-pipeline.md.
 */
import type { Engine } from '../engine';
import type { CredentialLookup, Descriptor, ImageTransport, RepositorySession } from '../contracts/image-transport';
import { ERR_TRANSPORT_NONE } from '../contracts/image-transport';
import { isDetachedApplier, type StorageDriver } from '../contracts/storage';
import { PluginType } from '../plugin-types';
import { BerthError } from '../errors';
import { ERR_CONTENT_DIGEST_MISMATCH, ERR_CONTENT_SIZE_MISMATCH } from '../store/content';
import {
  chainIds, ERR_IMAGE_MANIFEST_INVALID, ERR_IMAGE_NO_PLATFORM, hostPlatform, ImageManifest, layerKind, OciImageConfig,
  parseConfig, parseManifest, parsePlatform, Platform, platformString, selectManifest,
} from './manifest';
import { familiarName, familiarTagged, parseReference, Reference, referenceString } from './reference';
import { cleanupStaleExtracts, snapshotExists, unpackLayer, unpackLayerDetached } from './layers';
import { allocPiece, handOff, PIECE } from './handoff';
import { ImageStore, LayerInfo, repoDigestOf, StoredImage } from './store';
import { isoTime } from '../time';

/** What pull reports; `cli/kit/progress.ts`'s Progress satisfies it. */
export interface PullProgress {
  update(id: string, status: string, p?: { current?: number; total?: number }): void;
  line(text: string): void;
}

export interface PullOptions {
  platform?: string;
  progress?: PullProgress;
  quiet?: boolean;
  credentials?: CredentialLookup;
  /** Parallel downloads (Docker: 3). */
  concurrency?: number;
  /** Registry hosts to reach over plain HTTP. */
  insecureRegistries?: string[];
}

export interface PullResult {
  image: StoredImage;
  ref: Reference;
  /** Digest of the top-level manifest or index. */
  digest: string;
  /** False when the image (and tag) were already there. */
  changed: boolean;
}

const shortId = (digest: string) => digest.slice(7, 19);

export function pickTransport(engine: Engine, repoName: string): ImageTransport {
  const all = engine.plugins.getAll<ImageTransport>(PluginType.ImageTransport);
  const t = all.find((x) => x.instance.handles(repoName));
  if (!t) throw ERR_TRANSPORT_NONE(repoName);
  return t.instance;
}

async function defaultCredentials(host: string) {
  const { getCredentials } = require('./auth') as typeof import('./auth');
  return getCredentials(host);
}

/** Reads a whole blob into memory with size/digest verification (manifests, configs). */
async function fetchSmallBlob(session: RepositorySession, desc: Descriptor, what: string): Promise<Buffer> {
  if (desc.size > 16 << 20) throw ERR_IMAGE_MANIFEST_INVALID(what, `config of ${desc.size} bytes is too large`);
  const s = await session.fetchBlob(desc);
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of s as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > desc.size) throw ERR_CONTENT_SIZE_MISMATCH(what, desc.size, `more than ${desc.size}`);
    parts.push(c);
  }
  const bytes = Buffer.concat(parts);
  if (bytes.length !== desc.size) throw ERR_CONTENT_SIZE_MISMATCH(what, desc.size, bytes.length);
  const { sha256Digest } = require('./manifest') as typeof import('./manifest');
  const got = sha256Digest(bytes);
  if (got !== desc.digest) throw ERR_CONTENT_DIGEST_MISMATCH(what, desc.digest, got);
  return bytes;
}

/** Runs `fns` with at most `n` at once; rejects with the first error (others keep running to their end). */
function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: Array<() => void> = [];
  return <T>(fn: () => Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      const run = () => {
        active++;
        fn().then(resolve, reject).finally(() => {
          active--;
          queue.shift()?.();
        });
      };
      if (active < n) run();
      else queue.push(run);
    });
}

const TRACE = process.env.BERTH_TRACE_PULL === '1';
const t0 = Date.now();
function trace(what: string): void {
  // performance.now() counts from the process's start: what came before the pull shows too
  if (TRACE) process.stderr.write(`[pull +${Date.now() - t0} ms, process +${performance.now().toFixed(0)} ms] ${what}\n`);
}

export async function pullImage(engine: Engine, input: string, opts: PullOptions = {}): Promise<PullResult> {
  trace('start');
  const ref = parseReference(input);
  const progress = opts.quiet ? undefined : opts.progress;
  const want: Platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
  const transport = pickTransport(engine, ref.name);
  const session = transport.open(ref.name, { actions: ['pull'], credentials: opts.credentials ?? defaultCredentials, insecure: (opts.insecureRegistries ?? []).includes(ref.domain) });
  const driver = engine.storage();
  const content = engine.content;
  const store = new ImageStore(engine.metadata);
  // Stale extract snapshots of dead pulls (and the driver's own leftovers) are removed while the
  // manifest and config are fetched; nothing below creates a snapshot before this is done.
  const staleRemoved = cleanupStaleExtracts(driver);
  staleRemoved.catch(() => undefined);
  prewarmApply(driver, store, ref);
  try {
    trace('session open');
    const top = await session.getManifest(ref.digest ?? ref.tag!);
    trace('manifest');
    progress?.line(`${ref.tag ?? ref.digest}: Pulling from ${ref.domain === 'docker.io' ? ref.path : ref.path}`);
    let parsed = parseManifest(top.bytes, top.descriptor.mediaType, referenceString(ref));
    let manifestBytes = top.bytes;
    let manifestDesc = top.descriptor;
    const extraBlobs: Array<{ bytes: Buffer; desc: Descriptor }> = [];
    if (parsed.kind === 'index') {
      const pick = selectManifest(parsed.index, want);
      if (!pick) throw ERR_IMAGE_NO_PLATFORM(platformString(want));
      const m = await session.getManifest(pick.digest);
      if (m.bytes.length !== pick.size) throw ERR_CONTENT_SIZE_MISMATCH(`manifest ${pick.digest}`, pick.size, m.bytes.length);
      extraBlobs.push({ bytes: top.bytes, desc: { ...top.descriptor, mediaType: parsed.mediaType } });
      parsed = parseManifest(m.bytes, pick.mediaType, `${referenceString(ref)} (${platformString(want)})`);
      if (parsed.kind !== 'manifest') throw ERR_IMAGE_MANIFEST_INVALID(pick.digest, 'an index inside an index is not supported');
      manifestBytes = m.bytes;
      manifestDesc = { mediaType: parsed.mediaType, digest: m.descriptor.digest, size: m.bytes.length };
    } else {
      manifestDesc = { ...manifestDesc, mediaType: parsed.mediaType };
    }
    const manifest: ImageManifest = parsed.manifest;
    const configBytes = await fetchSmallBlob(session, manifest.config, `config ${manifest.config.digest}`);
    trace('config');
    const config: OciImageConfig = parseConfig(configBytes, manifest.config.digest, manifest.layers.length);
    if (parsed.kind === 'manifest' && top.descriptor.digest === manifestDesc.digest && opts.platform) {
      // A single-platform manifest: Docker checks the config's platform against --platform.
      if (config.os !== want.os || config.architecture !== want.architecture) {
        throw ERR_IMAGE_NO_PLATFORM(`${platformString(want)} (image is ${config.os}/${config.architecture})`);
      }
    }
    const diffIds = config.rootfs.diff_ids;
    const chains = chainIds(diffIds);
    const imageId = manifest.config.digest;

    // The manifest(s) and the config go into the content store while the layers download (their
    // fsyncs are off the pull's tail); nothing names them before the image record is written, and
    // a failed pull leaves them as unreferenced blobs, as it leaves its verified layer blobs.
    const metadataStored = (async () => {
      for (const b of extraBlobs) await putBlob(engine, b.bytes, b.desc.digest);
      await putBlob(engine, manifestBytes, manifestDesc.digest);
      await putBlob(engine, configBytes, imageId);
    })();
    metadataStored.catch(() => undefined);
    await staleRemoved;
    trace('stale extracts');
    const layers: LayerInfo[] = manifest.layers.map((l, i) => ({ diffId: diffIds[i]!, chainId: chains[i]!, size: 0, blob: { mediaType: l.mediaType, digest: l.digest, size: l.size } }));
    const present: boolean[] = [];
    for (const l of layers) present.push(await snapshotExists(driver, l.chainId));
    trace('present');
    const existing = await store.byId(imageId);
    // Docker prints no layer lines when the image is already complete.
    const quietLayers = !!existing && existing.sources[ref.name] === top.descriptor.digest && present.every(Boolean);
    for (let i = 0; i < layers.length; i++) {
      if (present[i]) {
        if (!quietLayers) progress?.update(shortId(layers[i]!.blob!.digest), 'Already exists');
        const known = existing?.layers[i];
        if (known) layers[i]!.size = known.size;
        else layers[i]!.size = (await driver.usage(layers[i]!.chainId).catch(() => ({ size: 0 }))).size;
      } else progress?.update(shortId(layers[i]!.blob!.digest), 'Pulling fs layer');
    }

    // Downloads: at most `concurrency` at once, each resolving when its blob is committed.
    // Stream mode (default; BERTH_PULL_STREAM=0 turns it off): a layer whose parent snapshot
    // already exists is unpacked while it downloads (tee), committed only after its blob verified.
    // Parallel mode (a DetachedApplier driver, overlay; BERTH_PULL_PARALLEL=0 turns it off): every
    // layer is stream-applied while it downloads, on its own worker thread, into a snapshot
    // without a parent; it is attached to its parent and committed once that one is committed.
    const stream = process.env.BERTH_PULL_STREAM !== '0';
    const detachedDriver = stream && process.env.BERTH_PULL_PARALLEL !== '0' && isDetachedApplier(driver) ? driver : undefined;
    const limit = limiter(opts.concurrency ?? 3);
    const abort = new AbortController();
    const streamed = new Map<number, Promise<{ size: number; lentChunks?: number }>>();
    /** Settles when layer i is committed (or present): its chain id can be a parent. */
    const ready: Array<Promise<unknown>> = [];
    const parentOf = (i: number) => async (): Promise<string> => {
      if (i === 0) return '';
      await ready[i - 1];
      return layers[i - 1]!.chainId;
    };
    const downloads = layers.map((l, i) => {
      ready[i] = Promise.resolve();
      if (present[i]) return Promise.resolve();
      if (stream && (detachedDriver || i === 0 || present[i - 1])) {
        const d = l.blob!;
        const id = shortId(d.digest);
        const kind = layerKind(d.mediaType)!;
        const { PassThrough } = require('node:stream') as typeof import('node:stream');
        const pass = new PassThrough({ highWaterMark: 4 << 20 });
        pass.on('error', () => undefined);
        let unpackError: Error | undefined;
        let downloaded!: Promise<void>;
        const started = new Promise<void>((res) => {
          downloaded = limit(async () => {
            res();
            if (abort.signal.aborted) throw abort.signal.reason;
            trace(`stream ${id} start`);
            await downloadBlob(engine, session, d, (cur) => progress?.update(id, 'Downloading', { current: cur, total: d.size }), abort.signal, async (c) => {
              // If the unpack failed, keep downloading (and verifying): a bad blob must be
              // reported as the digest mismatch it is, not as the decompression error it caused.
              if (pass.destroyed || unpackError) return;
              if (pass.write(c)) return;
              await new Promise<void>((res) => {
                const done = () => {
                  pass.off('drain', done);
                  pass.off('close', done);
                  res();
                };
                pass.on('drain', done);
                pass.on('close', done);
              });
            });
            pass.end();
            trace(`stream ${id} downloaded`);
            progress?.update(id, 'Download complete');
            progress?.update(id, 'Extracting');
          });
        });
        downloaded.catch((e: Error) => pass.destroy(e));
        const target = { chainId: l.chainId, expectDiffId: l.diffId };
        const unpack = detachedDriver
          ? started.then(async () => {
            const r = await unpackLayerDetached(detachedDriver, pass, kind.compression, target, parentOf(i), () => downloaded);
            if (r) return r;
            // The layer needs its parent's content (a hardlink to a lower file): stop teeing,
            // then apply it from the verified blob on the committed parent.
            trace(`stream ${id} needs its parent: applied after it`);
            pass.destroy();
            await downloaded;
            return unpackLayer(driver, content.createReadStream(d.digest), kind.compression, await parentOf(i)(), target);
          })
          : started.then(() => unpackLayer(driver, pass, kind.compression, i === 0 ? '' : layers[i - 1]!.chainId, target, undefined, () => downloaded, d.size));
        streamed.set(i, unpack);
        ready[i] = unpack;
        streamed.get(i)!.catch((e: Error) => {
          unpackError = e;
          pass.destroy(e);
        });
        return downloaded;
      }
      const d = l.blob!;
      const id = shortId(d.digest);
      progress?.update(id, 'Waiting');
      return limit(async () => {
        if (abort.signal.aborted) throw abort.signal.reason;
        if (await content.has(d.digest)) {
          progress?.update(id, 'Download complete');
          return;
        }
        trace(`download ${id} start`);
        await downloadBlob(engine, session, d, (cur) => progress?.update(id, 'Downloading', { current: cur, total: d.size }), abort.signal);
        trace(`download ${id} done`);
        progress?.update(id, 'Verifying Checksum');
        progress?.update(id, 'Download complete');
      });
    });
    downloads.forEach((p) => p.catch(() => undefined));
    try {
      for (let i = 0; i < layers.length; i++) {
        const l = layers[i]!;
        if (present[i]) continue;
        const id = shortId(l.blob!.digest);
        const viaStream = streamed.get(i);
        if (viaStream) {
          const [u, dl] = await Promise.allSettled([viaStream, downloads[i]]);
          if (dl.status === 'rejected') throw dl.reason;
          if (u.status === 'rejected') throw u.reason;
          const r = u.value;
          l.size = r.size;
          trace(`stream ${id} unpacked${r.lentChunks ? `, ${r.lentChunks} lent chunks` : ''}`);
          progress?.update(id, 'Pull complete');
          continue;
        }
        await downloads[i];
        const kind = layerKind(l.blob!.mediaType)!;
        trace(`unpack ${id} start`);
        // Docker reports extraction in compressed bytes read, against the blob's size.
        let done = 0;
        const r = await unpackLayer(driver, content.createReadStream(l.blob!.digest), kind.compression, i === 0 ? '' : layers[i - 1]!.chainId, { chainId: l.chainId, expectDiffId: l.diffId }, progress ? (n) => {
          done += n;
          progress.update(id, 'Extracting', { current: done, total: l.blob!.size });
        } : undefined);
        l.size = r.size;
        trace(`unpack ${id} done${r.lentChunks ? `, ${r.lentChunks} lent chunks` : ''}`);
        progress?.update(id, 'Pull complete');
      }
    } catch (e) {
      abort.abort(e);
      await Promise.allSettled([...downloads, ...streamed.values(), metadataStored]);
      throw e;
    }

    trace('layers committed');
    // Metadata blobs, then the record.
    await metadataStored;
    trace('metadata blobs stored');

    const topDigest = top.descriptor.digest;
    const repoTag = ref.tag !== undefined ? familiarTagged(ref) : undefined;
    const repoDigest = repoDigestOf(ref, topDigest);
    let changed = false;
    const image = await store.withLock(async () => {
      const all = await store.all();
      const cur = all.find((x) => x.id === imageId);
      const img: StoredImage = cur ?? {
        id: imageId, repoTags: [], repoDigests: [], config, layers, manifest: manifestDesc, sources: {},
        created: config.created ?? isoTime(), stored: Date.now(),
        size: layers.reduce((a, l) => a + l.size, 0), storageDriver: driver.name,
      };
      if (!cur) changed = true;
      if (!img.manifest) img.manifest = manifestDesc;
      img.layers = layers.map((l, i) => ({ ...l, size: l.size || img.layers[i]?.size || 0 }));
      img.size = img.layers.reduce((a, l) => a + l.size, 0);
      img.sources[ref.name] = topDigest;
      // One digest per repository, as Docker keeps it.
      const prefix = `${familiarName(ref)}@`;
      img.repoDigests = [...img.repoDigests.filter((d) => !d.startsWith(prefix)), repoDigest];
      if (repoTag && !img.repoTags.includes(repoTag)) {
        img.repoTags.push(repoTag);
        changed = true;
        await store.moveTag(all, imageId, repoTag);
      }
      await store.put(img);
      return img;
    });
    trace('image record stored');
    await sweepIngests(engine, [...extraBlobs.map((b) => b.desc.digest), manifestDesc.digest, imageId, ...layers.map((l) => l.blob!.digest)]);
    trace('ingests swept');
    progress?.line(`Digest: ${topDigest}`);
    const shown = repoTag ?? `${familiarName(ref)}@${topDigest}`;
    progress?.line(changed ? `Status: Downloaded newer image for ${shown}` : `Status: Image is up to date for ${shown}`);
    await engine.events.publish({ Type: 'image', Action: 'pull', Actor: { ID: repoTag ?? repoDigest, Attributes: { name: familiarName(ref) } } });
    trace('event published');
    return { image, ref, digest: topDigest, changed };
  } finally {
    await staleRemoved.catch(() => undefined);
    session.close();
  }
}

/**
 * Lets a DetachedApplier driver start its apply threads while the manifest is fetched, unless
 * the reference is already in the store (a pull that is most likely "up to date" would pay for
 * threads it never uses). Runs beside the pull; never fails it. BERTH_APPLY_PREWARM=0: never.
 */
function prewarmApply(driver: StorageDriver, store: ImageStore, ref: Reference): void {
  if (!isDetachedApplier(driver) || typeof driver.prewarm !== 'function' || process.env.BERTH_APPLY_PREWARM === '0') return;
  if (process.env.BERTH_PULL_STREAM === '0' || process.env.BERTH_PULL_PARALLEL === '0') return;
  const prewarm = driver.prewarm.bind(driver);
  void (async () => {
    const want = ref.digest !== undefined ? repoDigestOf(ref, ref.digest) : familiarTagged(ref);
    const known = (await store.all()).some((i) => i.repoTags.includes(want) || i.repoDigests.includes(want));
    if (!known) prewarm();
  })().catch(() => undefined);
}

/**
 * Removes leftover ingest dirs of this image's blobs. The content store removes an ingest dir
 * after publishing its blob; a process killed in between leaves a dir without meta that no later
 * ingest of that ref would touch (the blob exists, so nobody ingests it again), and that
 * `system check` reports. Opening the ingest (without waiting for a live writer) and aborting it
 * removes such a dir.
 */
async function sweepIngests(engine: Engine, digests: string[]): Promise<void> {
  for (const d of new Set(digests)) {
    // Most pulls leave nothing: opening an ingest only to abort it costs a few fsyncs each.
    if (!engine.content.hasIngest(`pull:${d}`)) continue;
    try {
      const w = await engine.content.ingest(`pull:${d}`, { timeoutMs: 0 });
      await w.abort();
    } catch {
      /* a live writer holds it: it will clean up itself */
    }
  }
}

/**
 * Stores a small verified blob under the deterministic ingest ref `pull:<digest>` (not
 * `content.put`'s random one): a pull killed mid-write leaves an ingest dir the next pull of
 * the same blob reuses and completes, instead of a stray one.
 */
async function putBlob(engine: Engine, bytes: Buffer, digest: string): Promise<void> {
  const content = engine.content;
  if (await content.has(digest)) return;
  const w = await content.ingest(`pull:${digest}`, { expected: { digest, size: bytes.length }, timeoutMs: 600_000 });
  try {
    await w.write(bytes);
  } catch (e) {
    await w.abort();
    throw e;
  }
  await w.commit();
}

/**
 * One blob from the registry into the content store, verified, resuming a partial ingest left by a
 * killed pull. A digest or size mismatch discards the partial (the content store does that) and
 * fails with ERR_CONTENT_DIGEST_MISMATCH / ERR_CONTENT_SIZE_MISMATCH.
 */
export async function downloadBlob(engine: Engine, session: RepositorySession, d: Descriptor, onProgress: (current: number) => void, signal?: AbortSignal, tee?: (chunk: Buffer) => Promise<void>): Promise<void> {
  const content = engine.content;
  const w = await content.ingest(`pull:${d.digest}`, { expected: { digest: d.digest, size: d.size }, resume: true, timeoutMs: 600_000 });
  if (await content.has(d.digest)) {
    // Another process finished it while we waited for the ingest lock.
    await w.abort();
    if (tee) for await (const c of content.createReadStream(d.digest) as AsyncIterable<Buffer>) await tee(c);
    return;
  }
  // A resumed partial: the unpacker gets the whole blob from the store once it is verified.
  const deferTee = tee && w.offset > 0 ? tee : undefined;
  if (deferTee) tee = undefined;
  let ok = false;
  try {
    // Network chunks (≈ 64 KiB) are gathered into pieces of up to PIECE bytes: one ingest write,
    // one hash update and one hand-off to the unpacker per piece, not per chunk. `cur` counts the
    // bytes written (and teed); a piece is flushed before a retry resumes after it.
    let cur = w.offset;
    let piece: Buffer | undefined;
    let used = 0;
    let writeFailed: unknown;
    const flush = async (): Promise<void> => {
      if (!piece || used === 0) return;
      const p = used === piece.length ? piece : piece.subarray(0, used);
      piece = undefined;
      used = 0;
      try {
        await w.write(p);
      } catch (e) {
        writeFailed ??= e;
        throw e;
      }
      cur += p.length;
      onProgress(cur);
      // The writer and the hash are done with `p`: the unpacker may take its memory over.
      if (tee) await tee(handOff(p));
    };
    // The transport may read the body straight into pieces it asks us for (FetchOptions.alloc):
    // a whole one is then flushed as it is, with no copy.
    const offered = new WeakSet<Buffer>();
    const alloc = () => {
      const p = allocPiece(PIECE);
      offered.add(p);
      return p;
    };
    // A connection cut mid-body is resumed from where it stopped (a Range request), 3 times.
    for (let attempt = 0; cur < d.size; attempt++) {
      try {
        const body = await session.fetchBlob(d, { offset: cur, alloc, ...(signal ? { signal } : {}) });
        let cut: unknown;
        try {
          for await (const c of body as AsyncIterable<Buffer>) {
            if (used === 0 && c.length === PIECE && d.size - cur >= PIECE && offered.has(c)) {
              piece = c;
              used = PIECE;
              await flush();
              continue;
            }
            let off = 0;
            while (off < c.length) {
              piece ??= allocPiece(Math.min(PIECE, Math.max(d.size - cur, 1)));
              const n = Math.min(c.length - off, piece.length - used);
              c.copy(piece, used, off, off + n);
              used += n;
              off += n;
              if (used === piece.length) await flush();
            }
          }
        } catch (e) {
          if (writeFailed !== undefined) throw e;
          cut = e;
        }
        // What arrived before a cut is kept: the retry asks for the bytes after it.
        await flush();
        if (cut !== undefined) throw cut;
        if (cur < d.size) throw new Error(`connection closed after ${cur} of ${d.size} bytes`);
      } catch (e) {
        const transient = writeFailed === undefined && !(e instanceof BerthError) && !signal?.aborted;
        if (!transient || attempt >= 3) throw e;
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      }
    }
    await w.commit();
    ok = true;
    if (deferTee) for await (const c of content.createReadStream(d.digest) as AsyncIterable<Buffer>) await deferTee(c);
  } finally {
    // A failed commit already discarded the ingest; an interrupted download keeps its partial
    // (resumable) unless the error was a verification failure.
    if (!ok) await w.abort().catch(() => undefined);
  }
}

/** The storage driver the image service uses. */
export function driverOf(engine: Engine): StorageDriver {
  return engine.storage();
}
