/**
 * The hashing and decompression the image pipeline needs, behind one small interface so the
 * backend (node:crypto / node:zlib, the WASM modules of wasm/src, or a helper process) can change
 * without touching pull/load/import.
 *
 * Vocabulary
 * - *hasher*: `update(bytes)` then `digest()` once; sha256 only.
 * - *decompressor*: a Transform from compressed to plain bytes for `gzip` or `zstd`
 *   (`none` is a pass-through). Corrupt input is an error on the stream.
 *
 * Backend choice: sha256 is node's (native SHA-NI, faster than WASM here); gzip in-thread is the
 * measured one (`<root>/codecs.json`; `BERTH_CODECS=wasm|native` forces both). zstd uses wasm/src's
 * decoder when that build exists (`BERTH_ZSTD=process` forces the helper), else `zstd -dc`
 * (Debian's zstd) in a child process, because Node 20's zlib has no zstd.
 *
 * Not a backend: ISA-L's `igzip -dc` as a helper process (as containerd can use it). Measured on
 * the big image's three layers (198 MB of tar, 2026-11-28): igzip alone 0.22 s of CPU vs
 * node:zlib's 0.30, but fed through pipes from Node (compressed bytes in, tar out, 64 KiB pipe
 * buffers) the pull side paid 0.27 s more of its own CPU, so the total rose from 0.47 to 0.55
 * CPU-s and the wall time stayed the same (0.46 s).
 *
 * Threads (decision 010): on 2+ CPUs not saturated by other processes, a large
 * layer (gzip or zstd) is decoded by the WASM decoder on a worker thread while the main thread
 * hashes the compressed bytes and the tar and parses it, so the pipeline costs about the
 * decompression alone. Small layers (below the
 * threshold, from `sizeHint` or from the bytes seen before the stream ends) are decoded in-thread
 * and never start a worker. `BERTH_DECODE_THREAD=0` never uses a worker, `=1` always does; a
 * gzip backend forced to `native` (config or `BERTH_CODECS`) keeps node:zlib for every size.
 */
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { Duplex, PassThrough, Transform, type TransformCallback } from 'node:stream';
import { BerthError, defineError } from '../errors';
import { giveBack, isLent } from '../lent';
import type { Compression } from './manifest';

export const ERR_IMAGE_DECOMPRESS = defineError('ERR_IMAGE_DECOMPRESS_FAILED', 'invalidArgument', 'cannot decompress %s layer: %s');

export interface ImageHasher {
  update(b: Uint8Array): unknown;
  digest(): Buffer;
}

interface WasmIndex {
  hasher?: (choice?: string) => ImageHasher;
  decompressor?: (kind: 'gzip' | 'zstd', choice?: string, opts?: { checksum?: boolean; lend?: boolean }) => Transform;
}

type ThreadModule = typeof import('../../wasm/src/thread');
let threadModule: ThreadModule | null | undefined;
/** wasm/src/thread (adaptive worker-thread decoding), when the WASM build is there. */
function threads(): ThreadModule | null {
  if (threadModule !== undefined) return threadModule;
  threadModule = null;
  if (wasm()) {
    try {
      threadModule = require('../../wasm/src/thread') as ThreadModule;
    } catch {
      /* stay in-thread */
    }
  }
  return threadModule;
}

let wasmIndex: WasmIndex | null | undefined;
function wasm(): WasmIndex | null {
  if (wasmIndex !== undefined) return wasmIndex;
  try {
    wasmIndex = require('../../wasm/src/index') as WasmIndex;
  } catch {
    // The .wasm build is missing (a checkout that ran tsc only): native codecs, zstd -dc.
    wasmIndex = null;
  }
  return wasmIndex;
}

type CodecSetting = 'auto' | 'wasm' | 'native';
let selection: { cacheFile: string; sha256: CodecSetting; gunzip: CodecSetting } | undefined;
let chosen: { sha256: 'wasm' | 'native'; gunzip: 'wasm' | 'native' } | undefined;

/**
 * Where the self-benchmark's result is cached (the state root) and what the engine config
 * forces (`codecs: { sha256, gunzip }`). Called by the image service; `berth info` shows the
 * choice. `BERTH_CODECS=wasm|native` overrides both for experiments.
 */
export function configureCodecs(opts: { cacheFile: string; sha256: CodecSetting; gunzip: CodecSetting }): void {
  selection = opts;
  chosen = undefined;
}

