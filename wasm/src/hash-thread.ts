/**
 * sha256 on a hashing worker thread, for a thread that has something better to do (decoding a
 * layer): `update()` hands bytes over, `digest()` resolves once the worker has hashed them all.
 *
 *   const h = new OffThreadSha256();
 *   h.update(piece) ...            // a SharedArrayBuffer-backed piece is posted by reference;
 *                                  // any other bytes are copied into shared 1 MiB batches
 *   const digest = await h.digest();
 *
 * Pieces over a SharedArrayBuffer (the in-thread decoder's output, see hashed-decoder.ts) are
 * not copied: the worker reads them in place, so the caller must not write to a piece once it
 * has been given (the decoder never does: each output piece is fresh memory). Other bytes are
 * copied into shared batches (~10 ms per 92 MB), which are reused once the worker reports them
 * hashed. Pieces are posted in messages of POST_BYTES.
 *
 * One worker serves every stream of the process (sha256 with SHA-NI does ~1.7 GB/s, more than
 * any decoder here); it is started on first use and unref'd while no stream is open, so it never
 * keeps the process alive. `backlog` (bytes given and not yet hashed) lets a producer wait
 * (`whenBelow`) so that memory stays bounded when the worker falls behind. `abort()` drops the
 * stream (its pending digest rejects); a dead worker rejects every open stream's digest.
 */
import { Worker } from 'node:worker_threads';
import { workerEntry } from '../../core/paths';
import type { FromHashWorker, HashPiece, ToHashWorker } from './hash-worker';

/** Copy batch for bytes that are not in shared memory. */
const COPY_BATCH = 1 << 20;
/** Bytes of pieces per message. */
export const POST_BYTES = 2 << 20;
/** Copy batches kept for reuse per stream. */
const KEEP_BATCHES = 8;

interface HashWorker {
  worker: Worker;
  open: Map<number, OffThreadSha256>;
}
let hw: HashWorker | undefined;
let started = 0;
let nextId = 1;

/** Hash workers started by this process, and streams open now (tests, diagnostics). */
export function hashThreadStats(): { started: number; running: boolean; open: number } {
  return { started, running: hw !== undefined, open: hw?.open.size ?? 0 };
}

function hashWorker(): HashWorker {
  if (hw) return hw;
  const script = workerEntry(__filename, 'wasm/src', 'hash-worker');
  const worker = new Worker(script.file, { eval: script.eval });
  started++;
  const me: HashWorker = { worker, open: new Map() };
  hw = me;
  worker.unref();
  worker.on('message', (m: FromHashWorker) => me.open.get(m.id)?.onMessage(m));
  const fail = (err: Error): void => {
    if (hw === me) hw = undefined;
    for (const s of [...me.open.values()]) s.fail(err);
    me.open.clear();
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`hash worker exited (${code})`)));
  return me;
}

/** Stops the hash worker (tests; it is unref'd anyway). Open streams fail. */
export async function stopHashThread(): Promise<void> {
  const w = hw;
  if (!w) return;
  hw = undefined;
  await w.worker.terminate();
}

