/**
 * Decoding on the thread that consumes the output, hashing off it: the in-thread WASM decoder
 * (exactly the "decompression alone" path) whose output pieces are copied out of WASM memory into
 * shared memory instead of a private Buffer, and handed by reference to the hashing worker
 * (hash-thread.ts) as well as pushed downstream. The consumer and the hasher read the same bytes;
 * nobody writes them again (a piece is fresh memory, freed by GC once both dropped it).
 *
 *   const dec = createHashedDecompressor('zstd');
 *   src.pipe(dec); await apply(dec);         // dec is the tar stream
 *   const { digest, size } = await dec.tarDigest();     // 'sha256:<hex>' of every byte it output
 *
 * Status: measured, not used by the pull (bench/README-wasm.md "Decode where it is consumed",
 * record 010). The idea (issue 3): the worker pull puts ~200 ms of work on each of the two cores
 * of a 2-core host for a 210 MB zstd layer, so a hiccup on either core lands on the critical path;
 * here the hashing worker has slack. But the consuming thread pays, besides the decoding, fresh
 * shared memory per piece (faulted in: the consumer owns its pieces, none can be reused) and the
 * copy of the compressed bytes for their hash, where the worker pull's critical path is the
 * decoding alone: a tie for zstd at best, worse for gzip. bench/wasm.ts keeps it as a row.
 *
 * Memory: while the hasher is more than MAX_BACKLOG bytes behind, input is not acknowledged
 * (`_transform`'s callback waits), so a slow hasher holds back the producer like a slow reader.
 * Errors and destroy() drop the hash stream (the worker forgets it; `tarDigest()` rejects).
 */
import { TransformCallback, TransformOptions } from 'node:stream';
import { DecoderCore, DecoderTransform } from './decoder';
import { newInflateCore, DeflateFormat } from './inflate';
import { newZstdCore } from './zstd';
import { OffThreadSha256 } from './hash-thread';

/** Output bytes given to the hasher and not hashed yet, above which input waits. */
export const MAX_BACKLOG = 48 << 20;

export interface HashedDecoderOptions {
  maxOutputLength?: number;
  /** Output bytes the hasher may be behind before input waits (default MAX_BACKLOG). */
  maxBacklog?: number;
  maxWindowSize?: number;
  stream?: TransformOptions;
}

/** Shared memory for one output piece (fresh: the hasher may still be reading older ones). */
function sharedPiece(n: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(n));
}

export class HashedDecompressor extends DecoderTransform {
  /** Where it decodes (the adaptive decoders' vocabulary): in this thread. */
  readonly threaded = false;
  readonly hashedOffThread = true;
  private readonly hash: OffThreadSha256;
  private ended = false;

  constructor(
    core: DecoderCore,
    opts: TransformOptions | undefined,
    hash: OffThreadSha256,
    private readonly maxBacklog = MAX_BACKLOG,
  ) {
    super(core, opts, { alloc: sharedPiece, output: (b) => hash.update(b) });
    this.hash = hash;
  }

  /** Output bytes given to the hasher and not hashed yet. */
  get hashBacklog(): number {
    return this.hash.backlog;
  }

  /**
   * The tar's digest ('sha256:<hex>') and length, once the stream has ended and the worker has
   * hashed every byte; rejects if the stream failed or was destroyed.
   */
  async tarDigest(): Promise<{ digest: string; size: number }> {
    if (!this.ended) {
      await new Promise<void>((resolve, reject) => {
        const done = (): void => {
          this.off('error', bad);
          this.off('close', closed);
          resolve();
        };
        const bad = (e: Error): void => {
          this.off('x-ended', done);
          reject(e);
        };
        const closed = (): void => {
          if (!this.ended) reject(new Error('hashed decoder destroyed before its end'));
        };
        this.once('x-ended', done);
        this.once('error', bad);
        this.once('close', closed);
      });
    }
    const size = this.hash.bytes;
    return { digest: 'sha256:' + (await this.hash.digest()).toString('hex'), size };
  }

  override _transform(chunk: Buffer, enc: BufferEncoding, cb: TransformCallback): void {
    super._transform(chunk, enc, (err) => {
      if (err) cb(err);
      else this.hash.whenBelow(this.maxBacklog, cb);
    });
  }

  override _flush(cb: TransformCallback): void {
    super._flush((err) => {
      if (err) return cb(err);
      this.ended = true;
      void this.hash.digest().catch(() => undefined); // the last pieces go to the worker now
      this.emit('x-ended');
      cb();
    });
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    if (!this.ended) this.hash.abort(err ?? new Error('hashed decoder destroyed'));
    cb(err);
  }
}

/**
 * An in-thread WASM decoder of `kind` whose output is also sha256-hashed on the hashing worker:
 * see the file's header.
 */
export function createHashedDecompressor(kind: DeflateFormat | 'zstd', opts: HashedDecoderOptions = {}): HashedDecompressor {
  const limits = opts.maxOutputLength !== undefined ? { maxOutputLength: opts.maxOutputLength } : {};
  const core = kind === 'zstd' ? newZstdCore({ ...limits, ...(opts.maxWindowSize !== undefined ? { maxWindowSize: opts.maxWindowSize } : {}) }) : newInflateCore(kind, limits);
  return new HashedDecompressor(core, opts.stream, new OffThreadSha256(), opts.maxBacklog);
}