/** The backend per operation: measured once per host (cached), or forced by config. */
function choice(): { sha256: 'wasm' | 'native'; gunzip: 'wasm' | 'native' } {
  const env = process.env.BERTH_CODECS;
  if (env === 'wasm' || env === 'native') return { sha256: env, gunzip: env };
  if (chosen) return chosen;
  chosen = { sha256: 'native', gunzip: 'native' };
  if (!selection || !wasm()) return chosen;
  const force: Record<string, 'wasm' | 'native'> = {};
  if (selection.sha256 !== 'auto') force.sha256 = selection.sha256;
  if (selection.gunzip !== 'auto') force.gunzip = selection.gunzip;
  try {
    const { selectBackends } = require('../../wasm/src/select') as typeof import('../../wasm/src/select');
    const b = selectBackends({ cacheFile: selection.cacheFile, force });
    chosen = { sha256: b.sha256.backend, gunzip: b.gunzip.backend };
  } catch {
    /* measuring failed: stay native */
  }
  return chosen;
}

/** A sha256 hasher of the chosen backend (native wins on SHA-NI hosts). */
export function sha256Hasher(): ImageHasher {
  const w = choice().sha256 === 'wasm' ? wasm() : null;
  if (w?.hasher) {
    try {
      return w.hasher('wasm');
    } catch {
      /* fall back */
    }
  }
  return createHash('sha256');
}

/**
 * How large layers are decoded: `thread` is 'auto' (on a worker thread when it is worth it: 2+
 * CPUs, other processes' load below twice their number or a calm last 10 s of CPU pressure, see
 * wasm/src/thread.ts `freeCore`), from
 * `threshold` compressed bytes (undefined: the adaptive default, 1 MiB with an idle worker, else
 * 16 MiB). `BERTH_DECODE_THREAD=0` never uses a worker, `=1` always does (every size).
 */
export function decodeThreadPlan(): { thread: boolean | 'auto'; threshold?: number } {
  const env = process.env.BERTH_DECODE_THREAD;
  if (env === '0' || !threads()) return { thread: false };
  if (env === '1') return { thread: true, threshold: 0 };
  return { thread: 'auto' };
}

/**
 * A Transform decompressing `kind`. `sizeHint` is the compressed size when known (a layer
 * descriptor's): a small layer is decoded in-thread at once, a large one starts its worker thread
 * while the first bytes arrive; without it the choice is made from the bytes seen. `onConsumed`,
 * `unchecked`, `lend`: see decodeHashApply.
 */
export function decompressor(kind: Compression, sizeHint?: number, onConsumed?: (chunk: Buffer) => void, unchecked = false, lend = false): Transform | Duplex {
  if (kind === 'none') return new PassThrough({ highWaterMark: 1 << 20 });
  const w = wasm();
  const plan = decodeThreadPlan();
  // the diff id covers the output: the format's own checksum is redundant (as node:zlib's below)
  const wasmOpts = { ...(unchecked ? { checksum: false } : {}), ...(lend ? { lend } : {}) };
  const adaptive = (k: 'gzip' | 'zstd', local?: () => Transform): Transform | undefined => {
    const t = plan.thread !== false ? threads() : null;
    if (!t) return undefined;
    try {
      return t.createAdaptiveDecompressor(k, {
        thread: plan.thread,
        ...(plan.threshold !== undefined ? { threshold: plan.threshold } : {}),
        ...(sizeHint !== undefined && sizeHint >= 0 ? { sizeHint } : {}),
        ...(local ? { local } : {}),
        ...wasmOpts,
      });
    } catch {
      return undefined;
    }
  };
  if (kind === 'zstd' && w?.decompressor && process.env.BERTH_ZSTD !== 'process') {
    const a = adaptive('zstd');
    if (a) return a;
    try {
      return w.decompressor('zstd', undefined, wasmOpts);
    } catch {
      /* fall back to the helper */
    }
  }
  if (kind === 'gzip') {
    // node:zlib loads on first use: every `run` loads this module (the image service configures
    // it), few of them decompress anything.
    const nativeGunzip = (): Transform => {
      const g = unchecked
        ? new (require('./unchecked-gunzip') as typeof import('./unchecked-gunzip')).UncheckedGunzip()
        : (require('node:zlib') as typeof import('node:zlib')).createGunzip({ chunkSize: 256 * 1024 });
      return onConsumed ? reportConsumed(g, onConsumed) : g;
    };
    const gunzip = choice().gunzip;
    const forcedNative = process.env.BERTH_CODECS === 'native' || (process.env.BERTH_CODECS === undefined && selection?.gunzip === 'native');
    if (!forcedNative) {
      // large layers: WASM inflate on a worker thread; small ones in-thread with the chosen backend
      const a = adaptive('gzip', gunzip === 'native' ? nativeGunzip : undefined);
      if (a) return a;
    }
    if (gunzip === 'wasm' && w?.decompressor) return w.decompressor('gzip', 'wasm', wasmOpts);
    return nativeGunzip();
  }
  return zstdProcess();
}

