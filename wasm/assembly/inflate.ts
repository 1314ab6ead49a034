// Streaming DEFLATE (RFC 1951) decoder with gzip (RFC 1952, multi-member) and zlib (RFC 1950)
// framing, resumable at any input chunk boundary.
//
// Memory contract with the loader (wasm/src/inflate.ts):
//   init(format)        format 0 = raw deflate, 1 = zlib, 2 = gzip; resets all state
//   inputPtr()          start of the input region (INPUT_CAP bytes + zero padding)
//   compact(): u32      moves unread input to the front; returns the write offset (= bytes held)
//   push(n)             n bytes were written at inputPtr() + compact()'s offset
//   run(final): i32     decodes; final = 1 once no more input will come.
//                       >= 0: ST_NEED_INPUT, ST_OUTPUT_FULL, ST_DONE; < 0: an error code (E_*)
//   outPtr()/flushStart()/flushEnd()  the decoded bytes not yet handed to JS are
//                       [outPtr()+flushStart(), outPtr()+flushEnd()); JS copies them, then calls
//   flushed()           which may slide the 32 KiB window to the front of the output region.
//
// Design: a 64-bit bit buffer with branch-free refill (the refill reads 8 bytes, which the zero
// padding after the input makes safe), an 11-bit primary literal/length table and an 8-bit primary
// distance table with second-level tables for longer codes, and 8-byte match copies into an output
// region with slack. The fast loop only runs while at least 16 input bytes remain (or at the end
// of the stream, where the padding is zeroed and over-reads are detected), so every suspension
// point is a symbol boundary and the only state to keep is the bit buffer and the block kind.
import { copyShortDistance } from './copy';

const INPUT_CAP: u32 = 1 << 20;
const INPUT_PAD: u32 = 4096;
const WINDOW: u32 = 32768;
const OUT_CHUNK: u32 = 512 * 1024;
const OUT_SLACK: u32 = 512; // >= 258 (longest match) + 8 (copy overshoot)
const OUT_CAP: u32 = WINDOW + OUT_CHUNK;
/** Minimum input bytes before a block header is parsed when more input may come (header <= 290 bytes). */
const HEADER_NEED: u32 = 640;

export const ST_NEED_INPUT: i32 = 0;
export const ST_OUTPUT_FULL: i32 = 1;
export const ST_DONE: i32 = 2;
/** With external CRC: the member's output is all handed out; call provideCrc(), then run again. */
export const ST_NEED_CHECK: i32 = 3;

export const E_BAD_MAGIC: i32 = -1;
export const E_BAD_METHOD: i32 = -2;
export const E_BAD_FLAGS: i32 = -3;
export const E_HEADER_CRC: i32 = -4;
export const E_HEADER_TOO_LONG: i32 = -5;
export const E_BAD_BLOCK_TYPE: i32 = -6;
export const E_BAD_STORED_LEN: i32 = -7;
export const E_BAD_TABLE: i32 = -8;
export const E_BAD_CODE: i32 = -9;
export const E_BAD_DIST_CODE: i32 = -10;
export const E_DIST_TOO_FAR: i32 = -11;
export const E_CRC: i32 = -12;
export const E_ISIZE: i32 = -13;
export const E_ADLER: i32 = -14;
export const E_TRUNCATED: i32 = -15;
export const E_TRAILING: i32 = -16;
export const E_DICT: i32 = -17;
export const E_ZLIB_HEADER: i32 = -18;

const input: usize = memory.data(INPUT_CAP + INPUT_PAD, 16);
const out: usize = memory.data(OUT_CAP + OUT_SLACK, 16);

const LITBITS: u32 = 11;
const DISTBITS: u32 = 8;
const litTab: usize = memory.data((2048 + 288 * 16) * 4, 16);
const distTab: usize = memory.data((256 + 32 * 128) * 4, 16);
const clTab: usize = memory.data(128 * 4, 16);
const lens: usize = memory.data(320, 16);
const counts: usize = memory.data(16 * 4, 16);
const offs: usize = memory.data(16 * 4, 16);
const sorted: usize = memory.data(320 * 2, 16);
const crcTab: usize = memory.data(8 * 256 * 4, 16);

