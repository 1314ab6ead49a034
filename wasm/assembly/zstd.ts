// Streaming Zstandard (RFC 8878) decoder, resumable at any input chunk boundary.
//
// Memory contract with the loader (wasm/src/zstd.ts) — the same as inflate.ts:
//   init(maxWindow)   resets; frames whose window exceeds maxWindow are refused (E_WINDOW_LIMIT)
//   inputPtr()/inputCap()/compact()/push(n)   input region management
//   run(final): i32   ST_NEED_INPUT / ST_OUTPUT_FULL / ST_DONE, or an error code < 0
//   outPtr()/flushStart()/flushEnd()/flushed()   output hand-over; flushed() may slide the window
//
// Design: the decoder works a whole block at a time (a block is at most 128 KiB, so the 1 MiB
// input region always holds one); between blocks the only state is the frame's (window, repeat
// offsets, previous Huffman and FSE tables, XXH64 state). The output region, grown with
// memory.grow when a frame header is read, holds the window plus room for several blocks;
// when it fills, the last `window` bytes slide to the front after JS has copied the output.
// Literals are decoded into a separate buffer (or used in place when raw); sequences are decoded
// and executed in one pass with all state in locals; copies move 8 bytes at a time into slack.
import { copyShortDistance } from './copy';

const INPUT_CAP: u32 = 1 << 20;
const INPUT_PAD: u32 = 64;
const BLOCK_MAX: u32 = 128 * 1024;
const SLACK: u32 = 64;

export const ST_NEED_INPUT: i32 = 0;
export const ST_OUTPUT_FULL: i32 = 1;
export const ST_DONE: i32 = 2;

const E_BAD_MAGIC: i32 = -1;
const E_RESERVED: i32 = -2;
const E_DICT: i32 = -3;
const E_WINDOW_LIMIT: i32 = -4;
const E_MEMORY: i32 = -5;
const E_BLOCK_TYPE: i32 = -6;
const E_BLOCK_SIZE: i32 = -7;
const E_LITERALS: i32 = -8;
const E_HUF_TABLE: i32 = -9;
const E_HUF_DATA: i32 = -10;
const E_SEQ_HEADER: i32 = -11;
const E_FSE_TABLE: i32 = -12;
const E_SEQ_DATA: i32 = -13;
const E_OFFSET: i32 = -14;
const E_LIT_LENGTH: i32 = -15;
const E_CONTENT_SIZE: i32 = -16;
const E_CHECKSUM: i32 = -17;
const E_TRUNCATED: i32 = -18;
const E_WINDOW_RANGE: i32 = -19;
const E_BLOCK_OUTPUT: i32 = -20;

const input: usize = memory.data(INPUT_CAP + INPUT_PAD, 16);
const litBuf: usize = memory.data(BLOCK_MAX + SLACK, 16);
const hufTable: usize = memory.data(2048 * 2, 16); // u16 entries: symbol | nbBits << 8
const llTable: usize = memory.data(512 * 8, 16); // u64 entries: see fseEntry
const ofTable: usize = memory.data(256 * 8, 16);
const mlTable: usize = memory.data(512 * 8, 16);
const tmpTable: usize = memory.data(64 * 8, 16); // Huffman weights FSE table
const norm: usize = memory.data(256 * 2, 16); // i16 normalized counts
const symbolNext: usize = memory.data(256 * 2, 16);
const tableSymbol: usize = memory.data(512, 16);
const weights: usize = memory.data(256 + 16, 16);
const rankCount: usize = memory.data(16 * 4, 16);
const xxhMem: usize = memory.data(32, 16);

