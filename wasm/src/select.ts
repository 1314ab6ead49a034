/**
 * Backend selection: for each hot operation, use the fastest correct backend on this host.
 *
 *   const choice = selectBackends({ cacheFile: path.join(stateRoot, 'wasm-backends.json') });
 *   const h = hasher(choice.sha256);                 // node:crypto or WASM sha256
 *   const d = decompressor('gzip', choice.gunzip);    // node:zlib or WASM gunzip (a Transform)
 *   const z = decompressor('zstd', choice.zstd);      // always WASM on Node 20 (no zstd in zlib)
 *
 * The choice comes from a short self-benchmark (about 100–300 ms, synchronous) on a generated
 * tar-like sample, cached as JSON in `cacheFile` under a key made of the Node version, the CPU
 * model and the WASM build, so another host or a new build measures again. `force` pins a
 * backend per operation (configuration wins over measurement). If the WASM modules are missing
 * the native backends are used for sha256 and gzip; zstd then reports `available: false`.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { PassThrough, Transform } from 'node:stream';
import { createSha256, Hasher } from './sha256';
import { createGunzip, gunzipSync } from './inflate';
import { createZstdDecompress, zstdDecompressSync } from './zstd';
import { wasmAvailable, wasmBuildDir } from './loader';
import { ERR_WASM_UNSUPPORTED } from './errors';
import { decoderOptions } from './decoder';
import { createThreadedDecompressor } from './thread';
import { benchSample, zstdSample, ZSTD_SAMPLE_SIZE } from './sample';

export type HotOp = 'sha256' | 'gunzip' | 'zstd';
export type Backend = 'wasm' | 'native';

export interface BackendChoice {
  backend: Backend;
  /** Measured throughput of the chosen backend, MB/s (10^6 bytes) of uncompressed data. */
  mbps: number;
  /** Throughput of every backend measured for this operation. */
  measured: Partial<Record<Backend, number>>;
  /** False when no backend can perform the operation here (zstd without the WASM build). */
  available: boolean;
  /** Why the choice was made: `measured`, `cached`, `forced`, `only`. */
  reason: 'measured' | 'cached' | 'forced' | 'only';
}

export type Backends = Record<HotOp, BackendChoice>;

export interface SelectOptions {
  /** JSON cache of the measurement; missing or stale files are rewritten. */
  cacheFile?: string;
  /** Pins a backend per operation, e.g. `{ sha256: 'wasm' }`. */
  force?: Partial<Record<HotOp, Backend>>;
}

interface CacheFile {
  version: 1;
  key: string;
  measured: Record<HotOp, Partial<Record<Backend, number>>>;
}

function cpuModel(): string {
  const cpus = os.cpus();
  return cpus.length > 0 ? cpus[0]!.model.trim() : 'unknown';
}

function buildStamp(): string {
  const parts: string[] = [];
  for (const m of ['sha256', 'inflate', 'zstd']) {
    try {
      const st = fs.statSync(path.join(wasmBuildDir(), `${m}.wasm`));
      parts.push(`${m}:${st.size}:${Math.round(st.mtimeMs)}`);
    } catch {
      parts.push(`${m}:-`);
    }
  }
  return parts.join(',');
}

export function cacheKey(): string {
  return `node ${process.version} | ${os.arch()} | ${cpuModel()} | ${buildStamp()}`;
}

/** Best throughput (MB/s of `bytes`) of `fn` over `reps` runs, after one warm-up. */
function measure(bytes: number, reps: number, fn: () => void): number {
  fn();
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    const ns = Number(process.hrtime.bigint() - t0);
    if (ns < best) best = ns;
  }
  return Math.round((bytes / Math.max(best, 1)) * 1000);
}

/** Runs the self-benchmark. Exported for `berth info --refresh` and tests. */
export function measureBackends(): Record<HotOp, Partial<Record<Backend, number>>> {
  const sample = benchSample();
  const out: Record<HotOp, Partial<Record<Backend, number>>> = { sha256: {}, gunzip: {}, zstd: {} };
  out.sha256.native = measure(sample.length, 4, () => crypto.createHash('sha256').update(sample).digest());
  out.gunzip.native = 0;
  const gz = zlib.gzipSync(sample, { level: 6 });
  out.gunzip.native = measure(sample.length, 4, () => zlib.gunzipSync(gz, { chunkSize: 256 * 1024 }));
  if (wasmAvailable('sha256')) {
    out.sha256.wasm = measure(sample.length, 4, () => createSha256().update(sample).digest());
  }
  if (wasmAvailable('inflate')) {
    out.gunzip.wasm = measure(sample.length, 4, () => gunzipSync(gz));
  }
  if (wasmAvailable('zstd')) {
    const zs = zstdSample();
    out.zstd.wasm = measure(ZSTD_SAMPLE_SIZE * 4, 4, () => {
      for (let i = 0; i < 4; i++) zstdDecompressSync(zs);
    });
  }
  return out;
}

function readCache(file: string, key: string): CacheFile | undefined {
  try {
    const c = JSON.parse(fs.readFileSync(file, 'utf8')) as CacheFile;
    if (c && c.version === 1 && c.key === key && c.measured && typeof c.measured === 'object') return c;
  } catch {
    // missing or unreadable: measure again
  }
  return undefined;
}

function writeCache(file: string, c: CacheFile): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(c, null, 2) + '\n');
    fs.renameSync(tmp, file);
  } catch {
    // the cache is an optimisation; a read-only state root is not an error
  }
}

