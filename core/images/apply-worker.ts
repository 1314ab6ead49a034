/**
 * Worker-thread side of core/images/apply-thread.ts: decompresses one layer blob, hashes the tar
 * (its diff id) and applies it (applyLayer) from the chunks the main thread posts, so that several
 * layers' decompression, hashing and file creation run on several cores.
 * Messages: see ToApplyWorker / FromApplyWorker. Every input chunk is acknowledged once the
 * decompressor has taken it (the main thread keeps at most a few MiB in flight).
 * Codecs: codecs.ts as configured by the environment (BERTH_CODECS, BERTH_ZSTD); the engine
 * config's measured choice is not forwarded (native when nothing forces WASM).
 */
import { parentPort } from 'node:worker_threads';
import { PassThrough } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ApplyOptions } from './apply';
import type { Compression } from './manifest';
import type { ApplyResult } from '../contracts/storage';

/** Main thread → worker. */
export type ToApplyWorker =
  | { t: 'init'; dir: string; opts: ApplyOptions; compression: Compression }
  | { t: 'data'; buf: ArrayBuffer }
  | { t: 'end' }
  | { t: 'abort'; message: string };

/** Worker → main thread. */
export type FromApplyWorker =
  | { t: 'ack'; n: number }
  | { t: 'done'; result: ApplyResult; diffId: string; size: number }
  | { t: 'error'; code?: string; cls?: string; message: string };

const port = parentPort;

async function run(input: PassThrough, dir: string, opts: ApplyOptions, compression: Compression): Promise<{ result: ApplyResult; diffId: string; size: number }> {
  const { applyLayer } = require('./apply') as typeof import('./apply');
  const { decompressor, HashingStream, ERR_IMAGE_DECOMPRESS } = require('./codecs') as typeof import('./codecs');
  const { BerthError } = require('../errors') as typeof import('../errors');
  const dec = decompressor(compression);
  const hashing = new HashingStream();
  let fail: (e: Error) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined);
  hashing.on('error', (e: Error) => fail(e));
  input.on('error', (e: Error) => dec.destroy(e));
  dec.on('error', (e: Error) => {
    // The codes layers.ts gives: one for every decoder backend; input errors keep theirs.
    const fromDecoder = !(e instanceof BerthError) || e.code.startsWith('ERR_WASM_');
    const err = e === inputError ? e : fromDecoder ? ERR_IMAGE_DECOMPRESS.with({ cause: e }, compression, e.message) : e;
    hashing.destroy(err);
    fail(err);
  });
  input.pipe(dec).pipe(hashing);
  const result = await Promise.race([applyLayer(hashing, dir, opts), failed]);
  // The tar may end (two zero blocks) before the stream does: the diff id covers every byte.
  if (!hashing.readableEnded) {
    hashing.resume();
    await Promise.race([finished(hashing), failed]);
  }
  return { result, diffId: hashing.digest(), size: hashing.bytes };
}

let inputError: Error | undefined;

if (port) {
  const input = new PassThrough({ highWaterMark: 1 << 20 });
  input.on('error', () => undefined);
  port.on('message', (m: ToApplyWorker) => {
    switch (m.t) {
      case 'init':
        run(input, m.dir, m.opts, m.compression).then(
          (r) => port.postMessage({ t: 'done', ...r } satisfies FromApplyWorker),
          (e: Error & { code?: string; cls?: string }) => port.postMessage({ t: 'error', code: e.code, cls: e.cls, message: e.message } satisfies FromApplyWorker),
        );
        break;
      case 'data': {
        const n = m.buf.byteLength;
        input.write(Buffer.from(m.buf), () => port.postMessage({ t: 'ack', n } satisfies FromApplyWorker));
        break;
      }
      case 'end':
        input.end();
        break;
      case 'abort':
        inputError = new Error(m.message);
        input.destroy(inputError);
        break;
    }
  });
}
