import t from 'tap';
import { prng } from '../helpers/prng';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createZstdDecompress, zstdDecompressSync, ERR_WASM_CORRUPT_INPUT, ERR_WASM_LIMIT_EXCEEDED, ERR_WASM_UNSUPPORTED } from '../../wasm/src/index';
import { BerthError } from '../../core/errors';

const VEC = path.join(__dirname, '../vectors/zstd');
const input = fs.readFileSync(path.join(__dirname, '../vectors/deflate/input.bin'));

let haveCli = true;
try {
  execFileSync('zstd', ['--version']);
} catch {
  haveCli = false;
}
const cliSkip = haveCli ? false : 'zstd CLI not installed';

function zstdCli(args: string[], data: Buffer): Buffer {
  return execFileSync('zstd', ['-q', '-c', ...args], { input: data, maxBuffer: 1 << 28 });
}

/** True if the zstd CLI accepts the frame (decodes it). */
function cliAccepts(frame: Buffer): boolean {
  try {
    execFileSync('zstd', ['-q', '-d', '-c'], { input: frame, stdio: ['pipe', 'pipe', 'pipe'] });
    return true;
  } catch {
    return false;
  }
}


function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof BerthError ? err.code : `not a BerthError: ${String(err)}`;
  }
  return 'no error';
}

function chunked(data: Buffer, chunk: number): Buffer {
  const tr = createZstdDecompress() as unknown as { core: { feed(c: Uint8Array, f: boolean): void; pump(e: (b: Buffer) => boolean): boolean; done: boolean } };
  const parts: Buffer[] = [];
  for (let o = 0; o < data.length; o += chunk) {
    tr.core.feed(data.subarray(o, o + chunk), false);
    tr.core.pump((b) => (parts.push(b), true));
  }
  tr.core.feed(Buffer.alloc(0), true);
  tr.core.pump((b) => (parts.push(b), true));
  if (!tr.core.done) throw new Error('not done');
  return Buffer.concat(parts);
}

function sums(file: string): Array<[string, string]> {
  return fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split(/\s+/) as [string, string]);
}

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

t.test('vendored files are the pinned ones', async (t) => {
  for (const [sum, name] of sums(path.join(VEC, 'SHA256SUMS'))) t.equal(sha(fs.readFileSync(path.join(VEC, name))), sum, name);
  for (const [sum, name] of sums(path.join(VEC, 'decodecorpus.SHA256SUMS'))) {
    if (sha(fs.readFileSync(path.join(VEC, 'decodecorpus', name))) !== sum) t.fail(name);
  }
});

t.test('golden decompression files decode', async (t) => {
  for (const name of ['empty-block.zst', 'rle-first-block.zst']) {
    const z = fs.readFileSync(path.join(VEC, 'golden-decompression', name));
    const out = zstdDecompressSync(z);
    if (haveCli) t.ok(out.equals(execFileSync('zstd', ['-q', '-d', '-c'], { input: z })), `${name} matches the CLI`);
    else t.ok(out.length >= 0, name);
    t.ok(chunked(z, 1).equals(out), `${name} byte by byte`);
  }
});

t.test('decodecorpus pairs decode byte-exact at several chunkings', async (t) => {
  const dir = path.join(VEC, 'decodecorpus');
  const names = fs.readdirSync(dir).filter((f) => f.endsWith('.zst')).sort();
  t.equal(names.length, 80);
  let i = 0;
  for (const n of names) {
    const z = fs.readFileSync(path.join(dir, n));
    const want = fs.readFileSync(path.join(dir, n.replace(/\.zst$/, '.bin')));
    if (!zstdDecompressSync(z).equals(want)) t.fail(`${n} one-shot`);
    const c = [1, 3, 64, 1000, 4096][i++ % 5]!;
    if (!chunked(z, c).equals(want)) t.fail(`${n} chunk ${c}`);
  }
  t.pass(`${names.length} frames`);
});

t.test('golden-compression inputs round-trip through the zstd CLI', { skip: cliSkip }, async (t) => {
  for (const name of fs.readdirSync(path.join(VEC, 'golden-compression'))) {
    const raw = fs.readFileSync(path.join(VEC, 'golden-compression', name));
    const levels = raw.length > 100000 ? [['-3'], ['-19'], ['--fast=3']] : [['-1'], ['-3'], ['-19'], ['--ultra', '-22'], ['--fast=3'], ['-3', '--no-check']];
    for (const args of levels) {
      const z = zstdCli(args, raw);
      t.ok(zstdDecompressSync(z).equals(raw), `${name} ${args.join(' ')}`);
    }
  }
});

