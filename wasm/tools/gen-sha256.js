#!/usr/bin/env node
/*
 * Generates wasm/assembly/sha256.ts: SHA-256 (FIPS 180-4). Run:
 *   node wasm/tools/gen-sha256.js > wasm/assembly/sha256.ts
 *
 * Shape of the block function, chosen by measurement under V8/TurboFan on x64 (bench/README-wasm.md,
 * "sha256 ≥ 400"). TurboFan gives WASM code about 12 general registers; 8 working variables plus a
 * 16-word schedule window plus temporaries do not fit, and its spills and reloads (~1,100 stack
 * accesses per block) were what held the all-in-locals version near 10 cycles per round.
 *  - Message schedule in SIMD: W[0..15] byte-swapped four at a time (v128 load + shuffle), then
 *    W[16..63] four at a time from four v128 values (sigma0 over four lanes; sigma1 on two lanes at a
 *    time, rotations as 64-bit shifts of a duplicated word). One schedule step is interleaved every
 *    four rounds, so the vector unit works while the scalar rounds wait on their dependency chain;
 *    the words go to a 256-byte area (`ws`) that the rounds read 12+ rounds later.
 *  - Rounds fully unrolled with no moves between rounds. Writing A_j for the value that is `a` in
 *    round j and E_j for `e`, round i reads a=A_i, b=A_(i-1), e=E_i, f=E_(i-1), g=E_(i-2) from
 *    locals and d=A_(i-3), h=E_(i-3) from a 4-entry ring in memory (`rs`), where every new A and E
 *    is also stored. That leaves 5 working values + the Maj carry in registers, which fit.
 *  - T1 = ((h + W + K) + Ch) + Sigma1(e) and a' = (T1 + Maj) + Sigma0(a): the slowest term last, so
 *    each chain from e or a to the next round's value is its Sigma plus one or two adds.
 *    Maj(a,b,c) = b ^ ((a ^ b) & (b ^ c)), where b ^ c is the previous round's a ^ b. K is an
 *    immediate (it folds into an x64 lea).
 * Needs WASM SIMD (`--enable simd`, wasm/asconfig.json); every Node >= 16.4 has it.
 */
'use strict';
const K = [
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];
const hex = (n) => '0x' + n.toString(16).padStart(8, '0');
const Sigma1 = (x) => `(rotr<u32>(${x}, 6) ^ rotr<u32>(${x}, 11) ^ rotr<u32>(${x}, 25))`;
// rotr(x,2) ^ rotr(x,13) ^ rotr(x,22) as rotr(rotr(x,11) ^ x, 2) ^ rotr(x,22): one register copy less
// than three rotations of x (x64 rotates in place), one step more latency (measured ~2 % faster)
const Sigma0 = (x) => `(rotr<u32>(rotr<u32>(${x}, 11) ^ ${x}, 2) ^ rotr<u32>(${x}, 22))`;
// sigma0 over four 32-bit lanes (no vector rotate in WASM: two shifts per rotation)
const vsigma0 = (x) =>
  `v128.xor(v128.xor(v128.xor(i32x4.shr_u(${x}, 7), i32x4.shl(${x}, 25)), v128.xor(i32x4.shr_u(${x}, 18), i32x4.shl(${x}, 14))), i32x4.shr_u(${x}, 3))`;
// sigma1 of the words in 32-bit lanes 0 and 2 of d, each 64-bit lane of d holding one word twice:
// the low half of (w:w) >> 17 is rotr(w, 17)
const vsigma1 = (d) => `v128.xor(v128.xor(i64x2.shr_u(${d}, 17), i64x2.shr_u(${d}, 19)), i32x4.shr_u(${d}, 10))`;

