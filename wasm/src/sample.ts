/**
 * The deterministic, tar-like sample the backend self-benchmark runs on: 1 MiB of 4 KiB blocks
 * mixing word-like text, structured binary (small values, zero runs) and incompressible bytes,
 * which gzip -6 compresses about 2.5:1, close to real layers. `zstdSample()` is that sample
 * (its first ZSTD_SAMPLE_SIZE bytes) compressed by the zstd CLI at level 3 (Node 20 has no zstd encoder); wasm/tools/gen-sample.js
 * regenerates it and test/wasm/select.test.ts checks it still decodes to `benchSample()`.
 */
import { ZSTD_SAMPLE_BASE64 } from './sample-zstd';

const WORDS = (
  'the of and to in is for on that with as by this be are from or it at an was which usr lib share ' +
  'doc man include bin etc config file data json value name type version license copyright python ' +
  'node module function return const let var import export default class static public private void'
).split(' ');

export const SAMPLE_SIZE = 1 << 20;
/** The zstd sample covers the first 128 KiB only, to keep the embedded frame small. */
export const ZSTD_SAMPLE_SIZE = 128 << 10;

let cached: Buffer | undefined;

export function benchSample(): Buffer {
  if (cached) return cached;
  const buf = Buffer.alloc(SAMPLE_SIZE);
  let s = 0x2545f491;
  const rnd = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
  for (let blk = 0; blk < SAMPLE_SIZE; blk += 4096) {
    const kind = rnd() % 8;
    let p = blk;
    const end = blk + 4096;
    if (kind < 4) {
      while (p < end) {
        const w = WORDS[rnd() % WORDS.length]!;
        p += buf.write(w + ((rnd() & 15) === 0 ? '\n' : ' '), p, end - p, 'latin1');
      }
    } else if (kind < 7) {
      while (p < end) {
        const r = rnd();
        if ((r & 7) === 0) p += 16 + (r >>> 28);
        else buf[p++] = (r >>> 8) & 63;
      }
    } else {
      for (; p < end; p++) buf[p] = rnd() & 255;
    }
  }
  return (cached = buf);
}

export function zstdSample(): Buffer {
  return Buffer.from(ZSTD_SAMPLE_BASE64, 'base64');
}
