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
 * Backend choice: sha256 and gzip are node's (native SHA-NI and zlib, faster than WASM here;
 * `BERTH_CODECS=wasm` forces wasm/src's). zstd uses wasm/src's decoder when that build exists
 * (`BERTH_ZSTD=process` forces the helper), else `zstd -dc` (Debian's zstd) in a child process,
 * because Node 20's zlib has no zstd.
 */
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { Duplex, PassThrough, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { defineError } from '../errors';
import type { Compression } from './manifest';

export const ERR_IMAGE_DECOMPRESS = defineError('ERR_IMAGE_DECOMPRESS_FAILED', 'invalidArgument', 'cannot decompress %s layer: %s');

export interface ImageHasher {
  update(b: Uint8Array): unknown;
  digest(): Buffer;
}

interface WasmIndex {
  hasher?: (choice?: string) => ImageHasher;
  decompressor?: (kind: 'gzip' | 'zstd', choice?: string) => Transform;
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

/** A Transform decompressing `kind`. */
export function decompressor(kind: Compression): Transform | Duplex {
  if (kind === 'none') return new PassThrough({ highWaterMark: 1 << 20 });
  const w = wasm();
  if (kind === 'zstd' && w?.decompressor && process.env.BERTH_ZSTD !== 'process') {
    try {
      return w.decompressor('zstd');
    } catch {
      /* fall back to the helper */
    }
  }
  if (kind === 'gzip') {
    if (choice().gunzip === 'wasm' && w?.decompressor) return w.decompressor('gzip', 'wasm');
    return createGunzip({ chunkSize: 256 * 1024 });
  }
  return zstdProcess();
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
  constructor(private readonly onChunk?: (n: number) => void) {
    super({ highWaterMark: 1 << 20 });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null, d?: Buffer) => void): void {
    this.hasher.update(chunk);
    this.bytes += chunk.length;
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
