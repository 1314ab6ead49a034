/**
 * Worker-thread side of wasm/src/thread.ts: runs one decoder (DecoderCore) per stream and streams
 * its output back. Messages: see ToWorker / FromWorker. Input batches arrive as transferred
 * buffers and are transferred back with `consumed` once decoded (the main thread recycles them).
 * Output is credit-based: the worker stops decoding while more than OUT_CREDIT bytes are posted
 * but not yet acknowledged by the main thread. With a `ring` (lent output, see core/lent.ts) the
 * output goes into the ring's slots instead, which the main thread frees once the consumer gave
 * each chunk back; the worker stops decoding while no slot is free.
 */
import { parentPort } from 'node:worker_threads';
import { BerthError } from '../../core/errors';
import { DecoderCore, decoderOptions } from './decoder';
import { newInflateCore, DeflateFormat } from './inflate';
import { newZstdCore } from './zstd';
import { adoptModule, WasmModule } from './loader';

export interface ThreadWorkerData {
  kind: DeflateFormat | 'zstd';
  maxOutputLength?: number;
  /** `false`: the format's checksum is not verified (DecoderOptions.checksum). */
  checksum?: boolean;
  maxWindowSize?: number;
  /** Output bytes posted and not acknowledged before the worker pauses (default OUT_CREDIT). */
  credit?: number;
  /**
   * Lent output: shared memory of whole OUT_PIECE slots, each filled with output and posted as
   * `{ slot }`, then reused once the main thread `free`s it. No output buffer is allocated or
   * transferred per MiB; what a view cannot place in a free slot waits in `stage`.
   */
  ring?: SharedArrayBuffer;
}

/**
 * Main thread → worker. `data.buf` holds `len` bytes of input (absent for an empty final batch).
 * `init` may carry the WASM module the main thread compiled (`mod`, module `modName`).
 */
export type ToWorker =
  | { t: 'init'; data: ThreadWorkerData; modName?: string; mod?: WasmModule }
  | { t: 'data'; buf?: ArrayBuffer; len: number; final: boolean }
  | { t: 'ack'; n: number }
  /** Ring slots (see ThreadWorkerData.ring) the main thread is done with. */
  | { t: 'free'; slots: number[] };

/**
 * Worker → main thread. Every message but `error` reports `n` more input bytes decoded and hands
 * back (transferred) the input buffers `ret` it is done with; `out` carries `len` bytes of output
 * in `buf` (transferred), or in ring slot `slot` (lent output).
 */
export type FromWorker =
  | { t: 'out'; buf?: ArrayBuffer; slot?: number; len: number; n: number; ret: ArrayBuffer[] }
  | { t: 'consumed'; n: number; ret: ArrayBuffer[] }
  | { t: 'end'; n: number; ret: ArrayBuffer[] }
  | { t: 'error'; code?: string; message?: string };

/**
 * Output bytes posted and not acknowledged before the worker pauses. 8 MiB (~9 ms of zstd
 * decoding) made the worker wait for acknowledgements ~120 times per 210 MB while the main thread
 * was busy with a burst of input or hashing (25–95 ms idle per run); 24 MiB absorbed those bursts,
 * and with lent output (no fresh memory per MiB) 40 MiB measured better still (record 011).
 */
export const OUT_CREDIT = 40 << 20;
/** Output is packed into buffers (or ring slots) of this size (fewer messages and allocations than one per piece). */
export const OUT_PIECE = 1 << 20;
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
/**
 * Lent output: decoding goes on only while this much of the ring is free, so that the next
 * decoded view (one `run` of the module: typically 1–3 MiB) fits in it. What does not fit waits
 * in a staging buffer of this thread (`stage`, grown once and reused: not fresh memory per
 * view, never transferred) until slots come back.
 */