const F_LIT: u32 = 0x100;
const F_EOB: u32 = 0x200;
const F_SUB: u32 = 0x400;
const F_BAD: u32 = 0x800;

const LEN_BASE: usize = memory.data<u16>([3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]);
const LEN_EXTRA: usize = memory.data<u8>([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]);
const DIST_BASE: usize = memory.data<u16>([1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]);
const DIST_EXTRA: usize = memory.data<u8>([0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]);
const CL_ORDER: usize = memory.data<u8>([16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]);

// states
const S_MEMBER: u32 = 0; // expecting a gzip member / zlib header / first raw block
const S_BLOCK: u32 = 1; // expecting a block header
const S_CODES: u32 = 2; // inside a Huffman-coded block
const S_STORED_LEN: u32 = 3;
const S_STORED: u32 = 4;
const S_TRAILER: u32 = 5;
const S_END: u32 = 6; // zlib/raw stream finished

let format: u32 = 2;
let state: u32 = S_MEMBER;
let lastBlock: bool = false;
let fixedLoaded: bool = false;
let members: u32 = 0;
let storedLeft: u32 = 0;

let inPos: usize = 0; // offsets from `input`
let inEnd: usize = 0;
let bitbuf: u64 = 0;
let bitcnt: u64 = 0;

let outPos: usize = 0; // offsets from `out`
let flushPos: usize = 0;
let checkPos: usize = 0; // output up to here is included in crc/adler
let histBase: usize = 0; // first output offset a back-reference may reach
let crc: u32 = 0;
let adler: u32 = 1;
let isize: u32 = 0;
let crcReady: bool = false;
let extCrc: bool = false; // JS computes the gzip CRC-32 over the output it copies (zlib.crc32)
let noCrc: bool = false; // nobody computes it: the trailer's CRC-32 is not checked (ISIZE still is)
let crcGiven: bool = false;
let givenCrc: u32 = 0;

/**
 * Who checks a gzip member's CRC-32 (not reset by init): 0 this module, 1 JS (`provideCrc` when
 * asked with ST_NEED_CHECK), 2 nobody — for a caller that verifies the output another way (the
 * pull's diff id); ISIZE is checked either way.
 */
export function setExternalCrc(mode: i32): void { extCrc = mode != 0; noCrc = mode == 2; }
export function provideCrc(c: u32): void { givenCrc = c; crcGiven = true; }

export function inputPtr(): usize { return input; }
export function inputCap(): u32 { return INPUT_CAP; }
export function outPtr(): usize { return out; }
export function flushStart(): u32 { return <u32>flushPos; }
export function flushEnd(): u32 { return <u32>outPos; }
/** Total bytes of input consumed so far is not tracked; bytes still buffered: */
export function buffered(): u32 { return <u32>(inEnd - inPos); }

function initCrc(): void {
  for (let n: u32 = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    store<u32>(crcTab + (n << 2), c);
  }
  for (let n: u32 = 0; n < 256; n++) {
    let c = load<u32>(crcTab + (n << 2));
    for (let k: u32 = 1; k < 8; k++) {
      c = load<u32>(crcTab + ((c & 0xff) << 2)) ^ (c >>> 8);
      store<u32>(crcTab + (k << 10) + (n << 2), c);
    }
  }
  crcReady = true;
}

