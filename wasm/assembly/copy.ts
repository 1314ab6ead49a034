// Match copies shared by the inflate and zstd decoders.

/**
 * Copies a match whose source starts `dist` bytes (1..7) behind `op`, up to `end`. The source
 * overlaps the destination, so the bytes repeat with period `dist`: a run of one byte is splatted
 * 8 at a time; periods 2..7 write their first 8 bytes one by one, then copy 8 at a time from a
 * whole number of periods back (>= 8 bytes behind, so every 8-byte load reads written bytes).
 * Writes in 8-byte stores, so up to 7 bytes past `end` may be written: callers keep that slack.
 */
// @ts-ignore: decorator
@inline export function copyShortDistance(op: usize, dist: usize, end: usize): void {
  const src = op - dist;
  if (dist == 1) {
    // memory.fill is a call in V8: store 8 at a time
    const v = (<u64>load<u8>(src)) * 0x0101010101010101;
    do {
      store<u64>(op, v);
      op += 8;
    } while (op < end);
    return;
  }
  store<u8>(op, load<u8>(src));
  store<u8>(op, load<u8>(src, 1), 1);
  store<u8>(op, load<u8>(src, 2), 2);
  store<u8>(op, load<u8>(src, 3), 3);
  store<u8>(op, load<u8>(src, 4), 4);
  store<u8>(op, load<u8>(src, 5), 5);
  store<u8>(op, load<u8>(src, 6), 6);
  store<u8>(op, load<u8>(src, 7), 7);
  if (end - op > 8) {
    const back = dist * ((8 + dist - 1) / dist);
    op += 8;
    do {
      store<u64>(op, load<u64>(op - back));
      op += 8;
    } while (op < end);
  }
}
