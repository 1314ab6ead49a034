/**
 * Creating images from layer tars: `createImage` (used by commit, import, load and build) and
 * `importTarball` (`berth import FILE|- [REPO[:TAG]] [-c CHANGE] [-m MESSAGE]`).
 *
 * Lifecycle of createImage
 *   for each layer tar (plain, gzip or zstd — sniffed from its first bytes):
 *     1. the file is copied into the content store as a blob (its digest computed on the way);
 *     2. the blob is unpacked on the previous chain id (core/images/layers.ts), which computes
 *        its diff id; the chain id follows;
 *   then the config (the parent's, with `config` merged over it, the new diff ids and history
 *   appended) is stored as a blob, and the image record written (tag moved under the lock).
 * A failure leaves no record; blobs and committed layers written so far are content-addressed
 * and removed by prune.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Engine } from '../engine';
import { defineError } from '../errors';
import type { Descriptor } from '../contracts/image-transport';
import { sniffCompression } from './codecs';
import { chainIds, hostPlatform, MT, OciImageConfig, sha256Digest, type Compression } from './manifest';
import { unpackLayer } from './layers';
import { familiarTagged, parseReference } from './reference';
import { ImageStore, LayerInfo, StoredImage } from './store';
import type { CreateImageOptions } from './service';
import { isoTime } from '../time';

export const ERR_IMAGE_CHANGE_INVALID = defineError('ERR_IMAGE_CHANGE_INVALID', 'invalidArgument', 'invalid change %s: %s');

const LAYER_MEDIA: Record<Compression, string> = { none: MT.ociLayer, gzip: MT.ociLayerGzip, zstd: MT.ociLayerZstd };

async function sniffFile(file: string): Promise<Compression> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return sniffCompression(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/** Copies a file into the content store; returns its descriptor. */
export async function storeFileBlob(engine: Engine, file: string, mediaType: string): Promise<Descriptor> {
  const w = await engine.content.ingest(`import:${process.pid}:${randomBytes(8).toString('hex')}`);
  try {
    for await (const c of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) await w.write(c);
  } catch (e) {
    await w.abort();
    throw e;
  }
  const info = await w.commit();
  return { mediaType, digest: info.digest, size: info.size };
}

export async function createImage(engine: Engine, opts: CreateImageOptions): Promise<StoredImage> {
  const driver = engine.storage();
  const store = new ImageStore(engine.metadata);
  const parent = opts.parent ? await store.byId(opts.parent.id) : undefined;
  const layers: LayerInfo[] = parent ? parent.layers.map((l) => ({ ...l })) : [];
  const diffIds = layers.map((l) => l.diffId);
  for (const { tarPath } of opts.layers) {
    const compression = await sniffFile(tarPath);
    const blob = await storeFileBlob(engine, tarPath, LAYER_MEDIA[compression]);
    const parentChain = layers.length ? layers[layers.length - 1]!.chainId : '';
    const r = await unpackLayer(driver, engine.content.createReadStream(blob.digest), compression, parentChain, {
      chainIdFor: (diffId) => chainIds([...diffIds, diffId])[diffIds.length]!,
    });
    diffIds.push(r.diffId);
    layers.push({ diffId: r.diffId, chainId: chainIds(diffIds)[diffIds.length - 1]!, size: r.size, blob });
  }
  const now = isoTime();
  const host = hostPlatform();
  const base: OciImageConfig = parent
    ? structuredClone(parent.config)
    : { architecture: host.architecture, os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] }, history: [] };
  const { config: inner, rootfs: _r, history: _h, ...top } = opts.config;
  void _r;
  void _h;
  const cfg: OciImageConfig = {
    ...base,
    ...top,
    created: now,
    config: { ...(base.config ?? {}), ...(inner ?? {}) },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: [
      ...(base.history ?? []),
      ...(opts.history ?? opts.layers.map(() => ({ created_by: '' }))).map((h) => ({ created: now, ...h })),
    ],
  };
  if (!cfg.architecture) cfg.architecture = host.architecture;
  if (!cfg.os) cfg.os = 'linux';
  const bytes = Buffer.from(JSON.stringify(cfg));
  const id = sha256Digest(bytes);
  await engine.content.put(bytes, { digest: id, size: bytes.length });
  const repoTag = opts.tag ? familiarTagged(parseReference(opts.tag)) : undefined;
  const img = await store.withLock(async () => {
    const all = await store.all();
    const cur = all.find((x) => x.id === id);
    const rec: StoredImage = cur ?? {
      id, repoTags: [], repoDigests: [], config: cfg, layers, sources: {}, created: now, stored: Date.now(),
      size: layers.reduce((a, l) => a + l.size, 0), storageDriver: driver.name,
      ...(parent ? { parent: parent.id } : {}),
    };
    if (repoTag && !rec.repoTags.includes(repoTag)) {
      await store.moveTag(all, id, repoTag);
      rec.repoTags.push(repoTag);
    }
    await store.put(rec);
    return rec;
  });
  if (opts.event) {
    await engine.events.publish({ Type: 'image', Action: opts.event, Actor: { ID: id, Attributes: { name: repoTag ?? id } } });
  }
  return img;
}