const RING_RESERVE = 4 << 20;
let stage = new Uint8Array(0);
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
  /** Output being packed, and its ring slot (-1: an ordinary piece). */
  let out: Uint8Array | undefined;
  let outLen = 0;
  let outSlot = -1;
  /**
   * Lent output: the ring, its free slots (a `free` of the stream before can never arrive after
   * this stream's `init`: the main thread stops sending them once it released the worker), and
   * whether decoding waits for slots.
   */
  let ring: SharedArrayBuffer | undefined;
  let freeSlots: number[] = [];
  let starved = false;
  /** Output waiting in `stage` for a free slot: [stageOff, stageEnd). */
  let stageOff = 0;
  let stageEnd = 0;
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
    outSlot = -1;
    ring = data.ring;
    freeSlots = [];
    // popped from the end: slot 0 first
    if (ring) for (let i = Math.floor(ring.byteLength / OUT_PIECE) - 1; i >= 0; i--) freeSlots.push(i);
    starved = false;
    stageOff = stageEnd = 0;
    unreported = 0;
    ret = [];
    try {
      const limits = decoderOptions(data);
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
      const len = outLen;
      const slot = outSlot;
      const buf = out.buffer as ArrayBuffer;
      out = undefined;
      outLen = 0;
      outSlot = -1;
      if (slot >= 0) port.postMessage({ t: 'out', slot, len, n, ret: r } satisfies FromWorker, r);
      else port.postMessage({ t: 'out', buf, len, n, ret: r } satisfies FromWorker, [buf, ...r]);
      if (t === 'end') port.postMessage({ t: 'end', n: 0, ret: [] } satisfies FromWorker);
    } else if (t === 'end' || (t === 'consumed' && n > 0)) {
      port.postMessage({ t, n, ret: r } satisfies FromWorker, r);
    } else {
      unreported = n;
      ret = r;
    }
  };
  /** Copies `view` into output pieces (ring slots when lending) while there is room; returns how much it took. */
  const pack = (view: Uint8Array): number => {
    let o = 0;
    while (o < view.length) {
      if (!out) {
        if (ring) {
          const slot = freeSlots.pop();
          if (slot === undefined) break;
          out = new Uint8Array(ring, slot * OUT_PIECE, OUT_PIECE);
          outSlot = slot;
        } else {
          out = newPiece();
        }
        outLen = 0;
      }
      const n = Math.min(view.length - o, out.length - outLen);
      out.set(view.subarray(o, o + n), outLen);
      outLen += n;
      o += n;
      if (!ring) outstanding += n;
      if (outLen === out.length) report('out');
    }
    return o;
  };
  /** Ring room: the current slot's rest and the free slots. */
  const room = (): number => (out !== undefined ? out.length - outLen : 0) + freeSlots.length * OUT_PIECE;
  const emit = (view: Uint8Array): boolean => {
    if (!ring) {
      pack(view);
      return outstanding < credit;
    }
    const took = pack(view);
    if (took < view.length) {
      // the ring is all lent: the rest waits here (WASM memory is reused by the next run)
      const rest = view.length - took;
      if (stage.length < rest) stage = new Uint8Array(Math.max(rest, RING_RESERVE));
      stage.set(view.subarray(took));
      stageOff = 0;
      stageEnd = rest;
      return false;
    }
    return room() >= RING_RESERVE;
  };
  /** Moves staged output into free slots; true once none is left. */
  const unstage = (): boolean => {
    if (stageOff < stageEnd) stageOff += pack(stage.subarray(stageOff, stageEnd));
    return stageOff >= stageEnd;
  };
  const work = (): void => {
    if (failed || !core) return;
    try {
      // lending: staged output goes first, and decoding resumes only once the ring has room for
      // a whole view again (resuming at the first free slot would stage most of the next view)
      if (ring && (!unstage() || room() < RING_RESERVE)) {
        report('out');
        starved = true;
        return;
      }
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
          starved = ring !== undefined;
          return;
        }
        const { buf, ab, final } = current;
        current = undefined;
        // the input is in WASM memory now: its buffer carries output next, or goes back for the
        // next batch
        unreported += buf.length;
        if (ab && !ring && ab.byteLength === OUT_PIECE && spareOut.length < SPARE_OUT) spareOut.push(ab);
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
      if (!ring && before >= credit && outstanding < credit) work();
    } else if (m.t === 'free') {
      for (const s of m.slots) freeSlots.push(s);
      if (starved) {
        starved = false;
        work();
      }
    }
  });
}

start();