/**
 * Calls `onConsumed(chunk)` once node:zlib is done with an input chunk. Its Transform callback
 * runs only after the native stream has taken every input byte (lib/zlib.js processCallback:
 * "Finished with the chunk", the handle's reference dropped first) or without touching the chunk
 * at all (a closed handle), never while the thread pool still reads it; a failed write reports
 * nothing. So the chunk's memory may be reused from then on (core/images/handoff.ts pieces).
 */
function reportConsumed(g: Transform, onConsumed: (chunk: Buffer) => void): Transform {
  const transform = g._transform.bind(g);
  g._transform = (chunk: Buffer, enc: BufferEncoding, cb: TransformCallback) =>
    transform(chunk, enc, (err?: Error | null, data?: unknown) => {
      if (!err) onConsumed(chunk);
      cb(err, data);
    });
  return g;
}

/** `zstd -dc` as a Duplex: writes go to its stdin, reads come from its stdout. */
function zstdProcess(): Duplex {
  const child = spawn('zstd', ['-dcq'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  const d = Duplex.from({ writable: child.stdin, readable: child.stdout });
  let exited = false;
  child.on('error', (e) => d.destroy(ERR_IMAGE_DECOMPRESS.with({ cause: e }, 'zstd', e.message)));
  child.on('close', (code, signal) => {
    exited = true;
    if (code !== 0 && !d.destroyed) d.destroy(ERR_IMAGE_DECOMPRESS('zstd', stderr.trim() || `zstd exited with ${code ?? signal}`));
  });
  d.on('close', () => {
    if (!exited) child.kill('SIGKILL');
  });
  return d;
}

/** A pass-through Transform that hashes and counts what flows through it. */
export class HashingStream extends Transform {
  readonly hasher: ImageHasher = sha256Hasher();
  bytes = 0;
  /** Chunks that were lent (core/lent.ts): what `decodeHashApply` reports as `lentChunks`. */
  lentChunks = 0;
  constructor(private readonly onChunk?: (n: number) => void) {
    super({ highWaterMark: 1 << 20 });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null, d?: Buffer) => void): void {
    this.hasher.update(chunk);
    this.bytes += chunk.length;
    if (isLent(chunk)) this.lentChunks++;
    this.onChunk?.(chunk.length);
    cb(null, chunk);
  }
  digest(): string {
    return 'sha256:' + this.hasher.digest().toString('hex');
  }
}

/** Detects the compression of a tar stream from its first bytes (for `load` and `import`). */
export function sniffCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/**
 * The bytes a file stream will deliver (a content-store blob read by `createReadStream`: an
 * fs.ReadStream with its fd open), so a layer read from the store gets its size hint without
 * the caller passing one. Undefined for any other stream (a download in progress).
 */
export function fileStreamSize(s: NodeJS.ReadableStream): number | undefined {
  const { ReadStream, fstatSync, statSync } = require('node:fs') as typeof import('node:fs');
  if (!(s instanceof ReadStream)) return undefined;
  const r = s as unknown as { fd: number | null; path?: unknown; start?: number; end?: number; bytesRead: number };
  if (r.bytesRead > 0) return undefined;
  try {
    // the content store opens the fd first; a stream opened by path has none until it is open
    const size = typeof r.fd === 'number' ? fstatSync(r.fd).size : typeof r.path === 'string' ? statSync(r.path).size : undefined;
    if (size === undefined) return undefined;
    const start = r.start ?? 0;
    const end = r.end !== undefined && Number.isFinite(r.end) ? Math.min(r.end + 1, size) : size;
    return Math.max(0, end - start);
  } catch {
    return undefined;
  }
}

/**
 * The unpack pipeline's middle: `blob` → decompression (`compression`) → sha256 of the tar (its
 * diff id) → `apply(tar)`. Resolves once apply is done and every byte was hashed (trailing bytes
 * after the tar's end included); any stream error rejects it, even one apply never sees (a
 * destroyed input can leave a tar parser waiting forever). Decoder errors carry
 * ERR_IMAGE_DECOMPRESS_FAILED whichever backend decoded; errors from the source (a digest
 * mismatch, a cut connection — or any error `keepError` accepts) keep their own.
 * `sizeHint` is the blob's (compressed) size when known, the layer descriptor's (a blob read
 * from the content store as a file stream gives its own): it lets
 * `decompressor()` choose in-thread or worker at once, without holding the first bytes back to
 * decide and without the relay stream (see wasm/src/thread.ts createAdaptiveDecompressor).
 * `onConsumed` is told of each input chunk the decompressor is done with, where the backend can
 * say so (node:zlib's gunzip; other backends never call it): the apply worker recycles the
 * download's pieces with it.
 * `unchecked`: the caller compares the returned diff id with the digest the image names, so
 * gzip's CRC-32 is redundant and node:zlib's path skips it (unchecked-gunzip.ts; ISIZE is still
 * checked). Never set it where the diff id is only recorded (import of a bare tarball).
 * `lend`: `apply` gives every chunk of the tar back (core/lent.ts `giveBack`) once done with it,
 * as applyLayer does: a decoder on a worker thread may then hand out views into memory it
 * reuses (wasm/src/thread.ts) instead of fresh buffers. Chunks left after apply is done (a tar
 * ending before its stream) are given back here.
 * Used by layers.ts on the main thread and by the apply worker.
 */
/**
 * A pass-through that hands each chunk on from a microtask instead of from inside the write that
 * brought it. node:zlib inflates on libuv's pool, one output chunk at a time: its completion
 * callback pushes the chunk and only then gives zlib the next piece of work. Piped straight into
 * the hash and the tar apply, everything those do for the chunk ran inside that push, and zlib's
 * thread waited for it, then the apply thread waited for zlib: one layer kept at most one core
 * busy (the end of a pull, when one layer is left, had a core idle). Handed on from a microtask,
 * the chunk is consumed after the callback has already queued zlib's next step, so inflating
 * the next chunk and applying this one overlap. Order and backpressure are a Transform's.
 */
function decoupled(): Transform {
  return new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _e, cb) {
      queueMicrotask(() => cb(null, chunk));
    },
  });
}