/** CRC-32 (slice-by-8) of [p, p+n), continuing from `c`. */
export function crc32(c: u32, p: usize, n: usize): u32 {
  if (!crcReady) initCrc();
  c = ~c;
  const t = crcTab;
  while (n >= 8) {
    const lo = load<u32>(p) ^ c;
    const hi = load<u32>(p, 4);
    c = load<u32>(t + (7 << 10) + ((lo & 0xff) << 2)) ^
      load<u32>(t + (6 << 10) + (((lo >>> 8) & 0xff) << 2)) ^
      load<u32>(t + (5 << 10) + (((lo >>> 16) & 0xff) << 2)) ^
      load<u32>(t + (4 << 10) + ((lo >>> 24) << 2)) ^
      load<u32>(t + (3 << 10) + ((hi & 0xff) << 2)) ^
      load<u32>(t + (2 << 10) + (((hi >>> 8) & 0xff) << 2)) ^
      load<u32>(t + (1 << 10) + (((hi >>> 16) & 0xff) << 2)) ^
      load<u32>(t + ((hi >>> 24) << 2));
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    c = load<u32>(t + (((c ^ load<u8>(p)) & 0xff) << 2)) ^ (c >>> 8);
    p++;
    n--;
  }
  return ~c;
}

function adler32(a: u32, p: usize, n: usize): u32 {
  let s1 = a & 0xffff;
  let s2 = a >>> 16;
  while (n > 0) {
    const k = n < 5552 ? n : 5552;
    n -= k;
    const end = p + k;
    while (p + 4 <= end) {
      s1 += load<u8>(p); s2 += s1;
      s1 += load<u8>(p, 1); s2 += s1;
      s1 += load<u8>(p, 2); s2 += s1;
      s1 += load<u8>(p, 3); s2 += s1;
      p += 4;
    }
    while (p < end) { s1 += load<u8>(p); s2 += s1; p++; }
    s1 %= 65521;
    s2 %= 65521;
  }
  return (s2 << 16) | s1;
}

/** Folds the output produced since the last call into the running check value. */
function updateCheck(): void {
  const n = outPos - checkPos;
  if (n == 0) return;
  if (format == 2) { if (!extCrc) crc = crc32(crc, out + checkPos, n); }
  else if (format == 1) adler = adler32(adler, out + checkPos, n);
  isize += <u32>n;
  checkPos = outPos;
}

export function init(fmt: u32): void {
  format = fmt;
  state = S_MEMBER;
  lastBlock = false;
  fixedLoaded = false;
  members = 0;
  storedLeft = 0;
  inPos = 0;
  inEnd = 0;
  bitbuf = 0;
  bitcnt = 0;
  outPos = 0;
  flushPos = 0;
  checkPos = 0;
  histBase = 0;
  crc = 0;
  adler = 1;
  isize = 0;
  crcGiven = false;
  if (!crcReady) initCrc();
}

export function compact(): u32 {
  // keep up to 8 bytes before inPos: the bit buffer may hold them and rewinds into them
  const keep: usize = inPos < 8 ? inPos : 8;
  const from = inPos - keep;
  if (from > 0) {
    memory.copy(input, input + from, inEnd - from);
    inEnd -= from;
    inPos = keep;
  }
  return <u32>inEnd;
}

export function push(n: u32): void {
  inEnd += <usize>n;
}

export function flushed(): void {
  flushPos = outPos;
  if (outPos >= OUT_CAP - OUT_SLACK - 258) {
    updateCheck();
    const shift = outPos - WINDOW;
    memory.copy(out, out + shift, WINDOW);
    outPos = WINDOW;
    flushPos = WINDOW;
    checkPos = WINDOW;
    histBase = histBase > shift ? histBase - shift : 0;
  }
}

function reverse(code: u32, len: u32): u32 {
  let r: u32 = 0;
  for (let i: u32 = 0; i < len; i++) {
    r = (r << 1) | (code & 1);
    code >>>= 1;
  }
  return r;
}

/**
 * Builds a decoding table for the `n` code lengths at `lensPtr`.
 * kind 0: code-length code, 1: literal/length, 2: distance. Returns false on an invalid code.
 */
