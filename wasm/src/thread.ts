/**
 * Decompression on a worker thread, so that hashing (sha256 of the compressed stream and of the
 * tar) and tar parsing on the main thread overlap with decoding: on a host with two or more cores
 * the pull pipeline then costs about the decompression alone (see bench/wasm.ts).
 *
 *   src.pipe(createThreadedDecompressor('gzip')).pipe(tarExtract)
 *   src.pipe(createAdaptiveDecompressor('zstd', { sizeHint })).pipe(tarExtract)   // the pull's choice
 *
 * Input is copied into 1 MiB batch buffers that are transferred to the worker and transferred back
 * once decoded (recycled: no allocation per batch); at most IN_FLIGHT bytes are queued in the
 * worker. Output arrives as transferred buffers (no copy) packed into 1 MiB pieces and is acknowledged,
 * in batches, only as the readable side drains, so memory stays bounded on a decompression bomb
 * too. Errors arrive as the same BerthError codes as the in-thread decoders.
 *
 * Lent output (`lend: true`, for a consumer that gives every chunk back, core/lent.ts): output
 * arrives instead as views into a ring of 1 MiB slots of shared memory, which the worker fills
 * and this side frees as chunks come back; no output memory is allocated, transferred or
 * collected per MiB, and the ring, reused stream after stream, stays paged in.
 *
 * A worker costs a start (~10–30 ms, once per process: idle workers are kept, unref'd) and some
 * CPU per MB for messages; `createAdaptiveDecompressor` therefore decodes in-thread what is small
 * (a size hint below the threshold, or a stream that ends before the threshold) and moves to a
 * worker only past the threshold.
 */
import { workerEntry } from '../../core/paths';
import { lendFrom, stopLending } from '../../core/lent';
import { decoderOptions } from './decoder';
import { stopOnExit } from '../../core/worker-exit';
import * as os from 'node:os';
import * as fs from 'node:fs';
import { Transform, TransformCallback, TransformOptions } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { BerthError, ErrorClass } from '../../core/errors';
import { ERR_WASM_ABORT, ERR_WASM_CORRUPT_INPUT, ERR_WASM_LIMIT_EXCEEDED, ERR_WASM_UNAVAILABLE, ERR_WASM_UNSUPPORTED } from './errors';
import { wasmModule } from './loader';
import { createGunzip, createInflate } from './inflate';
import { createZstdDecompress } from './zstd';
import type { ThreadWorkerData, ToWorker, FromWorker } from './thread-worker';

/**
 * Bytes of input posted but not yet decoded by the worker before writes are held back (~80 ms of
 * zstd decoding: the worker does not run dry while the main thread hashes a burst of output; with
 * 16 MiB it waited 13–24 ms per 210 MB layer for input, record 011).
 */
export const IN_FLIGHT = 32 << 20;

/**
 * Flow control per format (the stream options `credit` / `inFlight` override it). zstd: a wide
 * window of output credit and IN_FLIGHT of input, sized for the main thread's share of a zstd pull
 * (both sha256s, nearly as long as the decoding). Inflate is ~1.8x slower per byte, so the main
 * thread has slack and the smaller window of before (8 MiB / 8 MiB) measured better by 1–4
 * points in every run of 2026-11-28 12:20–13:00: gzip pull 5.1–9.9 % vs 6.5–12.2 % (24/16) slower
 * than inflate alone, paired round by round in one process (bench/README-wasm.md); for zstd 24/16
 * was ahead of 8/8 (12.5 vs 17.3 %, 961 vs 894 MB/s). Since session 10 (record 011) zstd has 40
 * MiB of credit and 32 MiB in flight: swept with lent output, 40/32 and 48/32 measured best
 * (bench/README-wasm.md, "Lent output").
 */
