/**
 * Worker-thread side of wasm/src/thread.ts: runs one decoder (DecoderCore) per stream and streams
 * its output back. Messages: see ToWorker / FromWorker. Input batches arrive as transferred
 * buffers and are transferred back with `consumed` once decoded (the main thread recycles them).
 * Output is credit-based: the worker stops decoding while more than OUT_CREDIT bytes are posted
 * but not yet acknowledged by the main thread.
 */
import { parentPort } from 'node:worker_threads';
import { BerthError } from '../../core/errors';
import { DecoderCore } from './decoder';
import { newInflateCore, DeflateFormat } from './inflate';
import { newZstdCore } from './zstd';
import { adoptModule, WasmModule } from './loader';

export interface ThreadWorkerData {
  kind: DeflateFormat | 'zstd';
  maxOutputLength?: number;
  maxWindowSize?: number;
  /** Output bytes posted and not acknowledged before the worker pauses (default OUT_CREDIT). */
  credit?: number;
}

/**
 * Main thread → worker. `data.buf` holds `len` bytes of input (absent for an empty final batch).
 * `init` may carry the WASM module the main thread compiled (`mod`, module `modName`).
 */
export type ToWorker =
  | { t: 'init'; data: ThreadWorkerData; modName?: string; mod?: WasmModule }
  | { t: 'data'; buf?: ArrayBuffer; len: number; final: boolean }
  | { t: 'ack'; n: number };

/**
 * Worker → main thread. Every message but `error` reports `n` more input bytes decoded and hands
 * back (transferred) the input buffers `ret` it is done with; `out` carries `len` bytes of output
 * in `buf` (transferred).
 */
export type FromWorker =
  | { t: 'out'; buf: ArrayBuffer; len: number; n: number; ret: ArrayBuffer[] }
  | { t: 'consumed'; n: number; ret: ArrayBuffer[] }
  | { t: 'end'; n: number; ret: ArrayBuffer[] }
  | { t: 'error'; code?: string; message?: string };

/**
 * Output bytes posted and not acknowledged before the worker pauses. 8 MiB (~9 ms of zstd
 * decoding) made the worker wait for acknowledgements ~120 times per 210 MB while the main thread
 * was busy with a burst of input or hashing (25–95 ms idle per run); 24 MiB absorbs those bursts.
 */
export const OUT_CREDIT = 24 << 20;
/** Output is packed into buffers of this size (fewer messages and allocations than one per piece). */
const OUT_PIECE = 1 << 20;
/** Input decoded since the last report, from which it is reported without waiting for output. */
const REPORT = 2 << 20;
const EMPTY = new Uint8Array(0);
/**
 * Input batch buffers (allocated by the main thread) kept, once their bytes are in WASM memory, to
 * carry output instead of going back empty. Their memory then circulates in the main thread's
 * malloc arena (allocated there for input, freed there once the tar consumer drops the output)
 * and is already paged in, where a piece allocated here is fresh memory to fault in page by page
 * and is freed into this thread's arena from the other thread: per 210 MB zstd layer the worker's
 * CPU fell from 230–243 to 210–212 ms and V8's helper threads' from 25–30 to 7–10 ms
 * (bench/README-wasm.md). At most this many are held; the rest go back as before.
 */
const SPARE_OUT = 4;
const spareOut: ArrayBuffer[] = [];

interface Batch {
  buf: Uint8Array;
  ab: ArrayBuffer | undefined;
  final: boolean;
}

/** An output piece: a kept input batch, else malloc'ed without zeroing. */
function newPiece(): Uint8Array {
  const spare = spareOut.pop();
  if (spare) return new Uint8Array(spare);
  // not zero-filled, and not from fresh zeroed pages as `new ArrayBuffer` is (~2x the copy time)
  const b = Buffer.allocUnsafe(OUT_PIECE);
  return b.byteOffset === 0 && b.buffer.byteLength === b.length ? b : new Uint8Array(OUT_PIECE);
}