t.test('differential vs the zstd CLI on generated data', { skip: cliSkip }, async (t) => {
  const mixed = Buffer.concat([input, prng(1, 50000), Buffer.alloc(70000, 7), input.subarray(100, 60000), prng(2, 300000)]);
  const datas: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['one byte', Buffer.from('x')],
    ['text', input],
    ['mixed', mixed],
    ['random', prng(3, 200000)],
    ['zeros 3 MiB', Buffer.alloc(3 << 20)],
  ];
  for (const [tag, data] of datas) {
    const levels = data.length > 200000 ? [['-1'], ['-3'], ['--fast=10'], ['-6', '--zstd=wlog=10']] : [['-1'], ['-3'], ['-9'], ['-19'], ['--fast=10'], ['-3', '--no-check'], ['-6', '--zstd=wlog=10']];
    for (const args of levels) {
      const z = zstdCli(args, data);
      const got = zstdDecompressSync(z);
      if (!got.equals(data)) t.fail(`${tag} ${args.join(' ')}`);
      for (const c of [777, 65536]) if (!chunked(z, c).equals(data)) t.fail(`${tag} ${args.join(' ')} chunk ${c}`);
    }
  }
  // stdin input: no content size in the header, several blocks
  const big = Buffer.concat([mixed, mixed, prng(9, 1 << 20), mixed]);
  const z = execFileSync('sh', ['-c', 'cat | zstd -q -3 -c'], { input: big, maxBuffer: 1 << 28 });
  t.equal(z[4]! >> 6, 0, 'frame has no content size');
  t.ok(zstdDecompressSync(z).equals(big), 'no content size');
  // random chunk boundaries through the Transform
  const chunks: Buffer[] = [];
  let s = 3;
  for (let o = 0; o < z.length; ) {
    s = (s * 1103515245 + 12345) >>> 0;
    const n = 1 + (s % 40000);
    chunks.push(z.subarray(o, o + n));
    o += n;
  }
  const parts: Buffer[] = [];
  await pipeline(Readable.from(chunks), createZstdDecompress(), new Writable({ write(c: Buffer, _e, cb) { parts.push(c); cb(); } }));
  t.ok(Buffer.concat(parts).equals(big), 'Transform at random boundaries');
  // long window
  const long = zstdCli(['-3', '--long=24'], big);
  t.ok(zstdDecompressSync(long).equals(big), '--long=24');
});

t.test('multiple frames and skippable frames', { skip: cliSkip }, async (t) => {
  const a = zstdCli(['-3'], input);
  const b = zstdCli(['-1', '--no-check'], Buffer.from('second frame'));
  const skip = Buffer.concat([Buffer.from([0x5a, 0x2a, 0x4d, 0x18, 5, 0, 0, 0]), Buffer.from('skip!')]);
  const all = Buffer.concat([skip, a, skip, b, a, skip]);
  const want = Buffer.concat([input, Buffer.from('second frame'), input]);
  t.ok(zstdDecompressSync(all).equals(want), 'frames concatenated, skippable frames ignored');
  t.ok(chunked(all, 5).equals(want), 'same in 5-byte chunks');
  t.ok(cliAccepts(all), 'the CLI agrees the stream is valid');
  t.equal(zstdDecompressSync(skip).length, 0, 'only a skippable frame');
});

// Hand-built frames: 1 KiB window, no content size, no checksum, one compressed block.
function frame(_size: number, block: number[]): Buffer {
  const n = block.length;
  const h = 1 | (2 << 1) | (n << 3);
  return Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00, h & 255, (h >> 8) & 255, h >> 16, ...block]);
}

t.test('hand-built frames: valid ones decode, the golden error cases fail', async (t) => {
  // raw literals "hello", zero sequences
  const zeroSeq = frame(5, [5 << 3, ...Buffer.from('hello'), 0x00]);
  t.equal(zstdDecompressSync(zeroSeq).toString(), 'hello');
  // zero sequences with an extraneous byte after the sequence section header
  const zeroSeqExtra = frame(5, [5 << 3, ...Buffer.from('hello'), 0x00, 0x00]);
  t.equal(codeOf(() => zstdDecompressSync(zeroSeqExtra)), ERR_WASM_CORRUPT_INPUT.code, 'zeroSeq_extraneous');
  // 2-byte sequence count encoding zero (zeroSeq_2B)
  const zeroSeq2B = frame(5, [5 << 3, ...Buffer.from('hello'), 0x80, 0x00]);
  t.equal(zstdDecompressSync(zeroSeq2B).toString(), 'hello', 'zeroSeq_2B');
  // literals "abcd", one sequence (RLE tables): ll=4, offset value 2 -> repeat offset 2 (=4), ml=3
  const rep = frame(7, [4 << 3, ...Buffer.from('abcd'), 0x01, 0x54, 4, 1, 0, 0x02]);
  t.equal(zstdDecompressSync(rep).toString(), 'abcdabc', 'repeat offset');
  // no literals, ll=0, offset value 3 -> repeat offset 1 minus 1 = 0 (off0)
  const off0 = frame(3, [0x00, 0x01, 0x54, 0, 1, 0, 0x03]);
  t.throws(() => zstdDecompressSync(off0), /offset/, 'off0');
  // a match reaching before the start of the frame
  const tooFar = frame(7, [4 << 3, ...Buffer.from('abcd'), 0x01, 0x54, 4, 5, 0, 0x3f]);
  t.throws(() => zstdDecompressSync(tooFar), /offset/, 'offset beyond history');
  // Huffman-coded literals (direct weights: symbols 0 and 1, one bit each), one stream of 8 symbols
  const huf = frame(8, [0x82, 0x00, 0x01, 0x80, 0x10, 0x55, 0x01, 0x00]);
  t.same([...zstdDecompressSync(huf)], [0, 1, 0, 1, 0, 1, 0, 1], 'Huffman literals');
  // the same with the stream's data byte gone: the decoder state runs out (truncated_huff_state)
  const hufCut = frame(8, [0x82, 0xc0, 0x00, 0x80, 0x10, 0x01, 0x00]);
  t.throws(() => zstdDecompressSync(hufCut), /Huffman/, 'truncated Huffman state');
  if (haveCli) {
    t.ok(cliAccepts(huf), 'CLI accepts the Huffman frame');
    t.notOk(cliAccepts(hufCut), 'CLI rejects the truncated Huffman frame');
    t.ok(cliAccepts(zeroSeq) && cliAccepts(rep), 'CLI accepts the valid ones');
    // zeroSeq_2B is refused by zstd <= 1.5.4 (fixed upstream in 1.5.5, whose golden file we mirror)
    t.notOk(cliAccepts(zeroSeqExtra), 'CLI rejects zeroSeq_extraneous');
    t.notOk(cliAccepts(off0), 'CLI rejects off0');
    t.notOk(cliAccepts(tooFar), 'CLI rejects offset beyond history');
  }
});

