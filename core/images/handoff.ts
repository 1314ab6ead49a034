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