function build(lensPtr: usize, n: u32, tab: usize, tbits: u32, kind: u32): bool {
  for (let i: u32 = 0; i < 16; i++) store<u32>(counts + (i << 2), 0);
  for (let s: u32 = 0; s < n; s++) {
    const l = <usize>load<u8>(lensPtr + s);
    store<u32>(counts + (l << 2), load<u32>(counts + (l << 2)) + 1);
  }
  let maxlen: u32 = 15;
  while (maxlen > 0 && load<u32>(counts + (maxlen << 2)) == 0) maxlen--;
  let left: i32 = 1;
  for (let len: u32 = 1; len <= 15; len++) {
    left <<= 1;
    left -= <i32>load<u32>(counts + (len << 2));
    if (left < 0) return false; // over-subscribed
  }
  // incomplete codes are only allowed for a single length-1 code (or none) outside the code-length code
  if (left > 0 && (kind == 0 || maxlen > 1)) return false;
  store<u32>(offs + 4, 0);
  for (let len: u32 = 1; len < 15; len++) {
    store<u32>(offs + ((len + 1) << 2), load<u32>(offs + (len << 2)) + load<u32>(counts + (len << 2)));
  }
  for (let s: u32 = 0; s < n; s++) {
    const l = <usize>load<u8>(lensPtr + s);
    if (l != 0) {
      const o = load<u32>(offs + (l << 2));
      store<u16>(sorted + (o << 1), <u16>s);
      store<u32>(offs + (l << 2), o + 1);
    }
  }
  const tsize: u32 = 1 << tbits;
  for (let i: u32 = 0; i < tsize; i++) store<u32>(tab + (i << 2), F_BAD);
  const subbits: u32 = maxlen > tbits ? maxlen - tbits : 0;
  const subsize: u32 = 1 << subbits;
  let next: u32 = tsize;
  let code: u32 = 0;
  let idx: u32 = 0;
  for (let len: u32 = 1; len <= maxlen; len++) {
    const cnt = load<u32>(counts + (len << 2));
    for (let k: u32 = 0; k < cnt; k++) {
      const s = <u32>load<u16>(sorted + (idx << 1));
      idx++;
      let entry: u32;
      if (kind == 0) {
        entry = s << 16;
      } else if (kind == 1) {
        if (s < 256) entry = F_LIT | (s << 16);
        else if (s == 256) entry = F_EOB;
        else if (s < 286) entry = ((<u32>load<u16>(LEN_BASE + ((s - 257) << 1))) << 16) | ((<u32>load<u8>(LEN_EXTRA + s - 257)) << 4);
        else entry = F_BAD;
      } else {
        if (s < 30) entry = ((<u32>load<u16>(DIST_BASE + (s << 1))) << 16) | ((<u32>load<u8>(DIST_EXTRA + s)) << 4);
        else entry = F_BAD;
      }
      const rev = reverse(code, len);
      if (len <= tbits) {
        const e = entry | len;
        const step: u32 = 1 << len;
        for (let i = rev; i < tsize; i += step) store<u32>(tab + (i << 2), e);
      } else {
        const p = rev & (tsize - 1);
        let pe = load<u32>(tab + (p << 2));
        if ((pe & F_SUB) == 0) {
          pe = F_SUB | subbits | (next << 16);
          store<u32>(tab + (p << 2), pe);
          for (let i: u32 = 0; i < subsize; i++) store<u32>(tab + ((next + i) << 2), F_BAD);
          next += subsize;
        }
        const base = pe >>> 16;
        const sublen = len - tbits;
        const e = entry | sublen;
        const step: u32 = 1 << sublen;
        for (let i = rev >>> tbits; i < subsize; i += step) store<u32>(tab + ((base + i) << 2), e);
      }
      code++;
    }
    code <<= 1;
  }
  return true;
}

// ---- bit buffer helpers (header parsing; not the hot loop) ----