export const FLOW: Record<ThreadWorkerData['kind'], { credit: number; inFlight: number }> = {
  // (thread-worker.ts OUT_CREDIT, its default; not imported: that module starts the worker side
  // wherever it loads, and decodeHashApply also runs in apply workers)
  zstd: { credit: 40 << 20, inFlight: IN_FLIGHT },
  gzip: { credit: 8 << 20, inFlight: 8 << 20 },
  zlib: { credit: 8 << 20, inFlight: 8 << 20 },
  raw: { credit: 8 << 20, inFlight: 8 << 20 },
};
/** Input batch (one message, one recycled transferable buffer). */
const BATCH = 1 << 20;
/** A smaller batch is posted only when the worker has nothing left to decode. */
const MIN_BATCH = 128 << 10;
/** Output bytes acknowledged per message (the worker's credit is 8–24 MiB, see FLOW). */
const ACK_BATCH = 2 << 20;
/** A ring slot: thread-worker.ts OUT_PIECE (not imported, see FLOW). */
const SLOT = 1 << 20;
/**
 * Lent output: ring slots beyond the format's credit. A slot is held until the consumer gives
 * its chunk back, i.e. also while the chunk waits in the stream buffers between the decoder and
 * the consumer (this decoder's readable side, a relay, the hashing stream, the consumer's own),
 * which credit (acknowledged as chunks are pushed) does not count.
 */
const RING_EXTRA = 8;
const KEEP_FREE = 6;

const CLASSES: Record<string, ErrorClass> = {
  [ERR_WASM_CORRUPT_INPUT.code]: ERR_WASM_CORRUPT_INPUT.cls,
  [ERR_WASM_LIMIT_EXCEEDED.code]: ERR_WASM_LIMIT_EXCEEDED.cls,
  [ERR_WASM_UNSUPPORTED.code]: ERR_WASM_UNSUPPORTED.cls,
  [ERR_WASM_UNAVAILABLE.code]: ERR_WASM_UNAVAILABLE.cls,
  [ERR_WASM_ABORT.code]: ERR_WASM_ABORT.cls,
};

export interface ThreadedOptions {
  maxOutputLength?: number;
  /** `false`: the format's checksum is not verified (wasm/src/decoder.ts DecoderOptions.checksum). */
  checksum?: boolean;
  maxWindowSize?: number;
  stream?: TransformOptions;
  /** Compressed bytes posted and not yet decoded before writes wait (default: FLOW of the format). */
  inFlight?: number;
  /** Output bytes the worker may post ahead of acknowledgement (default: FLOW of the format). */
  credit?: number;
  /**
   * Lend the output (core/lent.ts): chunks are views into a reused ring of shared memory, and
   * the consumer must give every chunk back (`giveBack(chunk)`) once done with it, or decoding
   * stalls when the ring is all lent. Only for a consumer known to do so. (An in-thread decoder
   * chosen instead lends from reused pieces of its own thread: DecoderOptions.lend.)
   */
  lend?: boolean;
}

/** Rings no stream holds any more (every chunk given back), by size, for the next stream. */
const rings = new Map<number, SharedArrayBuffer[]>();
const MAX_RINGS = 2;

function takeRing(bytes: number): SharedArrayBuffer {
  return rings.get(bytes)?.pop() ?? new SharedArrayBuffer(bytes);
}

/** Rings kept for the next lending stream, in all (tests: a stream whose chunks all came back returns its ring). */
export function pooledRings(): number {
  let n = 0;
  for (const list of rings.values()) n += list.length;
  return n;
}

function keepRing(ring: SharedArrayBuffer): void {
  const list = rings.get(ring.byteLength) ?? [];
  if (list.length < MAX_RINGS) list.push(ring);
  rings.set(ring.byteLength, list);
}

function workerScript(): { file: string | URL; eval: boolean } {
  return workerEntry(__filename, 'wasm/src', 'thread-worker');
}

let scriptFound: boolean | undefined;
/** False when the worker's script is missing (a partial install): decoding then stays in-thread. */
export function workerAvailable(): boolean {
  if (scriptFound === undefined) {
    const s = workerScript();
    scriptFound = s.eval || fs.existsSync(s.file);
  }
  return scriptFound;
}

/** Idle workers kept for the next stream (unref'd: they never keep the process alive). */
const idle: Worker[] = [];
const MAX_IDLE = 2;
let started = 0;

/** Workers started by this process so far and idle now (tests, `berth info`). */
export function threadStats(): { started: number; idle: number } {
  return { started, idle: idle.length };
}

/**
 * A batch buffer: from malloc without zeroing (allocUnsafe), not calloc's fresh zeroed pages.
 * The worker keeps some batches to carry output back (thread-worker.ts SPARE_OUT), so new ones
 * are allocated here steadily; the memory the consumer frees is reused for them.
 */
function newBatch(): ArrayBuffer {
  const b = Buffer.allocUnsafe(BATCH);
  return b.byteOffset === 0 && b.buffer.byteLength === BATCH ? (b.buffer as ArrayBuffer) : new ArrayBuffer(BATCH);
}

