/**
 * Lent chunks: buffers a producer hands downstream as views into memory it will reuse, instead
 * of handing over memory of their own.
 *
 * Why: a stream's consumer owns the chunks it is given, so a producer that decodes into a
 * buffer of its own must copy each chunk out into fresh memory, which is then faulted in page
 * by page and collected later. For a 210 MB layer decoded on a worker thread that is ~210
 * fresh MiB per layer on the pull's busiest thread (record 010, decision 6). A consumer that
 * says when it is done with each chunk lets the producer reuse the same, already paged-in
 * memory instead.
 *
 * The protocol, between one producer and whoever ends up holding its chunks:
 *   lendFrom(memory, onReturn)   the producer: chunks that are views into `memory` are lent;
 *                                `onReturn(chunk)` is called when one comes back
 *   giveBack(chunk)              the consumer, once it will never read `chunk` again (nor any
 *                                view of it); a no-op for a chunk that is not lent, so a
 *                                consumer may call it on every chunk it gets
 *   stopLending(memory)          the producer, when it is done (or gave up): later giveBacks
 *                                of its chunks do nothing
 * A chunk must travel downstream as the same object (Transforms that pass `chunk` on, pipes):
 * `onReturn` identifies it by object, not by its bytes. A producer lends only to a consumer that
 * is known to give back (see codecs.ts decodeHashApply `lend` and the storage contract's
 * `givesBackChunks`): one that never does would stall it once its memory is all lent.
 */
const lenders = new WeakMap<ArrayBufferLike, (chunk: Uint8Array) => void>();

/** Chunks that are views into `memory` are lent from now on; `onReturn` is told of each one given back. */
export function lendFrom(memory: ArrayBufferLike, onReturn: (chunk: Uint8Array) => void): void {
  lenders.set(memory, onReturn);
}

/** Chunks of `memory` are no longer lent: giving one back does nothing. */
export function stopLending(memory: ArrayBufferLike): void {
  lenders.delete(memory);
}

/** Whether `chunk` is lent (a view into memory a producer reuses once it is given back). */
export function isLent(chunk: Uint8Array): boolean {
  return lenders.has(chunk.buffer);
}

/**
 * The consumer is done with `chunk` and every view of it: a lent chunk goes back to its
 * producer, any other chunk is left alone. Call it once per chunk received.
 */
export function giveBack(chunk: Uint8Array): void {
  const onReturn = lenders.get(chunk.buffer);
  if (onReturn) onReturn(chunk);
}