// @ts-ignore: decorator
@inline function refill(): void {
  bitbuf |= load<u64>(input + inPos) << bitcnt;
  inPos += <usize>((63 - bitcnt) >> 3);
  bitcnt |= 56;
}

// @ts-ignore: decorator
@inline function bits(n: u32): u32 {
  const v = <u32>(bitbuf & ((<u64>1 << <u64>n) - 1));
  bitbuf >>= <u64>n;
  bitcnt -= <u64>n;
  return v;
}

/** Drops the bits up to the next byte boundary and gives whole buffered bytes back to the input. */
function alignAndRewind(): void {
  bitcnt &= ~(<u64>7);
  inPos -= <usize>(bitcnt >> 3);
  bitbuf = 0;
  bitcnt = 0;
}

/** Reads a symbol with a table whose codes all fit the primary index (code-length code). */
function decodeSmall(tab: usize, tbits: u32): u32 {
  const e = load<u32>(tab + ((<usize>bitbuf & ((1 << tbits) - 1)) << 2));
  const n = e & 15;
  bitbuf >>= <u64>n;
  bitcnt -= <u64>n;
  return e;
}

function loadFixed(): void {
  for (let i: u32 = 0; i < 144; i++) store<u8>(lens + i, 8);
  for (let i: u32 = 144; i < 256; i++) store<u8>(lens + i, 9);
  for (let i: u32 = 256; i < 280; i++) store<u8>(lens + i, 7);
  for (let i: u32 = 280; i < 288; i++) store<u8>(lens + i, 8);
  build(lens, 288, litTab, LITBITS, 1);
  for (let i: u32 = 0; i < 32; i++) store<u8>(lens + i, 5);
  build(lens, 32, distTab, DISTBITS, 2);
  fixedLoaded = true;
}

/** Parses a block header (input availability already ensured). Returns 0 or an error. */
function blockHeader(): i32 {
  refill();
  lastBlock = bits(1) != 0;
  const type = bits(2);
  if (type == 0) {
    alignAndRewind();
    state = S_STORED_LEN;
    return 0;
  }
  if (type == 1) {
    if (!fixedLoaded) loadFixed();
    state = S_CODES;
    return 0;
  }
  if (type == 3) return E_BAD_BLOCK_TYPE;
  fixedLoaded = false;
  const hlit = bits(5) + 257;
  const hdist = bits(5) + 1;
  const hclen = bits(4) + 4;
  if (hlit > 286 || hdist > 30) return E_BAD_TABLE;
  for (let i: u32 = 0; i < 19; i++) store<u8>(lens + <usize>load<u8>(CL_ORDER + i), 0);
  for (let i: u32 = 0; i < hclen; i++) {
    refill();
    store<u8>(lens + <usize>load<u8>(CL_ORDER + i), <u8>bits(3));
  }
  if (!build(lens, 19, clTab, 7, 0)) return E_BAD_TABLE;
  const total = hlit + hdist;
  let i: u32 = 0;
  while (i < total) {
    refill();
    const e = decodeSmall(clTab, 7);
    if (e & F_BAD) return E_BAD_TABLE;
    const sym = e >>> 16;
    if (sym < 16) {
      store<u8>(lens + i, <u8>sym);
      i++;
    } else {
      let rep: u32;
      let val: u8 = 0;
      if (sym == 16) {
        if (i == 0) return E_BAD_TABLE;
        val = load<u8>(lens + i - 1);
        rep = 3 + bits(2);
      } else if (sym == 17) {
        rep = 3 + bits(3);
      } else {
        rep = 11 + bits(7);
      }
      if (i + rep > total) return E_BAD_TABLE;
      for (let k: u32 = 0; k < rep; k++) store<u8>(lens + i + k, val);
      i += rep;
    }
  }
  if (load<u8>(lens + 256) == 0) return E_BAD_TABLE; // no end-of-block code
  if (!build(lens, hlit, litTab, LITBITS, 1)) return E_BAD_TABLE;
  // distance lengths follow the literal/length ones
  memory.copy(lens, lens + hlit, hdist);
  if (!build(lens, hdist, distTab, DISTBITS, 2)) return E_BAD_TABLE;
  state = S_CODES;
  return 0;
}