/** Parses `-c/--change` Dockerfile instructions into config fields (Docker's allowed subset). */
export function applyChanges(changes: string[], into: NonNullable<OciImageConfig['config']>): NonNullable<OciImageConfig['config']> {
  const cfg = { ...into };
  const list = (v: string): string[] => {
    const t = v.trim();
    if (t.startsWith('[')) {
      try {
        const j = JSON.parse(t) as unknown;
        if (Array.isArray(j) && j.every((x) => typeof x === 'string')) return j;
      } catch {
        /* shell form */
      }
    }
    return ['/bin/sh', '-c', t];
  };
  for (const ch of changes) {
    const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(ch);
    if (!m) throw ERR_IMAGE_CHANGE_INVALID(JSON.stringify(ch), 'want INSTRUCTION ARGS');
    const ins = m[1]!.toUpperCase();
    const arg = m[2]!.trim();
    switch (ins) {
      case 'CMD': cfg.Cmd = list(arg); break;
      case 'ENTRYPOINT': cfg.Entrypoint = list(arg); break;
      case 'USER': cfg.User = arg; break;
      case 'WORKDIR': cfg.WorkingDir = arg; break;
      case 'STOPSIGNAL': cfg.StopSignal = arg; break;
      case 'ENV': {
        const env = [...(cfg.Env ?? [])];
        const pairs = arg.includes('=') ? arg.split(/\s+/).map((p) => p.replace(/^"|"$/g, '')) : [arg.replace(/\s+/, '=')];
        for (const p of pairs) {
          const k = p.split('=')[0]!;
          const i = env.findIndex((e) => e.split('=')[0] === k);
          if (i >= 0) env[i] = p;
          else env.push(p);
        }
        cfg.Env = env;
        break;
      }
      case 'LABEL': {
        const labels = { ...(cfg.Labels ?? {}) };
        for (const p of arg.match(/(?:[^\s"]+|"[^"]*")+/g) ?? []) {
          const i = p.indexOf('=');
          if (i < 0) throw ERR_IMAGE_CHANGE_INVALID(JSON.stringify(ch), 'LABEL wants key=value');
          labels[p.slice(0, i).replace(/^"|"$/g, '')] = p.slice(i + 1).replace(/^"|"$/g, '');
        }
        cfg.Labels = labels;
        break;
      }
      case 'EXPOSE': {
        const ports = { ...(cfg.ExposedPorts ?? {}) };
        for (const p of arg.split(/\s+/)) ports[p.includes('/') ? p : `${p}/tcp`] = {};
        cfg.ExposedPorts = ports;
        break;
      }
      case 'VOLUME': {
        const vols = { ...(cfg.Volumes ?? {}) };
        for (const v of arg.startsWith('[') ? (JSON.parse(arg) as string[]) : arg.split(/\s+/)) vols[v] = {};
        cfg.Volumes = vols;
        break;
      }
      default:
        throw ERR_IMAGE_CHANGE_INVALID(JSON.stringify(ch), `${ins} is not supported (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL)`);
    }
  }
  return cfg;
}

/**
 * `berth import`: a rootfs tarball (file path or a readable stream) becomes a one-layer image.
 * A stream is first spooled to the engine's tmp dir (the layer is read twice: store, unpack).
 */
export async function importTarball(
  engine: Engine,
  src: string | NodeJS.ReadableStream,
  opts: { tag?: string; changes?: string[]; message?: string; platform?: string } = {},
): Promise<StoredImage> {
  let file: string;
  let tmp: string | undefined;
  if (typeof src === 'string') file = src;
  else {
    tmp = `${engine.tmpDir}/import-${process.pid}-${randomBytes(6).toString('hex')}`;
    await pipeline(src, createWriteStream(tmp, { mode: 0o600 }));
    file = tmp;
  }
  try {
    const config = applyChanges(opts.changes ?? [], {});
    const plat = opts.platform ? (require('./manifest') as typeof import('./manifest')).parsePlatform(opts.platform) : hostPlatform();
    return await createImage(engine, {
      layers: [{ tarPath: file }],
      config: { architecture: plat.architecture, os: plat.os, config },
      history: [{ created_by: '', comment: opts.message ?? `Imported from ${typeof src === 'string' ? src : '-'}` }],
      ...(opts.tag ? { tag: opts.tag } : {}),
      event: 'import',
    });
  } finally {
    if (tmp) await rm(tmp, { force: true });
  }
}
