/**
 * Buffers whose memory the image pipeline may give away to a worker thread (transfer, no copy).
 *
 * A producer that will never touch a buffer again after handing it on (the pull's download loop:
 * the ingest write and both hashes are done with a piece before it is teed to the unpacker) marks
 * it with `handOff`; a consumer that posts data to a worker (core/images/apply-thread.ts) may then
 * transfer the buffer's ArrayBuffer instead of copying it. Only whole, standalone buffers
 * qualify (not a slice of a larger or pooled allocation), and only marked ones: a buffer from any
 * other stream is copied as before, because detaching memory its producer still reads would
 * corrupt that producer.
 */
const given = new WeakSet<ArrayBuffer>();

/** Marks `buf` as given away by its producer; returns it. */
export function handOff(buf: Buffer): Buffer {
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength && buf.buffer instanceof ArrayBuffer) given.add(buf.buffer);
  return buf;
}

/** The ArrayBuffer of `buf` when its producer gave it away (and it is whole), else undefined. */
export function takeOver(buf: Uint8Array): ArrayBuffer | undefined {
  const ab = buf.buffer;
  if (!(ab instanceof ArrayBuffer) || !given.has(ab) || buf.byteOffset !== 0 || buf.byteLength !== ab.byteLength) return undefined;
  given.delete(ab);
  return ab;
}

/**
 * Recycled 1 MiB pieces. The pull's download loop gathers network chunks into pieces of PIECE
 * bytes and hands them to an apply worker, which sends each one back (`recyclePiece`) once its
 * decompressor has consumed it (codecs.ts `onConsumed`): the next piece then reuses memory that is
 * already paged in, instead of fresh memory faulted in page by page (≈ 21k page faults per pull of
 * the bench image on the main thread) and counted by V8 as new external memory (which triggers
 * its full collections).
 */
export const PIECE = 1 << 20;
const spare: ArrayBuffer[] = [];
/** At most this many idle pieces are kept (16 MiB). */
const MAX_SPARE = 16;

/** A Buffer of `size` bytes, not zeroed: a recycled piece when `size` is PIECE and one is idle. */
export function allocPiece(size: number): Buffer {
  if (size === PIECE) {
    const ab = spare.pop();
    if (ab) return Buffer.from(ab);
  }
  return Buffer.allocUnsafeSlow(size);
}

/** Takes back a piece's memory (an ArrayBuffer of PIECE bytes no one uses any more). */
export function recyclePiece(ab: ArrayBuffer): void {
  // (a detached ArrayBuffer has byteLength 0)
  if (ab.byteLength === PIECE && spare.length < MAX_SPARE) spare.push(ab);
}

/** Idle pieces held now (tests). */
export function sparePieces(): number {
  return spare.length;
}