const R_INPUT: i32 = 1;
const R_OUTPUT: i32 = 2;
const R_EOB: i32 = 3;

/** The hot loop: decodes symbols of the current block until end of block, or a buffer limit. */
function codes(inLimit: usize, outLimit: usize): i32 {
  let ip = input + inPos;
  let op = out + outPos;
  let bb = bitbuf;
  let bc = bitcnt;
  const ilim = input + inLimit;
  const olim = out + outLimit;
  const hist = out + histBase;
  const lt = litTab;
  const dt = distTab;
  let ret: i32 = 0;
  while (true) {
    if (ip >= ilim) { ret = R_INPUT; break; }
    if (op >= olim) { ret = R_OUTPUT; break; }
    bb |= load<u64>(ip) << bc;
    ip += <usize>((63 - bc) >> 3);
    bc |= 56;
    let e = load<u32>(lt + ((<usize>bb & 0x7ff) << 2));
    let n: u64;
    if ((e & (F_LIT | F_SUB)) == F_LIT) {
      // literal fast path: up to three literals per refill (>= 56 - 3 * 11 bits left)
      n = <u64>(e & 15);
      bb >>= n;
      bc -= n;
      store<u8>(op, <u8>(e >>> 16));
      op++;
      e = load<u32>(lt + ((<usize>bb & 0x7ff) << 2));
      if ((e & (F_LIT | F_SUB)) == F_LIT) {
        n = <u64>(e & 15);
        bb >>= n;
        bc -= n;
        store<u8>(op, <u8>(e >>> 16));
        op++;
        e = load<u32>(lt + ((<usize>bb & 0x7ff) << 2));
        if ((e & (F_LIT | F_SUB)) == F_LIT) {
          n = <u64>(e & 15);
          bb >>= n;
          bc -= n;
          store<u8>(op, <u8>(e >>> 16));
          op++;
          continue;
        }
      }
      // `e` is the next symbol's entry, already looked up; refilling only adds higher bits
      if (ip >= ilim) { ret = R_INPUT; break; }
      if (op >= olim) { ret = R_OUTPUT; break; }
      bb |= load<u64>(ip) << bc;
      ip += <usize>((63 - bc) >> 3);
      bc |= 56;
    }
    if (e & F_SUB) {
      bb >>= <u64>LITBITS;
      bc -= <u64>LITBITS;
      e = load<u32>(lt + ((<usize>(e >>> 16) + (<usize>bb & ((<usize>1 << <usize>(e & 15)) - 1))) << 2));
    }
    n = <u64>(e & 15);
    bb >>= n;
    bc -= n;
    if (e & F_LIT) {
      store<u8>(op, <u8>(e >>> 16));
      op++;
      continue;
    }
    if (e & (F_EOB | F_BAD)) {
      ret = e & F_EOB ? R_EOB : E_BAD_CODE;
      break;
    }
    let x = <u64>((e >>> 4) & 15);
    const len = <usize>(e >>> 16) + <usize>(bb & ((<u64>1 << x) - 1));
    bb >>= x;
    bc -= x;
    e = load<u32>(dt + ((<usize>bb & 0xff) << 2));
    if (e & F_SUB) {
      bb >>= <u64>DISTBITS;
      bc -= <u64>DISTBITS;
      e = load<u32>(dt + ((<usize>(e >>> 16) + (<usize>bb & ((<usize>1 << <usize>(e & 15)) - 1))) << 2));
    }
    n = <u64>(e & 15);
    bb >>= n;
    bc -= n;
    if (e & F_BAD) { ret = E_BAD_DIST_CODE; break; }
    x = <u64>((e >>> 4) & 15);
    const dist = <usize>(e >>> 16) + <usize>(bb & ((<u64>1 << x) - 1));
    bb >>= x;
    bc -= x;
    if (dist > <usize>(op - hist)) { ret = E_DIST_TOO_FAR; break; }
    let src = op - dist;
    const end = op + len;
    if (dist >= 8) {
      // most matches are short: three unconditional 8-byte copies cover len <= 24
      store<u64>(op, load<u64>(src));
      store<u64>(op, load<u64>(src, 8), 8);
      store<u64>(op, load<u64>(src, 16), 16);
      if (len > 24) {
        op += 24;
        src += 24;
        do {
          store<u64>(op, load<u64>(src));
          op += 8;
          src += 8;
        } while (op < end);
      }
    } else {
      copyShortDistance(op, dist, end);
    }
    op = end;
  }
  inPos = ip - input;
  outPos = op - out;
  bitbuf = bb;
  bitcnt = bc;
  return ret;
}

