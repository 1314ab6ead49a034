/**
 * Worker-thread side of core/images/apply-thread.ts: decompresses layer blobs, hashes their tars
 * (diff ids) and applies them (applyLayer) from the chunks the main thread posts, so that several
 * layers' decompression, hashing and file creation run on several cores. One worker may run
 * several layers at once (jobs, by id).
 * Messages: see ToApplyWorker / FromApplyWorker. Every input chunk is acknowledged once the
 * decompressor has taken it (the main thread keeps at most a few MiB in flight).
 * Codecs: codecs.ts as configured by the environment (BERTH_CODECS, BERTH_ZSTD); the engine
 * config's measured choice is not forwarded (native when nothing forces WASM). Decoding stays in
 * this worker (BERTH_DECODE_THREAD defaults to 0 here): the apply worker already is the thread
 * off the main one, node:zlib inflates on libuv's pool anyway, and a nested WASM decode worker
 * per apply worker costs an isolate start (~100 ms CPU) and a message hop per chunk on a machine
 * the pull already keeps busy (record 030, session 3: −6 % wall on the big image).
 */
import { parentPort, type MessagePort } from 'node:worker_threads';
import { PassThrough } from 'node:stream';
import type { ApplyOptions } from './apply';
import type { Compression } from './manifest';
import { PIECE } from './handoff';
import type { ApplyResult } from '../contracts/storage';

/** Main thread → worker. A worker runs several jobs (layers) at once, told apart by `id`. */
export type ToApplyWorker =
  /** `unchecked`: the caller checks the diff id against the image's (codecs.ts decodeHashApply). */
  | { t: 'init'; id: number; dir: string; opts: ApplyOptions; compression: Compression; unchecked?: boolean }
  | { t: 'data'; id: number; buf: ArrayBuffer }
  | { t: 'end'; id: number }
  | { t: 'abort'; id: number; message: string }
  /** Serve as the file writer of another worker's detached apply into `dir` (apply.ts serveFileWriter). */
  | { t: 'writer'; id: number; dir: string; port: MessagePort };

/** Worker → main thread. */
export type FromApplyWorker =
  | { t: 'ack'; id: number; n: number }
  | { t: 'done'; id: number; result: ApplyResult; diffId: string; size: number }
  | { t: 'error'; id: number; code?: string; cls?: string; message: string }
  /** Input buffers (transferred back) the decompressor is done with: the main thread reuses them (handoff.ts recyclePiece). */
  | { t: 'free'; bufs: ArrayBuffer[] }
  /** A `writer` job ended (its port closed). */
  | { t: 'served'; id: number };

interface Job { input: PassThrough; inputError?: Error }

const port = parentPort;
// A worker has its own copy of process.env: this changes nothing on the main thread.
if (port) process.env.BERTH_DECODE_THREAD ??= '0';


/** Sends a whole input buffer the decompressor is done with back to the main thread. */
function giveBack(chunk: Buffer): void {
  const ab = chunk.buffer;
  if (!port || !(ab instanceof ArrayBuffer) || chunk.byteOffset !== 0 || chunk.byteLength !== PIECE || ab.byteLength !== PIECE) return;
  port.postMessage({ t: 'free', bufs: [ab] } satisfies FromApplyWorker, [ab]);
}

async function run(job: Job, dir: string, opts: ApplyOptions, compression: Compression, unchecked: boolean): Promise<{ result: ApplyResult; diffId: string; size: number }> {
  const { applyLayer } = require('./apply') as typeof import('./apply');
  const { decodeHashApply } = require('./codecs') as typeof import('./codecs');
  // An input error sent by the main thread (a digest mismatch, a cut download) keeps its own code.
  // Every input buffer came from the main thread (transferred) and is referenced only by the
  // input stream and the decompressor: once the decompressor has consumed one it goes back.
  return decodeHashApply(job.input, compression, (tar) => applyLayer(tar, dir, opts), { keepError: (e) => e === job.inputError, onConsumed: giveBack, unchecked, lend: true });
}

if (port) {
  // The first job's modules load while the worker waits for it (a prewarmed pool: while the main
  // thread fetches the manifest), not once its data is already queued.
  setImmediate(() => {
    require('./apply');
    require('./codecs');
    (require('./tar-reader') as typeof import('./tar-reader')).tarHeaderCodec();
  });
  const jobs = new Map<number, Job>();
  port.on('message', (m: ToApplyWorker) => {
    if (m.t === 'writer') {
      const { serveFileWriter } = require('./apply') as typeof import('./apply');
      let served: Promise<unknown>;
      try {
        served = serveFileWriter(m.port, m.dir);
      } catch {
        m.port.close(); // the applier sees the port close and writes its files itself
        served = Promise.resolve();
      }
      void served.then(() => port.postMessage({ t: 'served', id: m.id } satisfies FromApplyWorker));
      return;
    }
    if (m.t === 'init') {
      const job: Job = { input: new PassThrough({ highWaterMark: 1 << 20 }) };
      job.input.on('error', () => undefined);
      jobs.set(m.id, job);
      run(job, m.dir, m.opts, m.compression, m.unchecked === true).then(
        (r) => port.postMessage({ t: 'done', id: m.id, ...r } satisfies FromApplyWorker),
        (e: Error & { code?: string; cls?: string }) => port.postMessage({ t: 'error', id: m.id, code: e.code, cls: e.cls, message: e.message } satisfies FromApplyWorker),
      ).finally(() => jobs.delete(m.id));
      return;
    }
    const job = jobs.get(m.id);
    if (!job) return;
    if (m.t === 'data') {
      const n = m.buf.byteLength;
      job.input.write(Buffer.from(m.buf), () => port.postMessage({ t: 'ack', id: m.id, n } satisfies FromApplyWorker));
    } else if (m.t === 'end') {
      job.input.end();
    } else {
      job.inputError = new Error(m.message);
      job.input.destroy(job.inputError);
    }
  });
}
