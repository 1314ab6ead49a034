/**
 * The streaming driver shared by the inflate and zstd modules, and the Node `Transform` around it.
 *
 * Both modules speak the same protocol (see the header of wasm/assembly/inflate.ts):
 * `compact()` → offset where new input goes, `push(n)`, `run(final)` → status, then the range
 * [flushStart, flushEnd) of the output region is copied out and `flushed()` acknowledges it.
 * Input is copied in large pieces (up to the module's input capacity) and output leaves in
 * pieces of up to 512 KiB, so the boundary is crossed per chunk, never per byte.
 *
 * Backpressure: when `push()` of the readable side returns false the transform stops decoding
 * and resumes from `_read()`, so a decompression bomb fed in one large chunk does not pile up
 * its output in memory. `maxOutputLength` caps the total output (ERR_WASM_LIMIT_EXCEEDED).
 */
import { Transform, TransformCallback, TransformOptions } from 'node:stream';
import { BaseExports } from './loader';
import { BerthError } from '../../core/errors';
import { lendFrom } from '../../core/lent';
import { ERR_WASM_CORRUPT_INPUT, ERR_WASM_LIMIT_EXCEEDED } from './errors';

export const ST_NEED_INPUT = 0;
export const ST_OUTPUT_FULL = 1;
export const ST_DONE = 2;
export const ST_NEED_CHECK = 3;

/** Optional per-format hooks: see inflate.ts (CRC-32 computed natively over the copied output). */
export interface DecoderHooks {
  /** Called with every output piece (a view of the module's memory), in order, before it is emitted. */
  onOutput?(buf: Uint8Array): void;
  /** Called when the module returns ST_NEED_CHECK (all output so far has been seen). */
  onNeedCheck?(): void;
  /**
   * Called once when the stream has ended cleanly and all its output was handed out: the core
   * never touches the module again (its instance may be recycled for the next stream).
   */
  onFinished?(): void;
}

export interface StreamDecoderExports extends BaseExports {
  inputPtr(): number;
  inputCap(): number;
  compact(): number;
  push(n: number): void;
  run(final: number): number;
  outPtr(): number;
  flushStart(): number;
  flushEnd(): number;
  flushed(): void;
}

export interface DecoderOptions {
  /** Total output above this many bytes is an error (ERR_WASM_LIMIT_EXCEEDED). Default: unlimited. */
  maxOutputLength?: number;
  /**
   * `false`: the format's own checksum of the output — gzip's CRC-32, zstd's XXH64 — is neither
   * computed nor compared, for a caller that verifies the output another way (the pull compares
   * the tar's sha256 with the image's diff id, codecs.ts `unchecked`). gzip's ISIZE, a zstd
   * frame's declared content size and every structural check stay. Default: checked.
   */
  checksum?: boolean;
  /**
   * The Transform lends its output (core/lent.ts): chunks are 1 MiB pieces of this thread (the
   * last one shorter), reused once the consumer gives them back, instead of fresh memory per
   * chunk (a consumer that keeps a chunk simply keeps its piece: nothing waits for it). Only for
   * a consumer that gives back no earlier than it is done with a chunk.
   */
  lend?: boolean;
}

const EMPTY = new Uint8Array(0);

/** The DecoderOptions `o` sets, and only those (no field present as undefined). */
export function decoderOptions(o: DecoderOptions): DecoderOptions {
  return {
    ...(o.maxOutputLength !== undefined ? { maxOutputLength: o.maxOutputLength } : {}),
    ...(o.checksum === false ? { checksum: false } : {}),
    ...(o.lend ? { lend: true } : {}),
  };
}

/**
 * A decoder fed with `write(chunk)` / `end()`. `emit` receives each output piece (a fresh Buffer
 * the decoder no longer touches) and returns false to ask the producer to pause.
 */
export class DecoderCore {
  private chunk: Uint8Array = EMPTY;
  private off = 0;
  private final = false;
  private finished = false;
  private total = 0;