/** Bytes of input really consumed (the bit buffer may have read ahead). */
// @ts-ignore: decorator
@inline function consumedPos(): usize {
  return inPos - <usize>(bitcnt >> 3);
}

function memberHeader(final: bool): i32 {
  const avail = inEnd - inPos;
  const p = input + inPos;
  if (format == 1) {
    if (avail < 2) return final ? E_TRUNCATED : ST_NEED_INPUT;
    const cmf = <u32>load<u8>(p);
    const flg = <u32>load<u8>(p, 1);
    if ((cmf & 15) != 8 || (cmf >>> 4) > 7) return E_BAD_METHOD;
    if (((cmf << 8) | flg) % 31 != 0) return E_ZLIB_HEADER;
    if (flg & 0x20) return E_DICT;
    inPos += 2;
  } else if (format == 2) {
    // skip zero padding after the last member
    if (members > 0) {
      while (inPos < inEnd && load<u8>(input + inPos) == 0) inPos++;
      if (inPos == inEnd) return final ? ST_DONE : ST_NEED_INPUT;
    }
    const q = input + inPos;
    const a = inEnd - inPos;
    if (a < 10) {
      if (a >= 1 && load<u8>(q) != 0x1f) return members > 0 ? E_TRAILING : E_BAD_MAGIC;
      if (a >= 2 && load<u8>(q, 1) != 0x8b) return members > 0 ? E_TRAILING : E_BAD_MAGIC;
      return final ? E_TRUNCATED : ST_NEED_INPUT;
    }
    if (load<u8>(q) != 0x1f || load<u8>(q, 1) != 0x8b) return members > 0 ? E_TRAILING : E_BAD_MAGIC;
    if (load<u8>(q, 2) != 8) return E_BAD_METHOD;
    const flg = <u32>load<u8>(q, 3);
    if (flg & 0xe0) return E_BAD_FLAGS;
    let k: usize = 10;
    if (flg & 4) {
      if (a < k + 2) return final ? E_TRUNCATED : (inEnd >= <usize>INPUT_CAP ? E_HEADER_TOO_LONG : ST_NEED_INPUT);
      k += 2 + <usize>load<u16>(q + k);
    }
    if (flg & 8) {
      while (k < a && load<u8>(q + k) != 0) k++;
      k++;
    }
    if (flg & 16) {
      while (k < a && load<u8>(q + k) != 0) k++;
      k++;
    }
    if (flg & 2) {
      if (k + 2 <= a) {
        const hc = crc32(0, q, k) & 0xffff;
        if (hc != <u32>load<u16>(q + k)) return E_HEADER_CRC;
      }
      k += 2;
    }
    if (k > a) return final ? E_TRUNCATED : (inEnd >= <usize>INPUT_CAP ? E_HEADER_TOO_LONG : ST_NEED_INPUT);
    inPos += k;
    crc = 0;
    isize = 0;
    histBase = outPos;
    checkPos = outPos;
  }
  members++;
  lastBlock = false;
  state = S_BLOCK;
  return -100; // continue
}