// schedule vectors: X(k) holds W[4k..4k+3]; five v128 locals in rotation
const X = (k) => `X${k % 5}`;
/** Computes X(k) (W[4k..4k+3]) from X(k-4)..X(k-1) and stores it at ws + 16k. */
function scheduleStep(k) {
  return [
    `    s15 = i32x4.shuffle(${X(k - 4)}, ${X(k - 3)}, 1, 2, 3, 4);`, // W[t-15..t-12]
    `    sw = i32x4.add(i32x4.add(${X(k - 4)}, ${vsigma0('s15')}), i32x4.shuffle(${X(k - 2)}, ${X(k - 1)}, 1, 2, 3, 4));`, // + W[t-7..t-4]
    `    sd = i32x4.shuffle(${X(k - 1)}, ${X(k - 1)}, 2, 2, 3, 3);`, // W[t-2], W[t-1], each twice
    `    sw = i32x4.add(sw, i32x4.shuffle(${vsigma1('sd')}, zero, 0, 2, 4, 4));`, // lanes 0, 1 final
    `    sd = i32x4.shuffle(sw, sw, 0, 0, 1, 1);`, // W[t], W[t+1], each twice
    `    ${X(k)} = i32x4.add(sw, i32x4.shuffle(zero, ${vsigma1('sd')}, 0, 0, 4, 6));`,
    `    v128.store(ws, ${X(k)}, ${k * 16});`,
  ];
}

const m4 = (j) => ((j % 4) + 4) % 4;
const A = (j) => `a${m4(j)}`; // local holding A_j
const E = (j) => `e${m4(j)}`;
const aSlot = (j) => m4(j) * 4; // ring offset of A_j
const eSlot = (j) => 16 + m4(j) * 4;

const body = [];
for (let k = 0; k < 4; k++) {
  body.push(`    ${X(k)} = i8x16.shuffle(v128.load(p, ${k * 16}), zero, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);`);
  body.push(`    v128.store(ws, ${X(k)}, ${k * 16});`);
}
// A_0..A_-3 = a, b, c, d and E_0..E_-3 = e, f, g, h: locals and ring
body.push(`    let ${A(0)} = load<u32>(state, 0), ${A(-1)} = load<u32>(state, 4), ${A(-2)} = load<u32>(state, 8);`);
body.push(`    let ${E(0)} = load<u32>(state, 16), ${E(-1)} = load<u32>(state, 20), ${E(-2)} = load<u32>(state, 24);`);
body.push(`    let ${A(1)}: u32 = 0, ${E(1)}: u32 = 0;`);
for (let j = 0; j >= -3; j--) {
  body.push(`    store<u32>(rs, ${j > -3 ? A(j) : 'load<u32>(state, 12)'}, ${aSlot(j)}); store<u32>(rs, ${j > -3 ? E(j) : 'load<u32>(state, 28)'}, ${eSlot(j)});`);
}
body.push(`    let x0: u32 = 0;`);
body.push(`    let x1: u32 = ${A(-1)} ^ ${A(-2)};`);
for (let i = 0; i < 64; i++) {
  if (i % 4 === 0 && i < 48) body.push(...scheduleStep(i / 4 + 4));
  const ab = i % 2 === 0 ? 'x0' : 'x1'; // this round's a ^ b
  const bc = i % 2 === 0 ? 'x1' : 'x0'; // the previous round's a ^ b = this round's b ^ c
  const [e, f, g] = [E(i), E(i - 1), E(i - 2)];
  body.push(`    // round ${i}`);
  body.push(`    t = ((load<u32>(rs, ${eSlot(i - 3)}) + load<u32>(ws, ${i * 4}) + ${hex(K[i])}) + (${g} ^ (${e} & (${f} ^ ${g})))) + ${Sigma1(e)};`);
  // E_(i+1) and A_(i+1) are read back from the ring as h and d in round i+4; the last four stay in locals
  const keep = i + 1 <= 60;
  body.push(`    ${E(i + 1)} = load<u32>(rs, ${aSlot(i - 3)}) + t;`);
  if (keep) body.push(`    store<u32>(rs, ${E(i + 1)}, ${eSlot(i + 1)});`);
  body.push(`    ${ab} = ${A(i)} ^ ${A(i - 1)};`);
  body.push(`    ${A(i + 1)} = (t + (${A(i - 1)} ^ (${ab} & ${bc}))) + ${Sigma0(A(i))};`);
  if (keep) body.push(`    store<u32>(rs, ${A(i + 1)}, ${aSlot(i + 1)});`);
}
// after round 63: a..d = A_64..A_61, e..h = E_64..E_61, all in locals
for (let w = 0; w < 8; w++) {
  const v = w < 4 ? A(64 - w) : E(64 - (w - 4));
  body.push(`    store<u32>(state, load<u32>(state, ${w * 4}) + ${v}, ${w * 4});`);
}

