/**
 * gzip decoding without the CRC-32 check, for layer blobs whose decompressed bytes a sha256
 * verifies anyway (the diff id a pull or load checks against the image config). node:zlib's
 * Gunzip computes the CRC-32 of every output byte: ≈ 14 % of its CPU on the bench image (≈ 42 ms of
 * 1.3 s per pull), a check the diff id makes redundant — the sha256 of the same bytes, compared
 * with a digest the image names. Docs: docs/decisions/030-pull-pipeline.md (session 8).
 *
 *   blob.pipe(new UncheckedGunzip()).pipe(hashing)   // then compare hashing's digest, always
 *
 * Framing (RFC 1952) is parsed here and each member's deflate data goes to a node:zlib
 * InflateRaw (which checks nothing beyond the deflate format):
 * - header: 1f 8b, method 8 (deflate), flags FTEXT/FHCRC/FEXTRA/FNAME/FCOMMENT (reserved bits
 *   refused), MTIME/XFL/OS ignored; FEXTRA, FNAME and FCOMMENT skipped (≤ 1 MiB of header in all);
 *   the header CRC-16 (FHCRC) is skipped too;
 * - trailer: CRC-32 (not checked) and ISIZE, which is checked (the output length mod 2^32);
 * - members back to back are decoded in turn; after a member, a zero byte ends the stream and the
 *   rest is ignored (node:zlib's Gunzip does the same: padding after the last member), anything
 *   else must be the next member's header.
 * Errors (plain Errors; the caller wraps them as ERR_IMAGE_DECOMPRESS_FAILED): a bad header, deflate
 * data zlib refuses, an ISIZE mismatch, and a stream that ends inside a member (truncated).
 * An input chunk is done with once this stream's write callback runs (zlib has consumed its part,
 * header and trailer bytes are copied), as for node:zlib's streams (codecs.ts reportConsumed).
 */