function trailer(final: bool): i32 {
  alignAndRewind();
  updateCheck();
  const a = inEnd - inPos;
  const p = input + inPos;
  if (format == 2) {
    if (a < 8) return final ? E_TRUNCATED : ST_NEED_INPUT;
    if (noCrc) {
      crc = load<u32>(p);
    } else if (extCrc) {
      if (!crcGiven) return ST_NEED_CHECK;
      crcGiven = false;
      crc = givenCrc;
    }
    if (load<u32>(p) != crc) return E_CRC;
    if (load<u32>(p, 4) != isize) return E_ISIZE;
    inPos += 8;
    state = S_MEMBER;
  } else if (format == 1) {
    if (a < 4) return final ? E_TRUNCATED : ST_NEED_INPUT;
    if (bswap<u32>(load<u32>(p)) != adler) return E_ADLER;
    inPos += 4;
    state = S_END;
  } else {
    state = S_END;
  }
  return -100;
}

export function run(finalFlag: i32): i32 {
  const final = finalFlag != 0;
  if (final) memory.fill(input + inEnd, 0, INPUT_PAD);
  const outLimit: usize = OUT_CAP - OUT_SLACK;
  let r: i32 = 0;
  while (true) {
    if (outPos >= outLimit - 258) { r = ST_OUTPUT_FULL; break; }
    if (state == S_MEMBER) {
      r = memberHeader(final);
      if (r != -100) break;
    } else if (state == S_BLOCK) {
      if (!final && inEnd - inPos < HEADER_NEED) { r = ST_NEED_INPUT; break; }
      if (final && consumedPos() >= inEnd && bitcnt < 3) { r = E_TRUNCATED; break; }
      r = blockHeader();
      if (r != 0) break;
      if (final && consumedPos() > inEnd) { r = E_TRUNCATED; break; }
    } else if (state == S_CODES) {
      let lim: usize;
      if (final) lim = inEnd + 16;
      else lim = inEnd > 16 ? inEnd - 16 : 0;
      r = codes(lim, outLimit);
      if (final && consumedPos() > inEnd) { r = E_TRUNCATED; break; }
      if (r == R_EOB) {
        state = lastBlock ? S_TRAILER : S_BLOCK;
      } else if (r == R_INPUT) {
        if (final) { r = E_TRUNCATED; break; }
        r = ST_NEED_INPUT;
        break;
      } else if (r == R_OUTPUT) {
        r = ST_OUTPUT_FULL;
        break;
      } else {
        break; // error
      }
    } else if (state == S_STORED_LEN) {
      if (inEnd - inPos < 4) { r = final ? E_TRUNCATED : ST_NEED_INPUT; break; }
      const len = <u32>load<u16>(input + inPos);
      const nlen = <u32>load<u16>(input + inPos, 2);
      if ((len ^ 0xffff) != nlen) { r = E_BAD_STORED_LEN; break; }
      inPos += 4;
      storedLeft = len;
      state = S_STORED;
    } else if (state == S_STORED) {
      if (storedLeft == 0) {
        state = lastBlock ? S_TRAILER : S_BLOCK;
        continue;
      }
      const avail = inEnd - inPos;
      if (avail == 0) { r = final ? E_TRUNCATED : ST_NEED_INPUT; break; }
      let n = <usize>storedLeft;
      if (n > avail) n = avail;
      const room = outLimit - outPos;
      if (n > room) n = room;
      memory.copy(out + outPos, input + inPos, n);
      outPos += n;
      inPos += n;
      storedLeft -= <u32>n;
    } else if (state == S_TRAILER) {
      r = trailer(final);
      if (r != -100) break;
    } else {
      // S_END: raw or zlib stream finished
      if (inPos < inEnd) { r = E_TRAILING; break; }
      r = final ? ST_DONE : ST_NEED_INPUT;
      break;
    }
  }
  updateCheck();
  return r;
}