function choose(measured: Record<HotOp, Partial<Record<Backend, number>>>, reason: BackendChoice['reason'], force: SelectOptions['force']): Backends {
  const pick = (op: HotOp): BackendChoice => {
    const m = measured[op] ?? {};
    const forced = force?.[op];
    const candidates = (Object.keys(m) as Backend[]).filter((b) => typeof m[b] === 'number' && m[b]! > 0);
    if (op === 'zstd') {
      const ok = m.wasm !== undefined && m.wasm > 0;
      return { backend: 'wasm', mbps: m.wasm ?? 0, measured: m, available: ok, reason: forced === 'native' ? 'only' : ok ? reason : 'only' };
    }
    if (forced !== undefined && (forced === 'native' || m.wasm !== undefined)) {
      return { backend: forced, mbps: m[forced] ?? 0, measured: m, available: true, reason: 'forced' };
    }
    let best: Backend = 'native';
    for (const b of candidates) if ((m[b] ?? 0) > (m[best] ?? 0)) best = b;
    return { backend: best, mbps: m[best] ?? 0, measured: m, available: true, reason: candidates.length > 1 ? reason : 'only' };
  };
  return { sha256: pick('sha256'), gunzip: pick('gunzip'), zstd: pick('zstd') };
}

export function selectBackends(opts: SelectOptions = {}): Backends {
  const key = cacheKey();
  const cached = opts.cacheFile ? readCache(opts.cacheFile, key) : undefined;
  if (cached) return choose(cached.measured, 'cached', opts.force);
  const measured = measureBackends();
  if (opts.cacheFile) writeCache(opts.cacheFile, { version: 1, key, measured });
  return choose(measured, 'measured', opts.force);
}

/**
 * The choice recorded in `cacheFile` for this host, without measuring (for `berth info`);
 * undefined when there is none or it was measured on another host / build.
 */
export function readCachedChoice(cacheFile: string, force?: SelectOptions['force']): Backends | undefined {
  const cached = readCache(cacheFile, cacheKey());
  return cached ? choose(cached.measured, 'cached', force) : undefined;
}

type ChoiceLike = BackendChoice | Backend | undefined;
const backendOf = (c: ChoiceLike): Backend => (typeof c === 'string' ? c : c?.backend ?? 'native');

/** A SHA-256 hash object of the chosen backend. */
export function hasher(choice?: ChoiceLike): Hasher {
  return backendOf(choice) === 'wasm' ? createSha256() : (crypto.createHash('sha256') as unknown as Hasher);
}

export interface DecompressorOptions {
  /**
   * Decode WASM on a worker thread so hashing and tar parsing on the main thread overlap with it
   * (worth it for layers of a few MB and more on a host with 2+ cores). Native zlib already runs
   * on libuv's thread pool.
   */
  thread?: boolean;
  maxOutputLength?: number;
  /** `false`: the format's checksum is not verified (DecoderOptions.checksum); the native gunzip ignores it. */
  checksum?: boolean;
  /** Lend the output (DecoderOptions.lend, ThreadedOptions.lend); the native gunzip ignores it. */
  lend?: boolean;
}

/** A decompressing Transform of the chosen backend (zstd is always WASM). */
export function decompressor(kind: 'gzip' | 'zstd', choice?: ChoiceLike, opts: DecompressorOptions = {}): Transform {
  const limits = decoderOptions(opts);
  if (kind === 'zstd') return opts.thread ? createThreadedDecompressor('zstd', limits) : createZstdDecompress(limits);
  if (kind === 'gzip') {
    if (backendOf(choice) === 'native') {
      const native = zlib.createGunzip({ chunkSize: 256 * 1024, ...(opts.maxOutputLength !== undefined ? { maxOutputLength: opts.maxOutputLength } : {}) });
      return native;
    }
    return opts.thread ? createThreadedDecompressor('gzip', limits) : createGunzip(limits);
  }
  throw ERR_WASM_UNSUPPORTED('decompressor', `compression ${String(kind)}`);
}

export type CompressionKind = 'gzip' | 'zstd' | 'none';

/** Maps an OCI / Docker layer media type (or a kind) to its compression. */
export function compressionOf(mediaTypeOrKind: string): CompressionKind {
  const t = mediaTypeOrKind.trim().toLowerCase();
  if (t === 'gzip' || t === 'zstd' || t === 'none') return t;
  if (t === 'application/vnd.docker.image.rootfs.diff.tar.gzip' || t === 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip') return 'gzip';
  if (t === 'application/vnd.docker.image.rootfs.diff.tar' ) return 'none';
  const m = /^application\/vnd\.oci\.image\.layer\.(?:nondistributable\.)?v1\.tar(?:\+(gzip|zstd))?$/.exec(t);
  if (m) return (m[1] as 'gzip' | 'zstd' | undefined) ?? 'none';
  throw ERR_WASM_UNSUPPORTED('createDecompressor', `media type ${mediaTypeOrKind}`);
}

/**
 * A Transform that decompresses a layer of the given media type (or kind `gzip`/`zstd`/`none`),
 * using `backends` when given (else WASM for both, as benchmarked in bench/wasm.ts).
 */
export function createDecompressor(mediaTypeOrKind: string, backends?: Partial<Backends>, opts: DecompressorOptions = {}): Transform {
  const kind = compressionOf(mediaTypeOrKind);
  if (kind === 'none') return new PassThrough();
  if (kind === 'zstd') return decompressor('zstd', 'wasm', opts);
  return decompressor('gzip', backends?.gunzip ?? 'wasm', opts);
}