export class OffThreadSha256 {
  private readonly w: HashWorker;
  readonly id = nextId++;
  /** Bytes given so far, and reported hashed by the worker. */
  private given = 0;
  private hashed = 0;
  private pieces: HashPiece[] = [];
  private pending = 0;
  /** The copy batch being filled: bytes [queued, fill) are not in `pieces` yet. */
  private cur: SharedArrayBuffer | undefined;
  private fill = 0;
  private queued = 0;
  /** Full copy batches and the stream offset at which each is entirely hashed. */
  private retired: Array<[SharedArrayBuffer, number]> = [];
  private readonly free: SharedArrayBuffer[] = [];
  private closed = false;
  private result: Promise<Buffer> | undefined;
  private settle: { resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private waiters: Array<{ limit: number; cb: (err?: Error) => void }> = [];

  constructor() {
    this.w = hashWorker();
    if (this.w.open.size === 0) this.w.worker.ref();
    this.w.open.set(this.id, this);
  }

  /** Bytes given and not yet hashed by the worker. */
  get backlog(): number {
    return this.given - this.hashed;
  }

  /** Bytes given so far. */
  get bytes(): number {
    return this.given;
  }

  update(b: Uint8Array): this {
    if (this.closed) throw new Error('OffThreadSha256: update after digest or abort');
    if (b.length === 0) return this;
    if (b.buffer instanceof SharedArrayBuffer) {
      this.queueCopied();
      this.pieces.push([b.buffer, b.byteOffset, b.length]);
      this.pending += b.length;
      this.given += b.length;
    } else {
      let o = 0;
      while (o < b.length) {
        if (!this.cur) {
          this.cur = this.free.pop() ?? new SharedArrayBuffer(COPY_BATCH);
          this.fill = 0;
          this.queued = 0;
        }
        const n = Math.min(b.length - o, COPY_BATCH - this.fill);
        new Uint8Array(this.cur, this.fill, n).set(b.subarray(o, o + n));
        this.fill += n;
        this.given += n;
        o += n;
        if (this.fill === COPY_BATCH) {
          this.queueCopied();
          this.retired.push([this.cur, this.given]);
          this.cur = undefined;
        }
      }
    }
    if (this.pending >= POST_BYTES) this.post(false);
    return this;
  }

  /** The sha256 of everything given; ends the stream (no update after it). */
  digest(): Promise<Buffer> {
    if (this.result) return this.result;
    this.result = new Promise<Buffer>((resolve, reject) => (this.settle = { resolve, reject }));
    if (this.failure) {
      this.settle!.reject(this.failure);
    } else if (!this.closed) {
      this.queueCopied();
      this.closed = true;
      this.post(true);
    }
    return this.result;
  }

  /** Drops the stream: the worker forgets it, a pending digest rejects with `err`. */
  abort(err: Error = new Error('OffThreadSha256: aborted')): void {
    if (this.failure || (this.result && !this.settle)) return;
    if (this.w.open.get(this.id) === this) {
      this.w.worker.postMessage({ t: 'drop', id: this.id } satisfies ToHashWorker);
    }
    this.fail(err);
  }

  /** Calls `cb` once the backlog is below `limit` (at once if it is); with an error if the stream fails. */
  whenBelow(limit: number, cb: (err?: Error) => void): void {
    if (this.failure) cb(this.failure);
    else if (this.backlog < limit) cb();
    else {
      this.waiters.push({ limit, cb });
      if (!this.closed) {
        // what is pending, and a progress report once it is hashed
        this.queueCopied();
        this.post(false, true);
      }
    }
  }

  /** @internal a message of the worker about this stream. */
  onMessage(m: FromHashWorker): void {
    if (m.t === 'error') {
      this.fail(new Error(`hash worker: ${m.message}`));
      return;
    }
    this.hashed = m.n;
    while (this.retired.length > 0 && this.retired[0]![1] <= this.hashed) {
      const [ab] = this.retired.shift()!;
      if (this.free.length < KEEP_BATCHES) this.free.push(ab);
    }
    if (m.t === 'digest') {
      this.close();
      const s = this.settle;
      this.settle = undefined;
      s?.resolve(Buffer.from(m.digest.buffer, m.digest.byteOffset, m.digest.byteLength));
    }
    this.wake();
  }

  /** @internal the stream failed (worker died, abort). */
  fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.close();
    const s = this.settle;
    this.settle = undefined;
    s?.reject(err);
    this.wake();
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const keep: typeof this.waiters = [];
    const ready: typeof this.waiters = [];
    for (const x of this.waiters) (this.failure || this.backlog < x.limit ? ready : keep).push(x);
    this.waiters = keep;
    for (const x of ready) x.cb(this.failure);
  }

  private close(): void {
    this.closed = true;
    this.pieces = [];
    this.pending = 0;
    this.cur = undefined;
    this.retired = [];
    this.free.length = 0;
    if (this.w.open.get(this.id) === this) {
      this.w.open.delete(this.id);
      if (this.w.open.size === 0) this.w.worker.unref();
    }
  }

  /** Queues the copied bytes not queued yet (ordering: before a shared piece or the end). */
  private queueCopied(): void {
    if (this.cur && this.fill > this.queued) {
      this.pieces.push([this.cur, this.queued, this.fill - this.queued]);
      this.pending += this.fill - this.queued;
      this.queued = this.fill;
    }
  }

  private post(end: boolean, report = false): void {
    const pieces = this.pieces;
    this.pieces = [];
    this.pending = 0;
    this.w.worker.postMessage({ t: 'data', id: this.id, pieces, ...(end ? { end } : {}), ...(report ? { report } : {}) } satisfies ToHashWorker);
  }
}
