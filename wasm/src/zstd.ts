/**
 * Zstandard (RFC 8878) decompression over wasm/assembly/zstd.ts.
 *
 *   stream.pipe(createZstdDecompress()).pipe(tarExtract)      zstdDecompressSync(buf)
 *
 * Frames with or without content size, raw/RLE/compressed blocks, skippable frames and several
 * frames in a row are decoded; the XXH64 content checksum is verified when present (unless
 * `checksum: false`: for a caller that verifies the output itself). A frame whose
 * window exceeds `maxWindowSize` (default 128 MiB, as the zstd CLI) is ERR_WASM_LIMIT_EXCEEDED
 * before any memory is grown; frames needing a dictionary are ERR_WASM_UNSUPPORTED.
 */
import { TransformOptions } from 'node:stream';
import { BerthError } from '../../core/errors';
import { DecoderCore, DecoderOptions, DecoderTransform, StreamDecoderExports } from './decoder';
import { ERR_WASM_CORRUPT_INPUT, ERR_WASM_LIMIT_EXCEEDED, ERR_WASM_UNSUPPORTED } from './errors';
import { recycleInstance, reuseOrInstantiate } from './loader';

export interface ZstdExports extends StreamDecoderExports {
  init(maxWindowSize: number): void;
  setVerifyChecksum(on: number): void;
}

export const DEFAULT_MAX_WINDOW = 128 * 1024 * 1024;
/** The largest window this decoder accepts at all (windowLog 31). */
export const ABSOLUTE_MAX_WINDOW = 2 ** 31;

export interface ZstdOptions extends DecoderOptions {
  /** Largest window (bytes of history) a frame may ask for; default 128 MiB. */
  maxWindowSize?: number;
  stream?: TransformOptions;
}

const MESSAGES: Record<number, [kind: 'corrupt' | 'limit' | 'unsupported', text: string]> = {
  [-1]: ['corrupt', 'unknown frame magic'],
  [-2]: ['corrupt', 'reserved bit set in frame header'],
  [-3]: ['unsupported', 'frame requires a dictionary'],
  [-4]: ['limit', 'frame window exceeds maxWindowSize'],
  [-5]: ['limit', 'frame needs more memory than the module can grow to'],
  [-6]: ['corrupt', 'reserved block type'],
  [-7]: ['corrupt', 'block larger than the maximum block size'],
  [-8]: ['corrupt', 'invalid literals section'],
  [-9]: ['corrupt', 'invalid Huffman table'],
  [-10]: ['corrupt', 'corrupted Huffman-coded literals'],
  [-11]: ['corrupt', 'invalid sequences section header'],
  [-12]: ['corrupt', 'invalid FSE table'],
  [-13]: ['corrupt', 'corrupted sequences bitstream'],
  [-14]: ['corrupt', 'offset beyond the decoded history'],
  [-15]: ['corrupt', 'literal length beyond the literals'],
  [-16]: ['corrupt', 'content size does not match the frame header'],
  [-17]: ['corrupt', 'content checksum (XXH64) mismatch'],
  [-18]: ['corrupt', 'unexpected end of input'],
  [-19]: ['corrupt', 'window size out of range'],
  [-20]: ['corrupt', 'decoded block larger than the window / block maximum'],
};

function mapError(code: number): BerthError {
  const [kind, text] = MESSAGES[code] ?? (['corrupt', `decoder error ${code}`] as const);
  if (kind === 'limit') return ERR_WASM_LIMIT_EXCEEDED('zstd', text);
  if (kind === 'unsupported') return ERR_WASM_UNSUPPORTED('zstd', text);
  return ERR_WASM_CORRUPT_INPUT('zstd', text);
}

export function newZstdCore(opts: ZstdOptions = {}): DecoderCore {
  const win = opts.maxWindowSize ?? DEFAULT_MAX_WINDOW;
  if (!(win >= 1024 && win <= ABSOLUTE_MAX_WINDOW)) {
    throw ERR_WASM_LIMIT_EXCEEDED('zstd', `maxWindowSize must be within [1 KiB, 2 GiB], got ${win}`);
  }
  // a warm instance of a previous clean stream when there is one: init resets all stream state
  const ex = reuseOrInstantiate<ZstdExports>('zstd');
  ex.init(win >>> 0);
  ex.setVerifyChecksum(opts.checksum === false ? 0 : 1);
  return new DecoderCore(ex, 'zstd', mapError, opts.maxOutputLength ?? Number.POSITIVE_INFINITY, {
    onFinished: () => recycleInstance('zstd', ex),
  });
}

export function createZstdDecompress(opts: ZstdOptions = {}): DecoderTransform {
  return new DecoderTransform(newZstdCore(opts), opts.stream, opts.lend === true);
}

export function zstdDecompressSync(input: Uint8Array, opts: ZstdOptions = {}): Buffer {
  return newZstdCore(opts).decodeAll(input);
}