t.test('errors: checksum, truncation, corruption, dictionary, window cap, output cap', { skip: cliSkip }, async (t) => {
  const z = zstdCli(['-3'], input);
  const badSum = Buffer.from(z);
  badSum[badSum.length - 1] ^= 0x40;
  t.throws(() => zstdDecompressSync(badSum), /checksum/);
  t.equal(codeOf(() => zstdDecompressSync(badSum)), ERR_WASM_CORRUPT_INPUT.code);
  for (let n = 0; n < z.length; n += n < 40 ? 1 : 331) {
    const code = codeOf(() => zstdDecompressSync(z.subarray(0, n)));
    if (code !== ERR_WASM_CORRUPT_INPUT.code) t.fail(`truncated at ${n}: ${code}`);
  }
  t.throws(() => zstdDecompressSync(Buffer.from('not zstd at all')), /magic/);
  t.throws(() => zstdDecompressSync(Buffer.concat([z, Buffer.from([1, 2, 3, 4, 5])])), /magic/, 'trailing garbage');
  // corruption anywhere: a clean BerthError (the checksum catches what decodes)
  let detected = 0;
  for (let i = 0; i < 250; i++) {
    const b = Buffer.from(z);
    const pos = 4 + ((i * 7919) % (b.length - 4));
    b[pos] ^= 1 << (i % 8);
    try {
      const out = zstdDecompressSync(b);
      if (out.equals(input)) continue; // a flip in an ignored bit
      t.fail(`flip ${i} at ${pos} produced wrong output without error`);
    } catch (err) {
      if (!(err instanceof BerthError)) t.fail(`flip ${i}: ${String(err)}`);
      detected++;
    }
  }
  t.ok(detected > 220, `flips detected: ${detected}/250`);
  // dictionary frames are unsupported
  const dict = path.join(VEC, 'golden-dictionaries', 'http-dict-missing-symbols');
  const withDict = execFileSync('zstd', ['-q', '-c', '-D', dict, path.join(VEC, 'golden-compression', 'http')]);
  t.equal(codeOf(() => zstdDecompressSync(withDict)), ERR_WASM_UNSUPPORTED.code, 'dictionary');
  // window above the cap: refused before memory grows
  const wide = execFileSync('sh', ['-c', 'cat | zstd -q -3 --zstd=wlog=24 -c'], { input: prng(4, 1 << 20), maxBuffer: 1 << 24 });
  t.equal(codeOf(() => zstdDecompressSync(wide, { maxWindowSize: 8 << 20 })), ERR_WASM_LIMIT_EXCEEDED.code, 'window 16 MiB > cap 8 MiB');
  t.ok(zstdDecompressSync(wide).equals(prng(4, 1 << 20)), 'accepted under the default cap');
  t.throws(() => zstdDecompressSync(wide, { maxWindowSize: 1 << 40 }), { code: ERR_WASM_LIMIT_EXCEEDED.code });
  // a bomb: 64 MiB of zeros in a few KiB
  const bomb = zstdCli(['-3'], Buffer.alloc(64 << 20));
  t.ok(bomb.length < 100000);
  t.equal(codeOf(() => zstdDecompressSync(bomb, { maxOutputLength: 8 << 20 })), ERR_WASM_LIMIT_EXCEEDED.code, 'maxOutputLength');
  t.equal(zstdDecompressSync(bomb).length, 64 << 20, 'decodes without the cap');
});