import { Transform, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';

/** Header bytes (FEXTRA, FNAME, FCOMMENT together) beyond which a member is refused. */
const MAX_HEADER = 1 << 20;
const OUT_CHUNK = 256 * 1024;

const enum State { Header, Body, Trailer, Between, Done }

export class UncheckedGunzip extends Transform {
  private state = State.Header;
  /** Header or trailer bytes gathered so far (they may span chunks). */
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private inflate: zlib.InflateRaw | undefined;
  /** Output bytes of the current member (ISIZE is checked against them, mod 2^32). */
  private memberOut = 0;
  private members = 0;

  constructor() {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.consume(chunk, 0, cb);
  }

  /** Processes chunk[off..]; calls cb once every byte is parsed or taken by zlib. */
  private consume(chunk: Buffer, off: number, cb: TransformCallback): void {
    try {
      while (off < chunk.length) {
        if (this.state === State.Done) return cb();
        if (this.state === State.Between) {
          if (chunk[off] === 0) {
            // padding after the last member: the rest is ignored, as node:zlib's Gunzip does
            this.state = State.Done;
            return cb();
          }
          this.state = State.Header;
        }
        if (this.state === State.Header) {
          const used = this.takeHeader(chunk, off);
          if (used < 0) return cb(); // the header continues in the next chunk
          off = used;
          continue;
        }
        if (this.state === State.Trailer) {
          const need = 8 - this.pendingLen;
          const n = Math.min(need, chunk.length - off);
          // copied: the chunk's memory may be reused once this stream is done with it
          this.pending.push(Buffer.from(chunk.subarray(off, off + n)));
          this.pendingLen += n;
          off += n;
          if (this.pendingLen < 8) return cb();
          const trailer = Buffer.concat(this.pending);
          this.pending = [];
          this.pendingLen = 0;
          const isize = trailer.readUInt32LE(4);
          if (isize !== this.memberOut % 0x100000000) throw new Error(`gzip member ${this.members}: ISIZE ${isize} does not match the ${this.memberOut} bytes decoded`);
          this.state = State.Between;
          continue;
        }
        // State.Body: zlib takes what it wants of the rest of the chunk
        const inflate = this.inflate!;
        const before = inflate.bytesWritten;
        const rest = chunk.subarray(off);
        inflate.write(rest, (err) => {
          if (err) return cb(err);
          const used = inflate.bytesWritten - before;
          if (!(inflate as unknown as { _readableState: { ended: boolean } })._readableState.ended) {
            if (used !== rest.length) return cb(new Error('zlib left input unconsumed'));
            return cb();
          }
          // the member's deflate data ended inside this chunk: its trailer follows
          this.endMember();
          this.consume(chunk, off + used, cb);
        });
        return;
      }
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  /** Parses a (possibly partial) member header from chunk[off..]: the offset after it, or -1. */
  private takeHeader(chunk: Buffer, off: number): number {
    const start = this.pendingLen;
    const h = start > 0 ? Buffer.concat([...this.pending, chunk.subarray(off)]) : chunk.subarray(off);
    const len = headerLength(h);
    if (len === undefined) {
      if (h.length > MAX_HEADER) throw new Error(`gzip member ${this.members + 1}: header longer than ${MAX_HEADER} bytes`);
      this.pending = [Buffer.from(h)];
      this.pendingLen = h.length;
      return -1;
    }
    this.pending = [];
    this.pendingLen = 0;
    this.startMember();
    return off + (len - start);
  }

  private startMember(): void {
    this.members++;
    this.memberOut = 0;
    const inflate = zlib.createInflateRaw({ chunkSize: OUT_CHUNK });
    inflate.on('data', (out: Buffer) => {
      this.memberOut += out.length;
      this.push(out);
    });
    inflate.on('error', (e) => this.destroy(e));
    this.inflate = inflate;
    this.state = State.Body;
  }

  private endMember(): void {
    const inflate = this.inflate!;
    this.inflate = undefined;
    inflate.removeAllListeners('data');
    // output zlib produced but has not emitted yet belongs to this member (ISIZE counts it)
    for (let out = inflate.read() as Buffer | null; out !== null; out = inflate.read() as Buffer | null) {
      this.memberOut += out.length;
      this.push(out);
    }
    inflate.on('error', () => undefined);
    inflate.destroy();
    this.state = State.Trailer;
  }

  override _flush(cb: TransformCallback): void {
    if (this.state === State.Between || this.state === State.Done) return cb();
    if (this.state === State.Body) {
      // zlib ends the member if its final block is complete; otherwise it reports the truncation
      const inflate = this.inflate!;
      inflate.once('end', () => {
        if (this.state === State.Body) cb(new Error('unexpected end of file (a gzip member without its trailer)'));
        else cb();
      });
      inflate.once('error', (e) => cb(e));
      inflate.end();
      return;
    }
    cb(new Error(this.members === 0 && this.pendingLen === 0 ? 'unexpected end of file (no gzip data)' : 'unexpected end of file (a truncated gzip member)'));
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    if (this.inflate) {
      this.inflate.removeAllListeners('data');
      this.inflate.on('error', () => undefined);
      this.inflate.destroy();
    }
    cb(err);
  }
}

/**
 * The length of the gzip member header at the start of `h`, undefined when `h` ends inside it.
 * Throws on a header that is not gzip's.
 */
export function headerLength(h: Buffer): number | undefined {
  if (h.length >= 1 && h[0] !== 0x1f) throw new Error('not in gzip format (bad magic)');
  if (h.length >= 2 && h[1] !== 0x8b) throw new Error('not in gzip format (bad magic)');
  if (h.length >= 3 && h[2] !== 8) throw new Error(`unknown gzip compression method ${h[2]}`);
  if (h.length < 10) return undefined;
  const flags = h[3]!;
  if (flags & 0xe0) throw new Error(`reserved gzip header flags set (0x${flags.toString(16)})`);
  let p = 10;
  if (flags & 4) {
    if (h.length < p + 2) return undefined;
    p += 2 + h.readUInt16LE(p);
    if (h.length < p) return undefined;
  }
  for (const bit of [8, 16]) {
    if (flags & bit) {
      const z = h.indexOf(0, p);
      if (z < 0) return undefined;
      p = z + 1;
    }
  }
  if (flags & 2) {
    p += 2;
    if (h.length < p) return undefined;
  }
  return p;
}