function start(): void {
  const port = parentPort;
  if (!port) return;
  let core: DecoderCore | undefined;
  let queue: Batch[] = [];
  let current: Batch | undefined;
  let outstanding = 0;
  let credit = OUT_CREDIT;
  let failed = false;
  /** Output being packed. */
  let out: Uint8Array | undefined;
  let outLen = 0;
  /** Input decoded but not reported, and its buffers. */
  let unreported = 0;
  let ret: ArrayBuffer[] = [];
  const fail = (err: unknown): void => {
    failed = true;
    if (err instanceof BerthError) port.postMessage({ t: 'error', code: err.code, message: err.message } satisfies FromWorker);
    else port.postMessage({ t: 'error', code: 'ERR_WASM_ABORT', message: err instanceof Error ? err.message : String(err) } satisfies FromWorker);
  };
  /** A new stream: the same worker serves many streams, one after the other. */
  const init = (data: ThreadWorkerData): void => {
    queue = [];
    current = undefined;
    outstanding = 0;
    credit = data.credit !== undefined && data.credit > 0 ? data.credit : OUT_CREDIT;
    failed = false;
    core = undefined;
    out = undefined;
    outLen = 0;
    unreported = 0;
    ret = [];
    try {
      const limits = { ...(data.maxOutputLength !== undefined ? { maxOutputLength: data.maxOutputLength } : {}) };
      core = data.kind === 'zstd'
        ? newZstdCore({ ...limits, ...(data.maxWindowSize !== undefined ? { maxWindowSize: data.maxWindowSize } : {}) })
        : newInflateCore(data.kind, limits);
    } catch (err) {
      fail(err);
    }
  };
  /** Posts the packed output (if any) with the pending input report; else a bare report. */
  const report = (t: 'out' | 'consumed' | 'end'): void => {
    const r = ret;
    const n = unreported;
    ret = [];
    unreported = 0;
    if (out && outLen > 0) {
      const buf = out.buffer as ArrayBuffer;
      const len = outLen;
      out = undefined;
      outLen = 0;
      port.postMessage({ t: 'out', buf, len, n, ret: r } satisfies FromWorker, [buf, ...r]);
      if (t === 'end') port.postMessage({ t: 'end', n: 0, ret: [] } satisfies FromWorker);
    } else if (t === 'end' || (t === 'consumed' && n > 0)) {
      port.postMessage({ t, n, ret: r } satisfies FromWorker, r);
    } else {
      unreported = n;
      ret = r;
    }
  };
  const emit = (view: Uint8Array): boolean => {
    let o = 0;
    while (o < view.length) {
      if (!out) {
        out = newPiece();
        outLen = 0;
      }
      const n = Math.min(view.length - o, out.length - outLen);
      out.set(view.subarray(o, o + n), outLen);
      outLen += n;
      o += n;
      outstanding += n;
      if (outLen === out.length) report('out');
    }
    return outstanding < credit;
  };
  const work = (): void => {
    if (failed || !core) return;
    try {
      for (;;) {
        if (!current) {
          current = queue.shift();
          if (!current) {
            // idle: what is decoded goes out now, and the main thread learns it may send more
            report('consumed');
            return;
          }
          core.feed(current.buf, current.final);
        }
        if (!core.pumpView(emit)) {
          report('out'); // out of credit: what is packed goes now; resumed by an ack
          return;
        }
        const { buf, ab, final } = current;
        current = undefined;
        // the input is in WASM memory now: its buffer carries output next, or goes back for the
        // next batch
        unreported += buf.length;
        if (ab && ab.byteLength === OUT_PIECE && spareOut.length < SPARE_OUT) spareOut.push(ab);
        else if (ab) ret.push(ab);
        if (final) {
          core = undefined;
          report('end');
          return;
        }
        if (unreported >= REPORT) report('consumed');
      }
    } catch (err) {
      fail(err);
    }
  };
  port.on('message', (m: ToWorker) => {
    if (m.t === 'init') {
      if (m.mod && m.modName) adoptModule(m.modName, m.mod);
      init(m.data);
    } else if (m.t === 'data') {
      queue.push({ buf: m.buf ? new Uint8Array(m.buf, 0, m.len) : EMPTY, ab: m.buf, final: m.final });
      if (queue.length === 1 && !current) work();
    } else if (m.t === 'ack') {
      const before = outstanding;
      outstanding -= m.n;
      if (before >= credit && outstanding < credit) work();
    }
  });
}

start();
