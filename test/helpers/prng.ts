/** Deterministic pseudo-random bytes (xorshift32) for reproducible differential tests. */
export function prng(seed: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    b[i] = s & 255;
  }
  return b;
}