const LL_BASE: usize = memory.data<u32>([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 20, 22, 24, 28, 32, 40, 48, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]);
const LL_BITS: usize = memory.data<u8>([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
const ML_BASE: usize = memory.data<u32>([3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 37, 39, 41, 43, 47, 51, 59, 67, 83, 99, 131, 259, 515, 1027, 2051, 4099, 8195, 16387, 32771, 65539]);
const ML_BITS: usize = memory.data<u8>([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
const LL_DEFAULT: usize = memory.data<i16>([4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1, -1, -1, -1, -1]);
const ML_DEFAULT: usize = memory.data<i16>([1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1]);
const OF_DEFAULT: usize = memory.data<i16>([1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1]);

const K_LL: u32 = 0;
const K_ML: u32 = 1;
const K_OF: u32 = 2;
const K_PLAIN: u32 = 3;

// states
const S_FRAME: u32 = 0;
const S_HEADER: u32 = 1;
const S_BLOCK: u32 = 2;
const S_CHECKSUM: u32 = 3;
const S_SKIP: u32 = 4;

let maxWindow: u64 = 128 << 20;
let state: u32 = S_FRAME;
let frames: u32 = 0;
let skipLeft: u32 = 0;

let inPos: usize = 0;
let inEnd: usize = 0;

let out: usize = 0; // start of the output region (after static data)
let outCap: usize = 0; // usable bytes of the current region
let outPos: usize = 0;
let flushPos: usize = 0;
let checkPos: usize = 0;
let histBase: usize = 0;

// frame state
let windowSize: u64 = 0;
let blockMax: u32 = 0;
let hasChecksum: bool = false;
let verifyChecksum: bool = true; // see setVerifyChecksum
let contentSize: u64 = 0;
let hasContentSize: bool = false;
let frameOut: u64 = 0;
let lastBlock: bool = false;
let rep1: u32 = 1;
let rep2: u32 = 4;
let rep3: u32 = 8;
let hufLog: u32 = 0;
let hufValid: bool = false;
let llLog: u32 = 0;
let ofLog: u32 = 0;
let mlLog: u32 = 0;
let llValid: bool = false;
let ofValid: bool = false;
let mlValid: bool = false;

// XXH64 state
const P1: u64 = 0x9E3779B185EBCA87;
const P2: u64 = 0xC2B2AE3D27D4EB4F;
const P3: u64 = 0x165667B19E3779F9;
const P4: u64 = 0x85EBCA77C2B2AE63;
const P5: u64 = 0x27D4EB2F165667C5;
let xv1: u64 = 0;
let xv2: u64 = 0;
let xv3: u64 = 0;
let xv4: u64 = 0;
let xTotal: u64 = 0;
let xMemSize: u32 = 0;

export function inputPtr(): usize { return input; }
export function inputCap(): u32 { return INPUT_CAP; }
export function outPtr(): usize { return out; }
export function flushStart(): u32 { return <u32>flushPos; }
export function flushEnd(): u32 { return <u32>outPos; }

// ---------------------------------------------------------------- XXH64

// @ts-ignore: decorator
@inline function xround(acc: u64, v: u64): u64 {
  acc += v * P2;
  acc = rotl<u64>(acc, 31);
  return acc * P1;
}

// @ts-ignore: decorator
@inline function xmerge(acc: u64, v: u64): u64 {
  acc ^= xround(0, v);
  return acc * P1 + P4;
}

function xxhReset(): void {
  xv1 = P1 + P2;
  xv2 = P2;
  xv3 = 0;
  xv4 = 0 - P1;
  xTotal = 0;
  xMemSize = 0;
}

function xxhUpdate(p: usize, n: usize): void {
  xTotal += <u64>n;
  if (xMemSize + <u32>n < 32) {
    memory.copy(xxhMem + xMemSize, p, n);
    xMemSize += <u32>n;
    return;
  }
  const end = p + n;
  if (xMemSize > 0) {
    const take = 32 - xMemSize;
    memory.copy(xxhMem + xMemSize, p, take);
    xv1 = xround(xv1, load<u64>(xxhMem));
    xv2 = xround(xv2, load<u64>(xxhMem, 8));
    xv3 = xround(xv3, load<u64>(xxhMem, 16));
    xv4 = xround(xv4, load<u64>(xxhMem, 24));
    p += take;
    xMemSize = 0;
  }
  if (p + 32 <= end) {
    let v1 = xv1, v2 = xv2, v3 = xv3, v4 = xv4;
    const limit = end - 32;
    do {
      v1 = xround(v1, load<u64>(p));
      v2 = xround(v2, load<u64>(p, 8));
      v3 = xround(v3, load<u64>(p, 16));
      v4 = xround(v4, load<u64>(p, 24));
      p += 32;
    } while (p <= limit);
    xv1 = v1; xv2 = v2; xv3 = v3; xv4 = v4;
  }
  if (p < end) {
    memory.copy(xxhMem, p, end - p);
    xMemSize = <u32>(end - p);
  }
}

function xxhDigest(): u64 {
  let h: u64;
  if (xTotal >= 32) {
    h = rotl<u64>(xv1, 1) + rotl<u64>(xv2, 7) + rotl<u64>(xv3, 12) + rotl<u64>(xv4, 18);
    h = xmerge(h, xv1);
    h = xmerge(h, xv2);
    h = xmerge(h, xv3);
    h = xmerge(h, xv4);
  } else {
    h = P5;
  }
  h += xTotal;
  let p = xxhMem;
  const end = xxhMem + xMemSize;
  while (p + 8 <= end) {
    h ^= xround(0, load<u64>(p));
    h = rotl<u64>(h, 27) * P1 + P4;
    p += 8;
  }
  if (p + 4 <= end) {
    h ^= (<u64>load<u32>(p)) * P1;
    h = rotl<u64>(h, 23) * P2 + P3;
    p += 4;
  }
  while (p < end) {
    h ^= (<u64>load<u8>(p)) * P5;
    h = rotl<u64>(h, 11) * P1;
    p++;
  }
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

/** Exported for tests: XXH64 (seed 0) of [p, p+n). */
export function xxh64(p: usize, n: usize): u64 {
  xxhReset();
  xxhUpdate(p, n);
  return xxhDigest();
}

function updateCheck(): void {
  if (outPos > checkPos) {
    if (hasChecksum && verifyChecksum) xxhUpdate(out + checkPos, outPos - checkPos);
    checkPos = outPos;
  }
}

// ---------------------------------------------------------------- setup and I/O

/**
 * Whether frames' XXH64 content checksums are computed and compared (default; not reset by init).
 * Off, the checksum bytes are skipped unread: for a caller that verifies the output another way
 * (the pull's diff id). The content size, when a frame declares one, is checked either way.
 */
export function setVerifyChecksum(on: i32): void { verifyChecksum = on != 0; }

export function init(maxWin: u32): void {
  maxWindow = <u64>maxWin;
  state = S_FRAME;
  frames = 0;
  skipLeft = 0;
  inPos = 0;
  inEnd = 0;
  if (out == 0) out = (__heap_base + 63) & ~(<usize>63);
  outCap = 0;
  outPos = 0;
  flushPos = 0;
  checkPos = 0;
  histBase = 0;
}

export function compact(): u32 {
  if (inPos > 0) {
    memory.copy(input, input + inPos, inEnd - inPos);
    inEnd -= inPos;
    inPos = 0;
  }
  return <u32>inEnd;
}

export function push(n: u32): void {
  inEnd += <usize>n;
}

export function flushed(): void {
  flushPos = outPos;
  if (outCap > 0 && outPos + <usize>blockMax > outCap) {
    updateCheck();
    let keep = outPos - histBase;
    if (<u64>keep > windowSize) keep = <usize>windowSize;
    memory.copy(out, out + outPos - keep, keep);
    outPos = keep;
    flushPos = keep;
    checkPos = keep;
    histBase = 0;
  }
}

/** Makes the output region hold `need` bytes (+ slack), growing memory; false if impossible. */
function reserve(need: u64): bool {
  const end: u64 = <u64>out + need + <u64>SLACK;
  if (end > 0xFFFF0000) return false;
  const have: u64 = (<u64>memory.size()) << 16;
  if (end > have) {
    const pages = <i32>((end - have + 65535) >> 16);
    if (memory.grow(pages) < 0) return false;
  }
  return true;
}

// ---------------------------------------------------------------- bit readers

// @ts-ignore: decorator
@inline function highbit(x: u32): u32 {
  return 31 - clz<u32>(x);
}

/**
 * FSE normalized counts (RFC 8878 4.1.1) from [p, end). Returns the header size in bytes or a
 * negative error; sets `norm[0..maxSym]`, and stores the table log in `ncLog`, max symbol in `ncMax`.
 */
let ncLog: u32 = 0;
let ncMax: u32 = 0;

function readNCount(p: usize, end: usize, maxSym: u32, maxLog: u32): i32 {
  if (end - p < 1) return E_FSE_TABLE;
  const start = p;
  let bitStream = load<u32>(p);
  let nbBits: i32 = <i32>(bitStream & 15) + 5;
  if (<u32>nbBits > maxLog) return E_FSE_TABLE;
  const tableLog = <u32>nbBits;
  bitStream >>>= 4;
  let bitCount: u32 = 4;
  let remaining: i32 = (1 << nbBits) + 1;
  let threshold: i32 = 1 << nbBits;
  nbBits++;
  let sym: u32 = 0;
  let previous0 = false;
  while (remaining > 1 && sym <= maxSym) {
    if (previous0) {
      let n0 = sym;
      while ((bitStream & 0xffff) == 0xffff) {
        n0 += 24;
        p += 2;
        if (p >= end) return E_FSE_TABLE;
        bitStream = load<u32>(p) >>> bitCount;
      }
      while ((bitStream & 3) == 3) {
        n0 += 3;
        bitStream >>>= 2;
        bitCount += 2;
      }
      n0 += bitStream & 3;
      bitCount += 2;
      if (n0 > maxSym) return E_FSE_TABLE;
      while (sym < n0) {
        store<i16>(norm + (sym << 1), 0);
        sym++;
      }
      p += bitCount >> 3;
      bitCount &= 7;
      if (p >= end + 4) return E_FSE_TABLE;
      bitStream = load<u32>(p) >>> bitCount;
    }
    const max: i32 = (2 * threshold - 1) - remaining;
    let count: i32;
    if (<i32>(bitStream & <u32>(threshold - 1)) < max) {
      count = <i32>(bitStream & <u32>(threshold - 1));
      bitCount += <u32>nbBits - 1;
    } else {
      count = <i32>(bitStream & <u32>(2 * threshold - 1));
      if (count >= threshold) count -= max;
      bitCount += <u32>nbBits;
    }
    count--;
    remaining -= count < 0 ? -count : count;
    store<i16>(norm + (sym << 1), <i16>count);
    sym++;
    previous0 = count == 0;
    while (remaining < threshold) {
      nbBits--;
      threshold >>= 1;
    }
    p += bitCount >> 3;
    bitCount &= 7;
    if (p >= end + 4) return E_FSE_TABLE;
    bitStream = load<u32>(p) >>> bitCount;
  }
  if (remaining != 1) return E_FSE_TABLE;
  if (bitCount > 32) return E_FSE_TABLE;
  ncLog = tableLog;
  ncMax = sym - 1;
  p += (bitCount + 7) >> 3;
  if (p > end) return E_FSE_TABLE;
  return <i32>(p - start);
}

/**
 * Builds an FSE decoding table from `norm[0..maxSym]`. Entry (u64): bits 0-15 next-state base,
 * 16-23 bits to read for the next state, 24-31 extra bits of the value, 32-63 value base
 * (for K_PLAIN: the symbol). Returns false on an invalid distribution.
 */
function buildFse(dst: usize, maxSym: u32, tableLog: u32, kind: u32): bool {
  const size: u32 = 1 << tableLog;
  let high: u32 = size - 1;
  for (let s: u32 = 0; s <= maxSym; s++) {
    const c = load<i16>(norm + (s << 1));
    if (c == -1) {
      store<u8>(tableSymbol + high, <u8>s);
      high--;
      store<u16>(symbolNext + (s << 1), 1);
    } else {
      store<u16>(symbolNext + (s << 1), <u16>c);
    }
  }
  const step = (size >> 1) + (size >> 3) + 3;
  const mask = size - 1;
  let pos: u32 = 0;
  for (let s: u32 = 0; s <= maxSym; s++) {
    const c = <i32>load<i16>(norm + (s << 1));
    for (let i = 0; i < c; i++) {
      store<u8>(tableSymbol + pos, <u8>s);
      do {
        pos = (pos + step) & mask;
      } while (pos > high);
    }
  }
  if (pos != 0) return false;
  for (let u: u32 = 0; u < size; u++) {
    const s = <u32>load<u8>(tableSymbol + u);
    const next = <u32>load<u16>(symbolNext + (s << 1));
    store<u16>(symbolNext + (s << 1), <u16>(next + 1));
    if (next == 0) return false;
    const nb = tableLog - highbit(next);
    const newState = (next << nb) - size;
    let add: u32 = 0;
    let base: u32 = s;
    if (kind == K_LL) {
      if (s > 35) return false;
      add = <u32>load<u8>(LL_BITS + s);
      base = load<u32>(LL_BASE + (s << 2));
    } else if (kind == K_ML) {
      if (s > 52) return false;
      add = <u32>load<u8>(ML_BITS + s);
      base = load<u32>(ML_BASE + (s << 2));
    } else if (kind == K_OF) {
      if (s > 31) return false;
      add = s;
      base = s == 0 ? 1 : <u32>(1 << s); // value = base + bits(add); code 0 gives 1
    }
    const e: u64 = (<u64>newState) | ((<u64>nb) << 16) | ((<u64>add) << 24) | ((<u64>base) << 32);
    store<u64>(dst + (<usize>u << 3), e);
  }
  return true;
}

function buildRle(dst: usize, s: u32, kind: u32): bool {
  let add: u32 = 0;
  let base: u32 = s;
  if (kind == K_LL) {
    if (s > 35) return false;
    add = <u32>load<u8>(LL_BITS + s);
    base = load<u32>(LL_BASE + (s << 2));
  } else if (kind == K_ML) {
    if (s > 52) return false;
    add = <u32>load<u8>(ML_BITS + s);
    base = load<u32>(ML_BASE + (s << 2));
  } else if (kind == K_OF) {
    if (s > 31) return false;
    add = s;
    base = s == 0 ? 1 : <u32>(1 << s);
  }
  store<u64>(dst, ((<u64>add) << 24) | ((<u64>base) << 32));
  return true;
}

// Backward bit stream state (only for non-hot paths; the hot loops keep copies in locals).
let bBits: u64 = 0;
let bConsumed: u32 = 0;
let bPtr: usize = 0;
let bStart: usize = 0;

/** Initializes the backward reader over [p, end). False if empty or the last byte is 0. */
function bInit(p: usize, end: usize): bool {
  if (end <= p) return false;
  const last = <u32>load<u8>(end - 1);
  if (last == 0) return false;
  bStart = p;
  const size = end - p;
  if (size >= 8) {
    bPtr = end - 8;
    bBits = load<u64>(bPtr);
    bConsumed = 8 - highbit(last);
  } else {
    bPtr = p;
    let v: u64 = 0;
    for (let i: usize = 0; i < size; i++) v |= (<u64>load<u8>(p + i)) << (<u64>(i << 3));
    bBits = v;
    bConsumed = 8 - highbit(last) + (<u32>(8 - size) << 3);
  }
  return true;
}

// @ts-ignore: decorator
@inline function bRead(n: u32): u32 {
  const v = <u32>(((bBits << <u64>(bConsumed & 63)) >>> 1) >>> <u64>((63 - n) & 63));
  bConsumed += n;
  return v;
}

/** BIT_reloadDStream: 0 unfinished, 1 end of buffer reached, 2 completed exactly, 3 overflow. */
function bReload(): u32 {
  if (bConsumed > 64) return 3;
  if (bPtr >= bStart + 8) {
    bPtr -= <usize>(bConsumed >> 3);
    bConsumed &= 7;
    bBits = load<u64>(bPtr);
    return 0;
  }
  if (bPtr == bStart) return bConsumed < 64 ? 1 : 2;
  let nb = <usize>(bConsumed >> 3);
  let r: u32 = 0;
  if (bPtr - nb < bStart) {
    nb = bPtr - bStart;
    r = 1;
  }
  bPtr -= nb;
  bConsumed -= <u32>nb << 3;
  bBits = load<u64>(bPtr);
  return r;
}

// ---------------------------------------------------------------- Huffman literals

/** Reads a Huffman tree description at [p, end); returns bytes used or an error. */
function readHuffTable(p: usize, end: usize): i32 {
  if (end - p < 1) return E_HUF_TABLE;
  const hb = <u32>load<u8>(p);
  let n: u32 = 0; // number of explicit weights
  let used: u32;
  if (hb >= 128) {
    n = hb - 127;
    used = 1 + ((n + 1) >> 1);
    if (<usize>used > end - p) return E_HUF_TABLE;
    for (let i: u32 = 0; i < n; i++) {
      const b = <u32>load<u8>(p + 1 + (i >> 1));
      store<u8>(weights + i, <u8>((i & 1) == 0 ? b >> 4 : b & 15));
    }
  } else {
    const csize = hb;
    used = 1 + csize;
    if (<usize>used > end - p || csize == 0) return E_HUF_TABLE;
    const q = p + 1;
    const qend = q + csize;
    const nc = readNCount(q, qend, 255, 6);
    if (nc < 0) return E_HUF_TABLE;
    if (!buildFse(tmpTable, ncMax, ncLog, K_PLAIN)) return E_HUF_TABLE;
    if (!bInit(q + <usize>nc, qend)) return E_HUF_TABLE;
    const lg = ncLog;
    let s1 = bRead(lg);
    let s2 = bRead(lg);
    if (bReload() == 3) return E_HUF_TABLE;
    while (true) {
      if (n > 253) return E_HUF_TABLE;
      let e = load<u64>(tmpTable + (<usize>s1 << 3));
      store<u8>(weights + n, <u8>(e >> 32));
      n++;
      s1 = <u32>(e & 0xffff) + bRead(<u32>((e >> 16) & 0xff));
      if (bReload() == 3) {
        e = load<u64>(tmpTable + (<usize>s2 << 3));
        store<u8>(weights + n, <u8>(e >> 32));
        n++;
        break;
      }
      if (n > 253) return E_HUF_TABLE;
      e = load<u64>(tmpTable + (<usize>s2 << 3));
      store<u8>(weights + n, <u8>(e >> 32));
      n++;
      s2 = <u32>(e & 0xffff) + bRead(<u32>((e >> 16) & 0xff));
      if (bReload() == 3) {
        e = load<u64>(tmpTable + (<usize>s1 << 3));
        store<u8>(weights + n, <u8>(e >> 32));
        n++;
        break;
      }
    }
  }
  // weights -> table
  for (let i: u32 = 0; i < 16; i++) store<u32>(rankCount + (i << 2), 0);
  let total: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const w = <u32>load<u8>(weights + i);
    if (w > 11) return E_HUF_TABLE;
    store<u32>(rankCount + (w << 2), load<u32>(rankCount + (w << 2)) + 1);
    if (w > 0) total += (<u32>1 << w) >> 1;
  }
  if (total == 0) return E_HUF_TABLE;
  const tableLog = highbit(total) + 1;
  if (tableLog > 11) return E_HUF_TABLE;
  const rest = (<u32>1 << tableLog) - total;
  const restHigh = highbit(rest);
  if ((<u32>1 << restHigh) != rest) return E_HUF_TABLE;
  const lastW = restHigh + 1;
  store<u8>(weights + n, <u8>lastW);
  store<u32>(rankCount + (lastW << 2), load<u32>(rankCount + (lastW << 2)) + 1);
  const nsym = n + 1;
  const r1 = load<u32>(rankCount + 4);
  if (r1 < 2 || (r1 & 1) != 0) return E_HUF_TABLE;
  // rank starts (reuse rankCount as running start positions)
  let next: u32 = 0;
  for (let w: u32 = 1; w <= tableLog; w++) {
    const c = load<u32>(rankCount + (w << 2));
    store<u32>(rankCount + (w << 2), next);
    next += c << (w - 1);
  }
  for (let s: u32 = 0; s < nsym; s++) {
    const w = <u32>load<u8>(weights + s);
    if (w == 0) continue;
    const len: u32 = (<u32>1 << w) >> 1;
    const startPos = load<u32>(rankCount + (w << 2));
    const e = <u16>(s | ((tableLog + 1 - w) << 8));
    for (let i: u32 = 0; i < len; i++) store<u16>(hufTable + ((startPos + i) << 1), e);
    store<u32>(rankCount + (w << 2), startPos + len);
  }
  hufLog = tableLog;
  hufValid = true;
  return <i32>used;
}

/** Decodes one Huffman stream [p, end) into exactly [dst, dstEnd). */
function hufStream(p: usize, end: usize, dst: usize, dstEnd: usize): bool {
  if (!bInit(p, end)) return false;
  let bits = bBits;
  let consumed = bConsumed;
  let ptr = bPtr;
  const start = bStart;
  const lg = <u64>hufLog;
  const sh = 64 - lg;
  const t = hufTable;
  // fast part: full reloads possible, 4 symbols (<= 44 bits) per reload
  while (ptr >= start + 8 && dst + 4 <= dstEnd) {
    ptr -= <usize>(consumed >> 3);
    consumed &= 7;
    bits = load<u64>(ptr);
    let e = <u32>load<u16>(t + ((<usize>((bits << <u64>consumed) >>> sh)) << 1));
    consumed += e >> 8;
    store<u8>(dst, <u8>e);
    e = <u32>load<u16>(t + ((<usize>((bits << <u64>consumed) >>> sh)) << 1));
    consumed += e >> 8;
    store<u8>(dst, <u8>e, 1);
    e = <u32>load<u16>(t + ((<usize>((bits << <u64>consumed) >>> sh)) << 1));
    consumed += e >> 8;
    store<u8>(dst, <u8>e, 2);
    e = <u32>load<u16>(t + ((<usize>((bits << <u64>consumed) >>> sh)) << 1));
    consumed += e >> 8;
    store<u8>(dst, <u8>e, 3);
    dst += 4;
  }
  bBits = bits;
  bConsumed = consumed;
  bPtr = ptr;
  return hufTail(dst, dstEnd);
}

/** Finishes a stream whose reader state is in bBits/bConsumed/bPtr/bStart, one symbol at a time. */
function hufTail(dst: usize, dstEnd: usize): bool {
  const lg = <u64>hufLog;
  const t = hufTable;
  while (dst < dstEnd) {
    const r = bReload();
    if (r == 3) return false;
    const e = <u32>load<u16>(t + ((<usize>(((bBits << <u64>(bConsumed & 63)) >>> 1) >>> (63 - lg))) << 1));
    bConsumed += e >> 8;
    store<u8>(dst, <u8>e);
    dst++;
  }
  bReload();
  return bPtr == bStart && bConsumed == 64;
}

// @ts-ignore: decorator
@inline function hufSym(t: usize, bits: u64, consumed: u32, sh: u64): u32 {
  return <u32>load<u16>(t + ((<usize>((bits << <u64>consumed) >>> sh)) << 1));
}

/**
 * The four streams of a 4-stream literals section, decoded in lockstep while every stream can
 * reload a full 8 bytes (independent streams let the CPU overlap their table lookups), then each
 * finished on its own.
 */
function huf4(d: usize, s1: usize, s2: usize, s3: usize, qend: usize, o: usize, seg: usize, regen: usize): bool {
  const a0 = d, a1 = d + s1, a2 = a1 + s2, a3 = a2 + s3;
  if (!bInit(a0, a1)) return false;
  let b1 = bBits, c1 = bConsumed, r1 = bPtr;
  if (!bInit(a1, a2)) return false;
  let b2 = bBits, c2 = bConsumed, r2 = bPtr;
  if (!bInit(a2, a3)) return false;
  let b3 = bBits, c3 = bConsumed, r3 = bPtr;
  if (!bInit(a3, qend)) return false;
  let b4 = bBits, c4 = bConsumed, r4 = bPtr;
  let o1 = o, o2 = o + seg, o3 = o + 2 * seg, o4 = o + 3 * seg;
  const end4 = o + regen; // the 4th segment is the shortest
  const t = hufTable;
  const sh = <u64>(64 - hufLog);
  while (r1 >= a0 + 8 && r2 >= a1 + 8 && r3 >= a2 + 8 && r4 >= a3 + 8 && o4 + 4 <= end4) {
    r1 -= <usize>(c1 >> 3); c1 &= 7; b1 = load<u64>(r1);
    r2 -= <usize>(c2 >> 3); c2 &= 7; b2 = load<u64>(r2);
    r3 -= <usize>(c3 >> 3); c3 &= 7; b3 = load<u64>(r3);
    r4 -= <usize>(c4 >> 3); c4 &= 7; b4 = load<u64>(r4);
    for (let k = 0; k < 4; k++) {
      const e1 = hufSym(t, b1, c1, sh);
      const e2 = hufSym(t, b2, c2, sh);
      const e3 = hufSym(t, b3, c3, sh);
      const e4 = hufSym(t, b4, c4, sh);
      c1 += e1 >> 8; c2 += e2 >> 8; c3 += e3 >> 8; c4 += e4 >> 8;
      store<u8>(o1, <u8>e1); store<u8>(o2, <u8>e2); store<u8>(o3, <u8>e3); store<u8>(o4, <u8>e4);
      o1++; o2++; o3++; o4++;
    }
  }
  bStart = a0; bBits = b1; bConsumed = c1; bPtr = r1;
  if (!hufTail(o1, o + seg)) return false;
  bStart = a1; bBits = b2; bConsumed = c2; bPtr = r2;
  if (!hufTail(o2, o + 2 * seg)) return false;
  bStart = a2; bBits = b3; bConsumed = c3; bPtr = r3;
  if (!hufTail(o3, o + 3 * seg)) return false;
  bStart = a3; bBits = b4; bConsumed = c4; bPtr = r4;
  return hufTail(o4, end4);
}

/** Parses the literals section at [p, end). Sets litPtr/litLen; returns bytes used or an error. */
let litPtr: usize = 0;
let litLen: u32 = 0;

function literals(p: usize, end: usize): i32 {
  if (end - p < 1) return E_LITERALS;
  const b0 = <u32>load<u8>(p);
  const type = b0 & 3;
  const sf = (b0 >> 2) & 3;
  if (type < 2) {
    let size: u32;
    let hs: u32;
    if ((sf & 1) == 0) {
      size = b0 >> 3;
      hs = 1;
    } else if (sf == 1) {
      if (end - p < 2) return E_LITERALS;
      size = (b0 >> 4) | ((<u32>load<u8>(p, 1)) << 4);
      hs = 2;
    } else {
      if (end - p < 3) return E_LITERALS;
      size = (b0 >> 4) | ((<u32>load<u8>(p, 1)) << 4) | ((<u32>load<u8>(p, 2)) << 12);
      hs = 3;
    }
    if (size > blockMax) return E_LITERALS;
    if (type == 0) {
      if (<usize>(hs + size) > end - p) return E_LITERALS;
      litPtr = p + hs;
      litLen = size;
      return <i32>(hs + size);
    }
    if (<usize>(hs + 1) > end - p) return E_LITERALS;
    memory.fill(litBuf, load<u8>(p + hs), size);
    litPtr = litBuf;
    litLen = size;
    return <i32>(hs + 1);
  }
  // Huffman-coded
  let regen: u32;
  let csize: u32;
  let hs: u32;
  let streams: u32 = 4;
  if (end - p < 3) return E_LITERALS;
  const lhc = load<u32>(p); // may read past the block: the input region is padded
  if (sf < 2) {
    hs = 3;
    regen = (lhc >> 4) & 0x3ff;
    csize = (lhc >> 14) & 0x3ff;
    if (sf == 0) streams = 1;
  } else if (sf == 2) {
    hs = 4;
    regen = (lhc >> 4) & 0x3fff;
    csize = lhc >> 18;
  } else {
    hs = 5;
    if (end - p < 5) return E_LITERALS;
    regen = (lhc >> 4) & 0x3ffff;
    csize = (lhc >> 22) | ((<u32>load<u8>(p, 4)) << 10);
  }
  if (regen > blockMax) return E_LITERALS;
  if (<usize>(hs + csize) > end - p) return E_LITERALS;
  let q = p + hs;
  const qend = q + csize;
  if (type == 2) {
    const used = readHuffTable(q, qend);
    if (used < 0) return used;
    q += <usize>used;
  } else if (!hufValid) {
    return E_HUF_TABLE;
  }
  if (streams == 1) {
    if (!hufStream(q, qend, litBuf, litBuf + regen)) return E_HUF_DATA;
  } else {
    if (qend - q < 10 || regen < 6) return E_HUF_DATA;
    const s1 = <usize>load<u16>(q);
    const s2 = <usize>load<u16>(q, 2);
    const s3 = <usize>load<u16>(q, 4);
    const d = q + 6;
    if (s1 + s2 + s3 > qend - d) return E_HUF_DATA;
    const seg = <usize>((regen + 3) >> 2);
    if (!huf4(d, s1, s2, s3, qend, litBuf, seg, <usize>regen)) return E_HUF_DATA;
  }
  litPtr = litBuf;
  litLen = regen;
  return <i32>(hs + csize);
}

// ---------------------------------------------------------------- sequences

function seqTable(mode: u32, p: usize, end: usize, kind: u32): i32 {
  const dst = kind == K_LL ? llTable : kind == K_ML ? mlTable : ofTable;
  const maxSym: u32 = kind == K_LL ? 35 : kind == K_ML ? 52 : 31;
  const maxLog: u32 = kind == K_OF ? 8 : 9;
  let used: i32 = 0;
  let lg: u32 = 0;
  if (mode == 0) {
    const def = kind == K_LL ? LL_DEFAULT : kind == K_ML ? ML_DEFAULT : OF_DEFAULT;
    const n: u32 = kind == K_LL ? 36 : kind == K_ML ? 53 : 29;
    memory.copy(norm, def, n << 1);
    lg = kind == K_OF ? 5 : 6;
    if (!buildFse(dst, n - 1, lg, kind)) return E_FSE_TABLE;
  } else if (mode == 1) {
    if (end - p < 1) return E_SEQ_HEADER;
    if (!buildRle(dst, <u32>load<u8>(p), kind)) return E_FSE_TABLE;
    lg = 0;
    used = 1;
  } else if (mode == 2) {
    used = readNCount(p, end, maxSym, maxLog);
    if (used < 0) return used;
    lg = ncLog;
    if (!buildFse(dst, ncMax, lg, kind)) return E_FSE_TABLE;
  } else {
    const ok = kind == K_LL ? llValid : kind == K_ML ? mlValid : ofValid;
    if (!ok) return E_FSE_TABLE;
    return 0;
  }
  if (kind == K_LL) { llLog = lg; llValid = true; }
  else if (kind == K_ML) { mlLog = lg; mlValid = true; }
  else { ofLog = lg; ofValid = true; }
  return used;
}

// @ts-ignore: decorator
@inline function wildcopy(dst: usize, src: usize, n: usize): void {
  const end = dst + n;
  do {
    store<u64>(dst, load<u64>(src));
    store<u64>(dst, load<u64>(src, 8), 8);
    dst += 16;
    src += 16;
  } while (dst < end);
}

/** Decodes and executes the sequences section at [p, end) into out[outPos..]. */
function sequences(p: usize, end: usize): i32 {
  if (end - p < 1) return E_SEQ_HEADER;
  let nbSeq: u32 = <u32>load<u8>(p);
  p++;
  if (nbSeq >= 128) {
    if (nbSeq == 255) {
      if (end - p < 2) return E_SEQ_HEADER;
      nbSeq = <u32>load<u16>(p) + 0x7f00;
      p += 2;
    } else {
      if (end - p < 1) return E_SEQ_HEADER;
      nbSeq = ((nbSeq - 128) << 8) + <u32>load<u8>(p);
      p++;
    }
  }
  let op = out + outPos;
  const blockEnd = op + <usize>blockMax;
  let lp = litPtr;
  const lend = litPtr + <usize>litLen;
  if (nbSeq == 0) {
    if (p != end) return E_SEQ_HEADER;
  } else {
    if (end - p < 1) return E_SEQ_HEADER;
    const modes = <u32>load<u8>(p);
    p++;
    if (modes & 3) return E_SEQ_HEADER;
    let r = seqTable(modes >> 6, p, end, K_LL);
    if (r < 0) return r;
    p += <usize>r;
    r = seqTable((modes >> 4) & 3, p, end, K_OF);
    if (r < 0) return r;
    p += <usize>r;
    r = seqTable((modes >> 2) & 3, p, end, K_ML);
    if (r < 0) return r;
    p += <usize>r;
    if (!bInit(p, end)) return E_SEQ_DATA;
    // locals for the hot loop
    let bits = bBits;
    let consumed = bConsumed;
    let ptr = bPtr;
    const start = bStart;
    const llT = llTable;
    const mlT = mlTable;
    const ofT = ofTable;
    let r1 = rep1;
    let r2 = rep2;
    let r3 = rep3;
    const hist = out + histBase;
    const win = windowSize;
    let llS = <u32>(((bits << <u64>consumed) >>> 1) >>> <u64>(63 - llLog));
    consumed += llLog;
    let ofS = <u32>(((bits << <u64>consumed) >>> 1) >>> <u64>(63 - ofLog));
    consumed += ofLog;
    let mlS = <u32>(((bits << <u64>consumed) >>> 1) >>> <u64>(63 - mlLog));
    consumed += mlLog;
    for (let i: u32 = 0; i < nbSeq; i++) {
      // reload (BIT_reloadDStream, inlined)
      if (consumed > 64) return E_SEQ_DATA;
      if (ptr >= start + 8) {
        ptr -= <usize>(consumed >> 3);
        consumed &= 7;
        bits = load<u64>(ptr);
      } else if (ptr > start) {
        let nb = <usize>(consumed >> 3);
        if (ptr - nb < start) nb = ptr - start;
        ptr -= nb;
        consumed -= <u32>nb << 3;
        bits = load<u64>(ptr);
      }
      const ofE = load<u64>(ofT + (<usize>ofS << 3));
      const mlE = load<u64>(mlT + (<usize>mlS << 3));
      const llE = load<u64>(llT + (<usize>llS << 3));
      const ofAdd = <u32>(ofE >> 24) & 0xff;
      let offset = <u32>(ofE >> 32) + <u32>(((bits << <u64>(consumed & 63)) >>> 1) >>> <u64>((63 - ofAdd) & 63));
      consumed += ofAdd;
      const mlAdd = <u32>(mlE >> 24) & 0xff;
      const ml = <u32>(mlE >> 32) + <u32>(((bits << <u64>(consumed & 63)) >>> 1) >>> <u64>((63 - mlAdd) & 63));
      consumed += mlAdd;
      // reload again before literal length and state updates
      if (consumed > 64) return E_SEQ_DATA;
      if (ptr >= start + 8) {
        ptr -= <usize>(consumed >> 3);
        consumed &= 7;
        bits = load<u64>(ptr);
      } else if (ptr > start) {
        let nb = <usize>(consumed >> 3);
        if (ptr - nb < start) nb = ptr - start;
        ptr -= nb;
        consumed -= <u32>nb << 3;
        bits = load<u64>(ptr);
      }
      const llAdd = <u32>(llE >> 24) & 0xff;
      const ll = <u32>(llE >> 32) + <u32>(((bits << <u64>(consumed & 63)) >>> 1) >>> <u64>((63 - llAdd) & 63));
      consumed += llAdd;
      // repeat offsets
      if (ofAdd > 1) {
        // offset value > 3: a new offset
        offset -= 3;
        r3 = r2;
        r2 = r1;
        r1 = offset;
      } else {
        const idx = offset - 1 + (ll == 0 ? 1 : 0); // 0..3
        if (idx == 0) {
          offset = r1;
        } else if (idx == 1) {
          offset = r2;
          r2 = r1;
          r1 = offset;
        } else if (idx == 2) {
          offset = r3;
          r3 = r2;
          r2 = r1;
          r1 = offset;
        } else {
          offset = r1 - 1;
          r3 = r2;
          r2 = r1;
          r1 = offset;
        }
      }
      // state updates (not after the last sequence)
      if (i + 1 < nbSeq) {
        let nb = <u32>(llE >> 16) & 0xff;
        llS = <u32>(llE & 0xffff) + <u32>(((bits << <u64>(consumed & 63)) >>> 1) >>> <u64>((63 - nb) & 63));
        consumed += nb;
        nb = <u32>(mlE >> 16) & 0xff;
        mlS = <u32>(mlE & 0xffff) + <u32>(((bits << <u64>(consumed & 63)) >>> 1) >>> <u64>((63 - nb) & 63));
        consumed += nb;
        nb = <u32>(ofE >> 16) & 0xff;
        ofS = <u32>(ofE & 0xffff) + <u32>(((bits << <u64>(consumed & 63)) >>> 1) >>> <u64>((63 - nb) & 63));
        consumed += nb;
      }
      // execute: literals, then the match
      if (<usize>ll > lend - lp) return E_LIT_LENGTH;
      if (op + <usize>ll + <usize>ml > blockEnd) return E_BLOCK_OUTPUT;
      if (ll > 0) {
        wildcopy(op, lp, ll);
        op += ll;
        lp += ll;
      }
      const avail = op - hist;
      if (offset == 0 || <usize>offset > avail || <u64>offset > win) return E_OFFSET;
      let src = op - <usize>offset;
      const mend = op + <usize>ml;
      if (offset >= 16) {
        wildcopy(op, src, ml);
      } else if (offset >= 8) {
        do {
          store<u64>(op, load<u64>(src));
          op += 8;
          src += 8;
        } while (op < mend);
      } else {
        copyShortDistance(op, <usize>offset, mend);
      }
      op = mend;
    }
    // the bitstream must be consumed exactly
    if (consumed > 64) return E_SEQ_DATA;
    if (ptr >= start + 8) {
      ptr -= <usize>(consumed >> 3);
      consumed &= 7;
    } else if (ptr > start) {
      let nb = <usize>(consumed >> 3);
      if (ptr - nb < start) nb = ptr - start;
      ptr -= nb;
      consumed -= <u32>nb << 3;
    }
    if (ptr != start || consumed != 64) return E_SEQ_DATA;
    rep1 = r1;
    rep2 = r2;
    rep3 = r3;
  }
  // last literals
  const rest = lend - lp;
  if (op + rest > blockEnd) return E_BLOCK_OUTPUT;
  if (rest > 0) memory.copy(op, lp, rest);
  op += rest;
  const produced = op - (out + outPos);
  outPos = op - out;
  frameOut += <u64>produced;
  return 0;
}

// ---------------------------------------------------------------- frames and blocks

function frameHeader(final: bool): i32 {
  const avail = inEnd - inPos;
  const p = input + inPos;
  if (avail < 5) return final ? E_TRUNCATED : ST_NEED_INPUT;
  const fhd = <u32>load<u8>(p, 4);
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  if (fhd & 8) return E_RESERVED;
  const dictFlag = fhd & 3;
  const dictSize: u32 = dictFlag == 0 ? 0 : dictFlag == 1 ? 1 : dictFlag == 2 ? 2 : 4;
  const fcsSize: u32 = fcsFlag == 0 ? single : fcsFlag == 1 ? 2 : fcsFlag == 2 ? 4 : 8;
  const hsize: usize = 5 + (single ? 0 : 1) + dictSize + fcsSize;
  if (avail < hsize) return final ? E_TRUNCATED : ST_NEED_INPUT;
  let q = p + 5;
  let win: u64 = 0;
  if (!single) {
    const wd = <u32>load<u8>(q);
    q++;
    const exp = wd >> 3;
    const wlog = 10 + exp;
    if (wlog > 41) return E_WINDOW_RANGE;
    const base: u64 = (<u64>1) << (<u64>wlog);
    win = base + (base >> 3) * (<u64>(wd & 7));
  }
  let dictId: u32 = 0;
  if (dictSize == 1) dictId = <u32>load<u8>(q);
  else if (dictSize == 2) dictId = <u32>load<u16>(q);
  else if (dictSize == 4) dictId = load<u32>(q);
  q += dictSize;
  if (dictId != 0) return E_DICT;
  hasContentSize = fcsSize > 0;
  if (fcsSize == 1) contentSize = <u64>load<u8>(q);
  else if (fcsSize == 2) contentSize = <u64>load<u16>(q) + 256;
  else if (fcsSize == 4) contentSize = <u64>load<u32>(q);
  else if (fcsSize == 8) contentSize = load<u64>(q);
  if (single) win = contentSize;
  if (win > maxWindow) return E_WINDOW_LIMIT;
  // a new frame starts with no history: hand out what is pending first
  if (flushPos != outPos) return ST_OUTPUT_FULL;
  windowSize = win;
  blockMax = win < <u64>BLOCK_MAX ? <u32>win : BLOCK_MAX;
  // region: the window plus room for many blocks, so sliding is rare
  let extra: u64 = 4 << 20;
  if (win > extra) extra = win < <u64>(32 << 20) ? win : <u64>(32 << 20);
  let cap: u64 = win + extra;
  if (cap < <u64>(BLOCK_MAX * 2)) cap = <u64>(BLOCK_MAX * 2);
  if (!reserve(cap)) return E_MEMORY;
  outCap = <usize>cap;
  outPos = 0;
  flushPos = 0;
  checkPos = 0;
  histBase = 0;
  hasChecksum = ((fhd >> 2) & 1) != 0;
  frameOut = 0;
  lastBlock = false;
  rep1 = 1;
  rep2 = 4;
  rep3 = 8;
  hufValid = false;
  llValid = false;
  ofValid = false;
  mlValid = false;
  if (hasChecksum) xxhReset();
  inPos += hsize;
  frames++;
  state = S_BLOCK;
  return -100;
}

function block(final: bool): i32 {
  const avail = inEnd - inPos;
  const p = input + inPos;
  if (avail < 3) return final ? E_TRUNCATED : ST_NEED_INPUT;
  const h = <u32>load<u16>(p) | ((<u32>load<u8>(p, 2)) << 16);
  const last = (h & 1) != 0;
  const type = (h >> 1) & 3;
  const size = h >> 3;
  if (type == 3) return E_BLOCK_TYPE;
  if (size > blockMax) return E_BLOCK_SIZE;
  const need: usize = 3 + (type == 1 ? 1 : <usize>size);
  if (avail < need) return final ? E_TRUNCATED : ST_NEED_INPUT;
  if (outPos + <usize>blockMax > outCap) return ST_OUTPUT_FULL;
  const body = p + 3;
  if (type == 0) {
    memory.copy(out + outPos, body, size);
    outPos += size;
    frameOut += <u64>size;
  } else if (type == 1) {
    memory.fill(out + outPos, load<u8>(body), size);
    outPos += size;
    frameOut += <u64>size;
  } else {
    const bend = body + size;
    const used = literals(body, bend);
    if (used < 0) return used;
    const r = sequences(body + <usize>used, bend);
    if (r < 0) return r;
  }
  inPos += need;
  if (hasContentSize && frameOut > contentSize) return E_CONTENT_SIZE;
  if (last) {
    if (hasContentSize && frameOut != contentSize) return E_CONTENT_SIZE;
    state = S_CHECKSUM;
  }
  return -100;
}

export function run(finalFlag: i32): i32 {
  const final = finalFlag != 0;
  let r: i32 = 0;
  while (true) {
    if (state == S_FRAME) {
      const avail = inEnd - inPos;
      if (avail == 0) {
        if (final) r = frames > 0 ? ST_DONE : E_TRUNCATED;
        else r = ST_NEED_INPUT;
        break;
      }
      if (avail < 4) { r = final ? E_TRUNCATED : ST_NEED_INPUT; break; }
      const magic = load<u32>(input + inPos);
      if (magic == 0xFD2FB528) {
        state = S_HEADER;
      } else if ((magic & 0xFFFFFFF0) == 0x184D2A50) {
        if (avail < 8) { r = final ? E_TRUNCATED : ST_NEED_INPUT; break; }
        skipLeft = load<u32>(input + inPos, 4);
        inPos += 8;
        frames++;
        state = S_SKIP;
      } else {
        r = E_BAD_MAGIC;
        break;
      }
    } else if (state == S_HEADER) {
      r = frameHeader(final);
      if (r != -100) break;
    } else if (state == S_BLOCK) {
      r = block(final);
      if (r != -100) break;
    } else if (state == S_CHECKSUM) {
      updateCheck();
      if (hasChecksum) {
        if (inEnd - inPos < 4) { r = final ? E_TRUNCATED : ST_NEED_INPUT; break; }
        const want = load<u32>(input + inPos);
        if (verifyChecksum && <u32>xxhDigest() != want) { r = E_CHECKSUM; break; }
        inPos += 4;
      }
      state = S_FRAME;
    } else {
      // S_SKIP
      const avail = inEnd - inPos;
      let n = <usize>skipLeft;
      if (n > avail) n = avail;
      inPos += n;
      skipLeft -= <u32>n;
      if (skipLeft > 0) { r = final ? E_TRUNCATED : ST_NEED_INPUT; break; }
      state = S_FRAME;
    }
  }
  updateCheck();
  return r;
}