process.stdout.write(`// GENERATED by wasm/tools/gen-sha256.js — edit the generator, not this file.
//
// Streaming SHA-256 (FIPS 180-4). Memory contract with the loader (wasm/src/sha256.ts):
//   inputPtr()      start of the input buffer (INPUT_CAP bytes); the loader copies data there
//   init()          starts a new message
//   update(len)     hashes \`len\` bytes from the input buffer (any length, any alignment)
//   final(): usize  pads, finishes and returns a pointer to the 32-byte digest
// No allocation after instantiation; the runtime is the stub runtime. Uses WASM SIMD (v128) for
// the message schedule; the layout of the block function is explained in the generator.

const INPUT_CAP: u32 = 256 * 1024;
const input: usize = memory.data(INPUT_CAP, 16);
const state: usize = memory.data(32, 16);
const partial: usize = memory.data(128, 16);
const digestOut: usize = memory.data(32, 16);
/** Message schedule W[0..63] of the current block. */
const ws: usize = memory.data(256, 16);
/** Ring of the last four a-values (offsets 0..15) and e-values (16..31). */
const rs: usize = memory.data(32, 16);
let partialLen: u32 = 0;
let total: u64 = 0;

export function inputPtr(): usize { return input; }
export function inputCap(): u32 { return INPUT_CAP; }

export function init(): void {
  store<u32>(state, 0x6a09e667, 0);
  store<u32>(state, 0xbb67ae85, 4);
  store<u32>(state, 0x3c6ef372, 8);
  store<u32>(state, 0xa54ff53a, 12);
  store<u32>(state, 0x510e527f, 16);
  store<u32>(state, 0x9b05688c, 20);
  store<u32>(state, 0x1f83d9ab, 24);
  store<u32>(state, 0x5be0cd19, 28);
  partialLen = 0;
  total = 0;
}

/** Hashes \`n\` whole 64-byte blocks starting at \`p\`. */
function blocks(p: usize, n: u32): void {
  const end = p + (<usize>n << 6);
  const zero = i32x4.splat(0);
  let X0 = zero, X1 = zero, X2 = zero, X3 = zero, X4 = zero;
  let s15 = zero, sw = zero, sd = zero;
  let t: u32 = 0;
  while (p < end) {
${body.join('\n')}
    p += 64;
  }
}

export function update(len: u32): void {
  let p = input;
  let n = len;
  total += <u64>len;
  if (partialLen > 0) {
    const take = min<u32>(64 - partialLen, n);
    memory.copy(partial + partialLen, p, take);
    partialLen += take;
    p += take;
    n -= take;
    if (partialLen < 64) return;
    blocks(partial, 1);
    partialLen = 0;
  }
  const whole = n >> 6;
  if (whole > 0) blocks(p, whole);
  p += <usize>whole << 6;
  n &= 63;
  if (n > 0) {
    memory.copy(partial, p, n);
    partialLen = n;
  }
}

export function final(): usize {
  const bits = total << 3;
  let n = partialLen;
  store<u8>(partial + n, 0x80);
  n++;
  const padTo: u32 = n <= 56 ? 56 : 120;
  memory.fill(partial + n, 0, padTo - n);
  store<u64>(partial + padTo, bswap<u64>(bits));
  blocks(partial, (padTo + 8) >> 6);
  for (let i: u32 = 0; i < 8; i++) store<u32>(digestOut + (i << 2), bswap<u32>(load<u32>(state + (i << 2))));
  partialLen = 0;
  return digestOut;
}
`);