export async function decodeHashApply<R>(
  blob: NodeJS.ReadableStream,
  compression: Compression,
  apply: (tar: NodeJS.ReadableStream) => Promise<R>,
  opts: { onBytes?: (n: number) => void; keepError?: (e: Error) => boolean; sizeHint?: number; onConsumed?: (chunk: Buffer) => void; unchecked?: boolean; lend?: boolean } = {},
): Promise<{ diffId: string; size: number; result: R; lentChunks: number }> {
  const { finished } = require('node:stream/promises') as typeof import('node:stream/promises');
  const dec = decompressor(compression, opts.sizeHint ?? fileStreamSize(blob), opts.onConsumed, opts.unchecked, opts.lend);
  const hashing = new HashingStream();
  // A failure anywhere ends up on `hashing`, which apply reads; a listener is always attached
  // so that an error arriving after apply has given up never becomes an uncaught exception.
  let fail: (e: Error) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined);
  hashing.on('error', (e: Error) => fail(e));
  blob.on('error', (e: Error) => dec.destroy(e));
  dec.on('error', (e: Error) => {
    const fromDecoder = !opts.keepError?.(e) && (!(e instanceof BerthError) || e.code.startsWith('ERR_WASM_'));
    const err = fromDecoder ? ERR_IMAGE_DECOMPRESS.with({ cause: e }, compression, e.message) : e;
    hashing.destroy(err);
    fail(err);
  });
  const relay = decoupled();
  relay.on('error', (e: Error) => hashing.destroy(e));
  if (opts.onBytes) {
    // Counts the bytes read from the blob (compressed), for progress.
    const onBytes = opts.onBytes;
    const count = new Transform({
      transform(chunk: Buffer, _e, cb) {
        onBytes(chunk.length);
        cb(null, chunk);
      },
    });
    count.on('error', (e: Error) => dec.destroy(e));
    blob.pipe(count).pipe(dec).pipe(relay).pipe(hashing);
  } else {
    blob.pipe(dec).pipe(relay).pipe(hashing);
  }
  const result = await Promise.race([apply(hashing), failed]);
  // The tar may end (two zero blocks) before the stream does: the diff id covers every byte.
  if (!hashing.readableEnded) {
    if (opts.lend) hashing.on('data', giveBack);
    hashing.resume();
    await Promise.race([finished(hashing), failed]);
  }
  return { diffId: hashing.digest(), size: hashing.bytes, result, lentChunks: hashing.lentChunks };
}