/** The modules each live worker was given (a worker keeps what it adopted). */
const given = new WeakMap<Worker, Set<string>>();

function acquire(): Worker {
  const w = idle.pop();
  if (w) {
    w.ref();
    return w;
  }
  const script = workerScript();
  started++;
  const fresh = new Worker(script.file, { eval: script.eval });
  stopOnExit(fresh);
  return fresh;
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

/**
 * Starts a worker now (if none is idle) so that the first large layer does not wait for it; the
 * worker stays idle and unref'd.
 */
export function prewarmDecoderThread(): void {
  if (idle.length > 0) return;
  const w = acquire();
  release(w, true);
}

export class ThreadedDecompressor extends Transform {
  readonly threaded = true;
  private readonly worker: Worker;
  private released = false;
  /** The batch being filled, and recycled batch buffers. */
  private cur: Uint8Array | undefined;
  private curLen = 0;
  private readonly spare: ArrayBuffer[] = [];
  /** Bytes posted (or being batched) and not yet reported consumed by the worker. */
  private inFlight = 0;
  private waiting: TransformCallback | undefined;
  private flushCb: TransformCallback | undefined;
  /** Output bytes received and pushed but not acknowledged yet / held while the reader is full. */
  private toAck = 0;
  private held = 0;
  private ended = false;
  private readonly inFlightMax: number;
  /** Lent output: the ring, its slots lent out (slot → the chunk), and slots to free. */
  private readonly ring: SharedArrayBuffer | undefined;
  private readonly lent = new Map<number, Buffer>();
  private toFree: number[] = [];

  constructor(kind: ThreadWorkerData['kind'], opts: ThreadedOptions = {}) {
    super({ readableHighWaterMark: 4 << 20, ...opts.stream });
    const data: ThreadWorkerData = { kind };
    if (opts.maxOutputLength !== undefined) data.maxOutputLength = opts.maxOutputLength;
    if (opts.checksum === false) data.checksum = false;
    if (opts.maxWindowSize !== undefined) data.maxWindowSize = opts.maxWindowSize;
    const flow = FLOW[kind];
    data.credit = opts.credit !== undefined && opts.credit > 0 ? opts.credit : flow.credit;
    this.inFlightMax = opts.inFlight !== undefined && opts.inFlight > 0 ? opts.inFlight : flow.inFlight;
    if (opts.lend) {
      const ring = takeRing((Math.ceil(data.credit / SLOT) + RING_EXTRA) * SLOT);
      this.ring = data.ring = ring;
      lendFrom(ring, (chunk) => this.giveBack(chunk));
    }
    this.worker = acquire();
    // A fresh worker gets this thread's compiled module (shared code, no file read or compile there).
    const modName = kind === 'zstd' ? 'zstd' : 'inflate';
    let has = given.get(this.worker);
    if (!has) given.set(this.worker, (has = new Set()));
    let mod: object | undefined;
    if (!has.has(modName)) {
      try {
        mod = wasmModule(modName);
        has.add(modName);
      } catch {
        /* the worker loads it itself and reports what fails */
      }
    }
    this.send(mod ? { t: 'init', data, modName, mod } : { t: 'init', data });
    this.worker.on('message', (m: FromWorker) => this.onMessage(m));
    this.worker.on('error', (err) => this.destroy(ERR_WASM_ABORT.with({ cause: err }, kind, err.message)));
  }

  private send(m: ToWorker, transfer?: ArrayBuffer[]): void {
    this.worker.postMessage(m, transfer);
  }

  private onMessage(m: FromWorker): void {
    if (this.released) return;
    if (m.t === 'error') {
      const code = m.code ?? ERR_WASM_ABORT.code;
      const err = new BerthError(code, CLASSES[code] ?? 'internal', m.message ?? 'decoder failed');
      this.ended = true;
      this.free(true);
      const cb = this.waiting ?? this.flushCb;
      this.waiting = undefined;
      this.flushCb = undefined;
      if (cb) cb(err);
      else this.destroy(err);
      return;
    }
    if (m.t === 'out' && m.slot !== undefined && this.ring) {
      const b = Buffer.from(this.ring, m.slot * SLOT, m.len);
      this.lent.set(m.slot, b);
      this.push(b);
    } else if (m.t === 'out' && m.buf) {
      const b = Buffer.from(m.buf, 0, m.len);
      if (this.push(b)) {
        this.toAck += b.length;
        if (this.toAck >= ACK_BATCH) {
          this.send({ t: 'ack', n: this.toAck });
          this.toAck = 0;
        }
      } else {
        this.held += b.length;
      }
    }
    // input decoded: its buffers come back for the next batches
    this.inFlight -= m.n;
    for (const ab of m.ret) if (ab.byteLength === BATCH && this.spare.length < KEEP_FREE) this.spare.push(ab);
    if (m.t === 'end') {
      this.ended = true;
      this.free(true);
      const cb = this.flushCb;
      this.flushCb = undefined;
      if (cb) cb();
      return;
    }
    // the worker is idle: hand it what has been batched so far rather than let it wait
    if (this.inFlight === this.curLen && this.curLen >= MIN_BATCH && this.flushCb === undefined) this.post(false);
    if (this.waiting && this.inFlight < this.inFlightMax) {
      const cb = this.waiting;
      this.waiting = undefined;
      cb();
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    // Our own copy, batched: callers' buffers may be pooled, and one message per MiB keeps the
    // per-message cost low.
    let o = 0;
    while (o < chunk.length) {
      if (!this.cur) {
        const ab = this.spare.pop() ?? newBatch();
        this.cur = new Uint8Array(ab);
        this.curLen = 0;
      }
      const n = Math.min(chunk.length - o, BATCH - this.curLen);
      this.cur.set(chunk.subarray(o, o + n), this.curLen);
      this.curLen += n;
      this.inFlight += n;
      o += n;
      if (this.curLen === BATCH) this.post(false);
    }
    // a partial batch goes at once when the worker has nothing else queued (keep it busy)
    if (this.curLen >= MIN_BATCH && this.inFlight === this.curLen) this.post(false);
    if (this.inFlight < this.inFlightMax) cb();
    else {
      // about to wait for the worker: it must have everything batched so far (an inFlight below
      // one batch would otherwise wait for a batch that is never posted)
      if (this.curLen > 0) this.post(false);
      this.waiting = cb;
    }
  }

  override _flush(cb: TransformCallback): void {
    this.flushCb = cb;
    this.post(true);
  }

  /** Sends the batch (transferred; the worker sends the buffer back once decoded). */
  private post(final: boolean): void {
    const cur = this.cur;
    const len = this.curLen;
    this.cur = undefined;
    this.curLen = 0;
    if (cur) this.send({ t: 'data', buf: cur.buffer as ArrayBuffer, len, final }, [cur.buffer as ArrayBuffer]);
    else if (final) this.send({ t: 'data', len: 0, final });
  }

  override _read(size: number): void {
    if ((this.held > 0 || this.toAck > 0) && !this.released) {
      this.send({ t: 'ack', n: this.held + this.toAck });
      this.held = 0;
      this.toAck = 0;
    }
    super._read(size);
  }

  /** Lent chunks not given back yet (0 without `lend`). */
  get lentChunks(): number {
    return this.lent.size;
  }

  /**
   * A lent chunk came back (core/lent.ts giveBack): its slot is free again. Slots go back to the
   * worker in one message per turn of the event loop; once the stream is over, the ring goes
   * back to the pool when its last chunk does.
   */
  private giveBack(chunk: Uint8Array): void {
    const slot = chunk.byteOffset / SLOT;
    if (this.lent.get(slot) !== chunk) return; // not this stream's chunk as lent (or given back twice)
    this.lent.delete(slot);
    if (this.released) {
      if (this.lent.size === 0 && this.ended && this.ring) {
        stopLending(this.ring);
        keepRing(this.ring);
      }
      return;
    }
    this.toFree.push(slot);
    if (this.toFree.length === 1) {
      queueMicrotask(() => {
        const slots = this.toFree;
        this.toFree = [];
        if (!this.released && slots.length > 0) this.send({ t: 'free', slots });
      });
    }
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    this.free(this.ended); // a worker stopped mid-stream is not reused
    cb(err);
  }

  private free(reusable: boolean): void {
    if (this.released) return;
    this.released = true;
    release(this.worker, reusable);
    if (this.ring) {
      // Ended with every chunk back: the ring serves the next stream. Chunks still out keep it
      // until they come back (giveBack); a stream that failed drops it (its chunks may never
      // come back), and its chunks are no longer lent.
      if (!reusable) stopLending(this.ring);
      else if (this.lent.size === 0) {
        stopLending(this.ring);
        keepRing(this.ring);
      }
    }
  }
}

/** A Transform decompressing gzip ('gzip'), zlib, raw deflate or zstd on a worker thread. */
export function createThreadedDecompressor(kind: ThreadWorkerData['kind'], opts: ThreadedOptions = {}): ThreadedDecompressor {
  return new ThreadedDecompressor(kind, opts);
}

export interface AdaptiveOptions extends ThreadedOptions {
  /** The compressed size when known (a layer descriptor's size): decides at once. */
  sizeHint?: number;
  /**
   * Compressed bytes from which a worker is used. Default: WARM_THRESHOLD when a worker is idle
   * (no start to pay), else COLD_THRESHOLD.
   */
  threshold?: number;
  /**
   * Use a worker at all: `true` (past the threshold), `false` (never), or `'auto'` (default): only
   * when it is worth it on this host now, see `freeCore()`.
   */
  thread?: boolean | 'auto';
  /** The in-thread decoder for what stays small; default: the WASM decoder of `kind`. */
  local?: () => Transform;
}

/** Worker used from this many compressed bytes when one is idle (no start to pay). */
export const WARM_THRESHOLD = 1 << 20;
/**
 * ...and when one must be started first: a fresh worker boots, compiles its WASM module and runs
 * it unoptimised for a while (30–80 ms in all on this 2-core host under load); a 7 MB layer
 * (24 MB of tar, ~40 ms of decoding) measured slower that way than in-thread, so only from here.
 */
export const COLD_THRESHOLD = 16 << 20;

export function hostCpus(): number {
  const o = os as { availableParallelism?: () => number };
  return typeof o.availableParallelism === 'function' ? o.availableParallelism() : os.cpus().length;
}

/**
 * This process's own share of the 1-minute load average: its mean CPU use (cores) since the
 * window began, weighted as the kernel's exponential average weighs a process that has been
 * running for that long (a CLI started 0.2 s ago is not in the load average yet).
 */
let ownWindow = { at: Date.now(), cpu: process.cpuUsage() };
export function ownLoad(): number {
  const now = Date.now();
  let span = (now - ownWindow.at) / 1000;
  let used = process.cpuUsage(ownWindow.cpu);
  if (span < 1) {
    // too short a window (a fresh process): its whole life
    span = process.uptime();
    used = process.cpuUsage();
  }
  const cores = span > 0 ? (used.user + used.system) / 1e6 / span : 0;
  const own = Math.min(cores, hostCpus()) * (1 - Math.exp(-Math.min(span, process.uptime()) / 60));
  if (span > 60) ownWindow = { at: now, cpu: process.cpuUsage() };
  return own;
}

/**
 * Whether a worker thread is worth it: two or more CPUs, and the load of other processes (the
 * 1-minute load average minus this process's share) below twice their number, or the CPU
 * pressure of the last 10 s low (`cpuPressure10() < CALM_PRESSURE`: the load average lags).
 * On this 2-core host (bench/README-wasm.md) the worker won the pull pipeline by 45–65 % with others' load
 * around 2–4, was even around 6 (zstd won, gzip lost) and lost at 8–9: the scheduler then gives
 * two threads little more than one, and the worker's extra CPU per MB (messages, copies, data
 * crossing cores) is no longer won back.
 */
export function freeCore(): boolean {
  const cpus = hostCpus();
  if (cpus < 2) return false;
  const others = (os.loadavg()[0] ?? 0) - ownLoad();
  if (others < 2 * cpus) return true;
  // The load average trails a burst that ended by a minute (bench/README-wasm.md, 10:28: host
  // 99 % idle, load average still 7.5, in-thread chosen and 30 % lost): the kernel's CPU pressure
  // over the last 10 s, when it says runnable tasks rarely waited, overrules it.
  const some = cpuPressure10();
  return some !== undefined && some < CALM_PRESSURE;
}

/** `some avg10` of /proc/pressure/cpu below this (percent of the last 10 s): the host is calm. */
export const CALM_PRESSURE = 25;

/**
 * Percent of the last 10 s in which some runnable task waited for a CPU (Linux PSI,
 * /proc/pressure/cpu `some avg10`); undefined where the kernel does not provide it.
 */
export function cpuPressure10(): number | undefined {
  try {
    const m = /some avg10=([\d.]+)/.exec(fs.readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function localDecoder(kind: ThreadWorkerData['kind'], opts: ThreadedOptions): Transform {
  const limits = decoderOptions(opts);
  const stream = opts.stream ? { stream: opts.stream } : {};
  if (kind === 'zstd') return createZstdDecompress({ ...limits, ...stream, ...(opts.maxWindowSize !== undefined ? { maxWindowSize: opts.maxWindowSize } : {}) });
  if (kind === 'gzip') return createGunzip({ ...limits, ...stream });
  return createInflate({ format: kind, ...limits, ...stream });
}

/**
 * Decodes in-thread what is small and on a worker thread what is large: with a size hint the
 * choice is made at once (a large one starts the worker while the first bytes arrive); without,
 * input is held until `threshold` bytes have arrived (worker) or the stream ended (in-thread).
 * `threaded` tells which path was taken once decided.
 */
export class AdaptiveDecompressor extends Transform {
  private inner: Transform | undefined;
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private flushCb: TransformCallback | undefined;
  private readonly threshold: number;
  threaded: boolean | undefined;

  constructor(
    private readonly kind: ThreadWorkerData['kind'],
    private readonly opts: AdaptiveOptions = {},
  ) {
    super({ readableHighWaterMark: 4 << 20 });
    this.threshold = opts.threshold ?? (idle.length > 0 ? WARM_THRESHOLD : COLD_THRESHOLD);
    const mode = opts.thread ?? 'auto';
    const thread = mode === 'auto' ? freeCore() : mode;
    if (!thread) this.start(false);
    else if (opts.sizeHint !== undefined) this.start(opts.sizeHint >= this.threshold);
  }

  private start(threaded: boolean): Transform {
    const { sizeHint: _s, threshold: _t, thread: _th, local, ...rest } = this.opts;
    const inner = threaded ? new ThreadedDecompressor(this.kind, rest) : local ? local() : localDecoder(this.kind, rest);
    this.inner = inner;
    this.threaded = threaded;
    inner.on('data', (b: Buffer) => {
      if (!this.push(b)) inner.pause();
    });
    inner.on('error', (e: Error) => this.destroy(e));
    inner.on('end', () => {
      const cb = this.flushCb;
      this.flushCb = undefined;
      if (cb) cb();
    });
    for (const c of this.buffered) inner.write(c);
    this.buffered = [];
    return inner;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let inner = this.inner;
    if (!inner) {
      this.buffered.push(chunk);
      this.bufferedBytes += chunk.length;
      if (this.bufferedBytes < this.threshold) {
        cb();
        return;
      }
      inner = this.start(true);
    } else if (inner.write(chunk)) {
      cb();
      return;
    }
    if (inner.writableNeedDrain) inner.once('drain', () => cb());
    else cb();
  }

  override _flush(cb: TransformCallback): void {
    this.flushCb = cb;
    (this.inner ?? this.start(false)).end();
  }

  override _read(size: number): void {
    if (this.inner?.isPaused()) this.inner.resume();
    super._read(size);
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    this.inner?.destroy();
    this.buffered = [];
    cb(err);
  }
}

/** A decompressing stream that says where it decodes (`threaded`: on a worker thread). */
export type PlacedDecompressor = Transform & { readonly threaded: boolean | undefined };

/**
 * In-thread below the threshold, on a worker thread above. When the choice can be made at once
 * (no worker wanted, or a size hint) the chosen decoder itself is returned, without the
 * `AdaptiveDecompressor` relay (one stream less per output piece); otherwise the relay decides
 * from the bytes seen.
 */
export function createAdaptiveDecompressor(kind: ThreadWorkerData['kind'], opts: AdaptiveOptions = {}): PlacedDecompressor {
  const threshold = opts.threshold ?? (idle.length > 0 ? WARM_THRESHOLD : COLD_THRESHOLD);
  const mode = opts.thread ?? 'auto';
  const thread = workerAvailable() && (mode === 'auto' ? freeCore() : mode);
  const { sizeHint, threshold: _t, thread: _th, local, ...rest } = opts;
  if (!thread || (sizeHint !== undefined && sizeHint < threshold)) {
    return Object.assign(local ? local() : localDecoder(kind, rest), { threaded: false });
  }
  // decided at once: a hint at or above the threshold, or no threshold at all (every size on a
  // worker, BERTH_DECODE_THREAD=1): no relay (it cost ~7 % of a 210 MB zstd pull, bench/README-wasm.md)
  if (sizeHint !== undefined || threshold <= 0) return new ThreadedDecompressor(kind, rest);
  return new AdaptiveDecompressor(kind, { ...opts, thread: true, threshold });
}
