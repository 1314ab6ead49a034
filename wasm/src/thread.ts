/**
 * Decompression on a worker thread, so that hashing (sha256 of the compressed stream and of the
 * tar) and tar parsing on the main thread overlap with decoding: on a host with two or more cores
 * the pull pipeline then costs about the decompression alone (see bench/wasm.ts).
 *
 *   src.pipe(createThreadedDecompressor('gzip')).pipe(tarExtract)
 *
 * The Transform copies each input chunk into a transferable buffer (the caller's buffers may be
 * pooled), keeps at most IN_FLIGHT bytes queued in the worker, and acknowledges output only as
 * its readable side drains, so memory stays bounded on a decompression bomb too. Errors arrive as
 * the same BerthError codes as the in-thread decoders.
 */
import { packageFile } from '../../core/paths';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Transform, TransformCallback, TransformOptions } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { BerthError, ErrorClass } from '../../core/errors';
import { ERR_WASM_ABORT, ERR_WASM_CORRUPT_INPUT, ERR_WASM_LIMIT_EXCEEDED, ERR_WASM_UNAVAILABLE, ERR_WASM_UNSUPPORTED } from './errors';
import type { ThreadWorkerData } from './thread-worker';

const IN_FLIGHT = 4 << 20;
const BATCH = 1 << 20;

const CLASSES: Record<string, ErrorClass> = {
  [ERR_WASM_CORRUPT_INPUT.code]: ERR_WASM_CORRUPT_INPUT.cls,
  [ERR_WASM_LIMIT_EXCEEDED.code]: ERR_WASM_LIMIT_EXCEEDED.cls,
  [ERR_WASM_UNSUPPORTED.code]: ERR_WASM_UNSUPPORTED.cls,
  [ERR_WASM_UNAVAILABLE.code]: ERR_WASM_UNAVAILABLE.cls,
  [ERR_WASM_ABORT.code]: ERR_WASM_ABORT.cls,
};

export interface ThreadedOptions {
  maxOutputLength?: number;
  maxWindowSize?: number;
  stream?: TransformOptions;
}

function workerScript(): { file: string | URL; eval: boolean } {
  const ts = __filename.endsWith('.ts');
  // Beside this file when compiled as a tree; from the bundle (dist/berth.js, __dirname = dist/)
  // it is the compiled file in dist/wasm/src.
  const beside = path.join(__dirname, `thread-worker${ts ? '.ts' : '.js'}`);
  const file = ts || fs.existsSync(beside) ? beside : packageFile('dist', 'wasm', 'src', 'thread-worker.js');
  if (!ts) return { file, eval: false };
  // Running from sources under a TypeScript loader: ESM loader hooks (`--import`, as tap uses) are
  // inherited by workers, so load the entry by URL; with a CommonJS require hook (`-r ts-node/register`)
  // go through require() instead.
  if (process.execArgv.some((a) => a.startsWith('--import') || a.startsWith('--loader') || a.startsWith('--experimental-loader'))) {
    return { file: pathToFileURL(file), eval: false };
  }
  return { file: `require(${JSON.stringify(file)});`, eval: true };
}

/** Idle workers kept for the next stream (unref'd: they never keep the process alive). */
const idle: Worker[] = [];
const MAX_IDLE = 2;

function acquire(): Worker {
  const w = idle.pop();
  if (w) {
    w.ref();
    return w;
  }
  const script = workerScript();
  return new Worker(script.file, { eval: script.eval });
}

function release(w: Worker, reusable: boolean): void {
  w.removeAllListeners('message');
  w.removeAllListeners('error');
  if (reusable && idle.length < MAX_IDLE) {
    w.on('error', () => {
      const i = idle.indexOf(w);
      if (i >= 0) idle.splice(i, 1);
    });
    w.unref();
    idle.push(w);
  } else {
    void w.terminate();
  }
}

export class ThreadedDecompressor extends Transform {
  private readonly worker: Worker;
  private released = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private inFlight = 0;
  private waiting: TransformCallback | undefined;
  private flushCb: TransformCallback | undefined;
  private unacked = 0;
  private ended = false;

  constructor(kind: ThreadWorkerData['kind'], opts: ThreadedOptions = {}) {
    super(opts.stream);
    const data: ThreadWorkerData = { kind };
    if (opts.maxOutputLength !== undefined) data.maxOutputLength = opts.maxOutputLength;
    if (opts.maxWindowSize !== undefined) data.maxWindowSize = opts.maxWindowSize;
    this.worker = acquire();
    this.worker.postMessage({ t: 'init', data });
    this.worker.on('message', (m: { t: string; buf?: ArrayBuffer; n?: number; code?: string; message?: string }) => this.onMessage(m));
    this.worker.on('error', (err) => this.destroy(ERR_WASM_ABORT.with({ cause: err }, kind, err.message)));
  }

  private onMessage(m: { t: string; buf?: ArrayBuffer; n?: number; code?: string; message?: string }): void {
    if (this.released) return;
    if (m.t === 'out') {
      const b = Buffer.from(m.buf!);
      if (this.push(b)) this.worker.postMessage({ t: 'ack', n: b.length });
      else this.unacked += b.length;
    } else if (m.t === 'consumed') {
      this.inFlight -= m.n ?? 0;
      if (this.waiting && this.inFlight < IN_FLIGHT) {
        const cb = this.waiting;
        this.waiting = undefined;
        cb();
      }
    } else if (m.t === 'end') {
      this.ended = true;
      this.free(true);
      const cb = this.flushCb;
      this.flushCb = undefined;
      if (cb) cb();
    } else if (m.t === 'error') {
      const code = m.code ?? ERR_WASM_ABORT.code;
      const err = new BerthError(code, CLASSES[code] ?? 'internal', m.message ?? 'decoder failed');
      this.ended = true;
      this.free(true);
      const cb = this.waiting ?? this.flushCb;
      this.waiting = undefined;
      this.flushCb = undefined;
      if (cb) cb(err);
      else this.destroy(err);
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    // batch small network chunks: one message per BATCH bytes keeps the per-message cost low
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.inFlight += chunk.length;
    // post when a batch is full, or at once when the worker has nothing queued (keep it busy)
    if (this.pendingBytes >= BATCH || this.inFlight === this.pendingBytes) this.post(false);
    if (this.inFlight < IN_FLIGHT) cb();
    else this.waiting = cb;
  }

  override _flush(cb: TransformCallback): void {
    this.flushCb = cb;
    this.post(true);
  }

  /** Sends the pending input as one transferable buffer (our own copy: callers' buffers may be pooled). */
  private post(final: boolean): void {
    const buf = new Uint8Array(this.pendingBytes);
    let o = 0;
    for (const c of this.pending) {
      buf.set(c, o);
      o += c.length;
    }
    this.pending = [];
    this.pendingBytes = 0;
    this.worker.postMessage({ t: 'data', buf: buf.buffer, final }, [buf.buffer]);
  }

  override _read(size: number): void {
    if (this.unacked > 0 && !this.released) {
      this.worker.postMessage({ t: 'ack', n: this.unacked });
      this.unacked = 0;
    }
    super._read(size);
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    this.free(this.ended); // a worker stopped mid-stream is not reused
    cb(err);
  }

  private free(reusable: boolean): void {
    if (this.released) return;
    this.released = true;
    release(this.worker, reusable);
  }
}

/** A Transform decompressing gzip ('gzip'), zlib, raw deflate or zstd on a worker thread. */
export function createThreadedDecompressor(kind: ThreadWorkerData['kind'], opts: ThreadedOptions = {}): ThreadedDecompressor {
  return new ThreadedDecompressor(kind, opts);
}