  constructor(
    private readonly ex: StreamDecoderExports,
    private readonly what: string,
    private readonly mapError: (code: number) => BerthError,
    private readonly maxOutput: number = Number.POSITIVE_INFINITY,
    private readonly hooks: DecoderHooks = {},
  ) {}

  get done(): boolean {
    return this.finished;
  }

  /** Sets the next input. `final` means no input follows `chunk`. */
  feed(chunk: Uint8Array, final: boolean): void {
    this.chunk = chunk;
    this.off = 0;
    this.final = final;
  }

  /**
   * Decodes the fed input. Returns true when it is all consumed (and, if final, the stream ended),
   * false when `emit` asked to pause (call `pump` again later).
   */
  pump(emit: (buf: Buffer) => boolean): boolean {
    return this.pumpView((view) => {
      const out = Buffer.allocUnsafe(view.length);
      out.set(view);
      return emit(out);
    });
  }

  /**
   * `pump`, handing each output piece as a view of the module's memory, valid only during the
   * call: the caller copies it where it wants (the worker thread packs pieces into large
   * transferable buffers). Returns false from `emit` to pause.
   */
  pumpView(emit: (view: Uint8Array) => boolean): boolean {
    const ex = this.ex;
    for (;;) {
      if (this.finished) {
        if (this.off < this.chunk.length && this.chunk.subarray(this.off).some((b) => b !== 0)) {
          throw ERR_WASM_CORRUPT_INPUT(this.what, 'data after the end of the stream');
        }
        this.off = this.chunk.length;
        return true;
      }
      const chunk = this.chunk;
      let room = -1;
      if (this.off < chunk.length) {
        const at = ex.compact();
        room = ex.inputCap() - at;
        if (room > 0) {
          const n = Math.min(room, chunk.length - this.off);
          new Uint8Array(ex.memory.buffer).set(chunk.subarray(this.off, this.off + n), ex.inputPtr() + at);
          ex.push(n);
          this.off += n;
        }
      }
      const last = this.final && this.off >= chunk.length;
      const st = ex.run(last ? 1 : 0);
      if (st < 0) throw this.mapError(st);
      if (st === ST_DONE) this.finished = true;
      const more = this.drain(emit);
      if (st === ST_NEED_CHECK) {
        if (!this.hooks.onNeedCheck) throw new Error(`${this.what}: module asked for a check value without a hook`);
        this.hooks.onNeedCheck();
      }
      if (st === ST_DONE) this.hooks.onFinished?.();
      if (!more) return false; // paused; calling pump again re-runs harmlessly
      if (st === ST_NEED_INPUT && room === 0) {
        // the module wants more input than its buffer holds: never loop on it
        throw ERR_WASM_CORRUPT_INPUT(this.what, 'a header or block does not fit the input buffer');
      }
      if (st === ST_NEED_INPUT && this.off >= chunk.length) {
        if (last) throw ERR_WASM_CORRUPT_INPUT(this.what, 'unexpected end of input');
        return true;
      }
      if (st === ST_DONE && this.off >= chunk.length) return true;
    }
  }

  /** Hands the pending output to `emit`; false when emit asked to pause. */
  private drain(emit: (view: Uint8Array) => boolean): boolean {
    const ex = this.ex;
    const s = ex.flushStart();
    const e = ex.flushEnd();
    let more = true;
    if (e > s) {
      this.total += e - s;
      if (this.total > this.maxOutput) {
        throw ERR_WASM_LIMIT_EXCEEDED(this.what, `output exceeds maxOutputLength (${this.maxOutput} bytes)`);
      }
      const view = new Uint8Array(ex.memory.buffer, ex.outPtr() + s, e - s);
      if (this.hooks.onOutput) this.hooks.onOutput(view);
      more = emit(view);
    }
    ex.flushed();
    return more;
  }

