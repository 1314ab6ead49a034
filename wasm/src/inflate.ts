/**
 * gzip / zlib / raw DEFLATE decompression over wasm/assembly/inflate.ts.
 *
 *   fs.createReadStream('layer.tar.gz').pipe(createGunzip()).pipe(tarExtract)
 *   gunzipSync(buf)   inflateSync(buf)   (zlib framing)
 *
 * gzip: multi-member streams are concatenated (as gzip -d does); zero bytes after the last member
 * are ignored, anything else is ERR_WASM_CORRUPT_INPUT. Every member's CRC-32 and ISIZE are
 * verified; FEXTRA/FNAME/FCOMMENT are skipped and FHCRC checked.
 */
import { BerthError } from '../../core/errors';
import { DecoderCore, DecoderOptions, DecoderTransform, StreamDecoderExports } from './decoder';
import { ERR_WASM_CORRUPT_INPUT, ERR_WASM_LIMIT_EXCEEDED, ERR_WASM_UNSUPPORTED } from './errors';
import { recycleInstance, reuseOrInstantiate } from './loader';
import { TransformOptions } from 'node:stream';
import * as zlib from 'node:zlib';

export interface InflateExports extends StreamDecoderExports {
  init(format: number): void;
  crc32(crc: number, ptr: number, len: number): number;
  setExternalCrc(mode: number): void;
  provideCrc(crc: number): void;
}

/** Node's zlib.crc32 (Node >= 20.15): about 2-3x the WASM slice-by-8 CRC on the copied output. */
const nativeCrc32: ((data: Uint8Array, value?: number) => number) | undefined =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function' ? (zlib as unknown as { crc32: (d: Uint8Array, v?: number) => number }).crc32 : undefined;

export type DeflateFormat = 'gzip' | 'zlib' | 'raw';
const FORMAT_CODE: Record<DeflateFormat, number> = { raw: 0, zlib: 1, gzip: 2 };

export interface InflateOptions extends DecoderOptions {
  /** Framing; default 'gzip' for createGunzip, 'zlib' for createInflate. */
  format?: DeflateFormat;
  /** Options for the Transform (highWaterMark …). */
  stream?: TransformOptions;
  /** Compute gzip CRC-32 inside WASM even when node:zlib's crc32 is available (tests, benchmarks). */
  wasmCrc?: boolean;
}

const MESSAGES: Record<number, string> = {
  [-1]: 'not in gzip format (bad magic)',
  [-2]: 'unknown compression method',
  [-3]: 'reserved header flags set',
  [-4]: 'header CRC mismatch',
  [-5]: 'gzip header longer than the input buffer',
  [-6]: 'invalid block type',
  [-7]: 'stored block length does not match its complement',
  [-8]: 'invalid Huffman code lengths',
  [-9]: 'invalid literal/length code',
  [-10]: 'invalid distance code',
  [-11]: 'invalid distance too far back',
  [-12]: 'CRC-32 mismatch',
  [-13]: 'length (ISIZE) mismatch',
  [-14]: 'Adler-32 mismatch',
  [-15]: 'unexpected end of input',
  [-16]: 'trailing garbage after the compressed stream',
  [-17]: 'zlib preset dictionary',
  [-18]: 'incorrect zlib header check',
};

function mapError(what: string) {
  return (code: number): BerthError => {
    const msg = MESSAGES[code] ?? `decoder error ${code}`;
    if (code === -17) return ERR_WASM_UNSUPPORTED(what, msg);
    return ERR_WASM_CORRUPT_INPUT(what, msg);
  };
}

export function newInflateCore(format: DeflateFormat, opts: InflateOptions = {}): DecoderCore {
  const max = opts.maxOutputLength ?? Number.POSITIVE_INFINITY;
  if (!(max >= 0)) throw ERR_WASM_LIMIT_EXCEEDED(format, 'maxOutputLength must be >= 0');
  // a warm instance of a previous clean stream when there is one: init resets all stream state,
  // and the CRC mode (not part of init) is set below either way
  const ex = reuseOrInstantiate<InflateExports>('inflate');
  ex.init(FORMAT_CODE[format]);
  const onFinished = (): void => recycleInstance('inflate', ex);
  const crc32 = opts.wasmCrc ? undefined : nativeCrc32;
  if (format === 'gzip' && opts.checksum === false) {
    ex.setExternalCrc(2);
    return new DecoderCore(ex, format, mapError(format), max, { onFinished });
  }
  if (format !== 'gzip' || crc32 === undefined) {
    ex.setExternalCrc(0);
    return new DecoderCore(ex, format, mapError(format), max, { onFinished });
  }
  // gzip: CRC-32 of each member computed natively over the output as it is copied out
  ex.setExternalCrc(1);
  let crc = 0;
  return new DecoderCore(ex, format, mapError(format), max, {
    onFinished,
    onOutput: (b) => {
      crc = crc32(b, crc);
    },
    onNeedCheck: () => {
      ex.provideCrc(crc >>> 0);
      crc = 0;
    },
  });
}

/** A Transform decompressing gzip (or, with opts.format, zlib / raw deflate). */
export function createGunzip(opts: InflateOptions = {}): DecoderTransform {
  return new DecoderTransform(newInflateCore(opts.format ?? 'gzip', opts), opts.stream, opts.lend === true);
}

/** A Transform decompressing zlib-framed data (or opts.format). */
export function createInflate(opts: InflateOptions = {}): DecoderTransform {
  return new DecoderTransform(newInflateCore(opts.format ?? 'zlib', opts), opts.stream, opts.lend === true);
}

export function gunzipSync(input: Uint8Array, opts: InflateOptions = {}): Buffer {
  return newInflateCore('gzip', opts).decodeAll(input);
}

export function inflateSync(input: Uint8Array, opts: DecoderOptions = {}): Buffer {
  return newInflateCore('zlib', opts).decodeAll(input);
}

export function inflateRawSync(input: Uint8Array, opts: DecoderOptions = {}): Buffer {
  return newInflateCore('raw', opts).decodeAll(input);
}