  /** Decodes a whole buffer. */
  decodeAll(input: Uint8Array): Buffer {
    const parts: Buffer[] = [];
    this.feed(input, true);
    this.pump((b) => {
      parts.push(b);
      return true;
    });
    if (!this.finished) throw ERR_WASM_CORRUPT_INPUT(this.what, 'unexpected end of input');
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }
}

/** A Node Transform around a DecoderCore, honouring backpressure of its readable side. */
/** Lent in-thread output: pieces of this size, at most LENT_KEEP of them kept for reuse. */
const LENT_PIECE = 1 << 20;
const LENT_KEEP = 16;
const lentFree: Buffer[] = [];
/** Each lent chunk → the piece it is a view of (weak: a chunk never given back is collected with its piece). */
const lentPieces = new WeakMap<Uint8Array, Buffer>();
function pieceBack(chunk: Uint8Array): void {
  const piece = lentPieces.get(chunk);
  if (!piece) return; // not lent from here, or given back already
  lentPieces.delete(chunk);
  if (lentFree.length < LENT_KEEP) lentFree.push(piece);
}
/** A piece to fill: one given back, or a new one (lent from now on). */
function takePiece(): Buffer {
  let piece = lentFree.pop();
  if (!piece) {
    piece = Buffer.allocUnsafe(LENT_PIECE);
    lendFrom(piece.buffer, pieceBack);
  }
  return piece;
}

export class DecoderTransform extends Transform {
  private waiting: TransformCallback | undefined;
  private pumping = false;
  /** Lending: the piece being filled (output is pushed a whole piece at a time, the rest at the end). */
  private piece: Buffer | undefined;
  private pieceLen = 0;
  private ending = false;

  constructor(
    private readonly core: DecoderCore,
    opts?: TransformOptions,
    private readonly lend = false,
  ) {
    super(opts);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.core.feed(chunk, false);
    this.waiting = cb;
    this.pumpNow();
  }

  override _flush(cb: TransformCallback): void {
    this.ending = true;
    this.core.feed(EMPTY, true);
    this.waiting = cb;
    this.pumpNow();
  }

  override _read(size: number): void {
    if (this.waiting !== undefined && !this.pumping) this.pumpNow();
    // Always: if pumpNow finished the input without pushing, Transform holds the write callback
    // until _read runs again, which it never does while `reading` is still set (no push came):
    // a pipe into a slower consumer (HashingStream) stalled there. super._read releases it.
    super._read(size);
  }

  private pumpNow(): void {
    const cb = this.waiting;
    if (cb === undefined || this.pumping) return;
    this.pumping = true;
    let complete: boolean;
    try {
      complete = this.lend ? this.core.pumpView((v) => this.pushLent(v)) : this.core.pump((b) => this.push(b));
    } catch (err) {
      this.pumping = false;
      this.waiting = undefined;
      cb(err as Error);
      return;
    }
    this.pumping = false;
    if (complete) {
      if (this.ending && this.piece) this.pushPiece();
      this.waiting = undefined;
      cb();
    }
  }

  /** Copies `view` into lent pieces, pushing each one once full. */
  private pushLent(view: Uint8Array): boolean {
    let more = true;
    let o = 0;
    while (o < view.length) {
      if (!this.piece) {
        this.piece = takePiece();
        this.pieceLen = 0;
      }
      const n = Math.min(view.length - o, LENT_PIECE - this.pieceLen);
      this.piece.set(view.subarray(o, o + n), this.pieceLen);
      this.pieceLen += n;
      o += n;
      if (this.pieceLen === LENT_PIECE) more = this.pushPiece();
    }
    return more;
  }

  private pushPiece(): boolean {
    const piece = this.piece!;
    const chunk = piece.subarray(0, this.pieceLen);
    this.piece = undefined;
    this.pieceLen = 0;
    lentPieces.set(chunk, piece);
    return this.push(chunk);
  }
}
