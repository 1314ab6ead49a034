import t from 'tap';
import { prng } from '../helpers/prng';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, gunzipSync, inflateSync, inflateRawSync, ERR_WASM_CORRUPT_INPUT, ERR_WASM_LIMIT_EXCEEDED, ERR_WASM_UNSUPPORTED } from '../../wasm/src/index';
import { BerthError } from '../../core/errors';
import { DeflateFormat } from '../../wasm/src/inflate';

const VEC = path.join(__dirname, '../vectors/deflate');
const input = fs.readFileSync(path.join(VEC, 'input.bin'));


/** Mixed data: text, runs, short-period patterns (distances 1..7) and random bytes. */
function mixed(seed: number, n: number): Buffer {
  const r = prng(seed, n);
  const out = Buffer.alloc(n);
  let p = 0;
  let i = 0;
  while (p < n) {
    const kind = r[i++ % n]! % 5;
    const len = Math.min(n - p, 1 + ((r[i++ % n]! << 4) | (r[i++ % n]! & 15)));
    if (kind === 0) input.copy(out, p, (r[i++ % n]! * 311) % (input.length - len), (r[i++ % n]! * 311) % (input.length - len) + len);
    else if (kind === 1) out.fill(r[i++ % n]!, p, p + len);
    else if (kind === 2) {
      const per = 1 + (r[i++ % n]! % 7);
      for (let k = 0; k < len; k++) out[p + k] = 65 + ((k % per) * 3);
    } else r.copy(out, p, (i * 7) % (n - len), (i * 7) % (n - len) + len);
    p += len;
  }
  return out;
}

/** Streams `data` through a fresh wasm decoder in `chunk`-byte writes. */
async function streamed(data: Buffer, chunk: number, format: DeflateFormat = 'gzip'): Promise<Buffer> {
  const parts: Buffer[] = [];
  const chunks: Buffer[] = [];
  for (let o = 0; o < data.length; o += chunk) chunks.push(data.subarray(o, o + chunk));
  await pipeline(
    Readable.from(chunks),
    createGunzip({ format }),
    new Writable({
      write(c: Buffer, _e, cb) {
        parts.push(c);
        cb();
      },
    }),
  );
  return Buffer.concat(parts);
}

/** Decodes via the core with chunked feeding but without stream machinery (fast for tiny chunks). */
function chunkedSync(data: Buffer, chunk: number, format: DeflateFormat = 'gzip'): Buffer {
  const tr = createGunzip({ format }) as unknown as { core: { feed(c: Uint8Array, f: boolean): void; pump(e: (b: Buffer) => boolean): boolean; done: boolean } };
  const core = tr.core;
  const parts: Buffer[] = [];
  for (let o = 0; o < data.length; o += chunk) {
    core.feed(data.subarray(o, o + chunk), false);
    core.pump((b) => (parts.push(b), true));
  }
  core.feed(Buffer.alloc(0), true);
  core.pump((b) => (parts.push(b), true));
  if (!core.done) throw new Error('not done');
  return Buffer.concat(parts);
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof BerthError)) return `not a BerthError: ${String(err)}`;
    return err.code;
  }
  return 'no error';
}

t.test('fixtures from gzip and pigz decode to input.bin', async (t) => {
  const sums = fs.readFileSync(path.join(VEC, 'SHA256SUMS'), 'utf8').trim().split('\n');
  for (const line of sums) {
    const [sum, name] = line.split(/\s+/) as [string, string];
    const file = fs.readFileSync(path.join(VEC, name));
    t.equal(crypto.createHash('sha256').update(file).digest('hex'), sum, `${name} is the pinned fixture`);
    if (name === 'input.bin') continue;
    const fmt: DeflateFormat = name.endsWith('.zz') ? 'zlib' : 'gzip';
    const want = name === 'multi-member.gz' ? Buffer.concat([input, input.subarray(0, 1000), input]) : input;
    const whole = fmt === 'zlib' ? inflateSync(file) : gunzipSync(file);
    t.ok(whole.equals(want), `${name} one-shot`);
    if (fmt === 'gzip') t.ok(gunzipSync(file, { wasmCrc: true }).equals(want), `${name} one-shot, CRC-32 in wasm`);
    const sizes = name === 'gzip-6.gz' || name === 'pigz-blocks.gz' || name === 'multi-member.gz' ? [1, 7, 4096, 65536] : [13, 65536];
    for (const c of sizes) {
      const got = chunkedSync(file, c, fmt);
      t.ok(got.equals(want), `${name} in ${c}-byte chunks`);
    }
    t.ok((await streamed(file, 1000, fmt)).equals(want), `${name} through the Transform`);
  }
});

t.test('byte-at-a-time feeding decodes (every boundary)', async (t) => {
  const gz = zlib.gzipSync(input.subarray(0, 30000), { level: 6 });
  t.ok(chunkedSync(gz, 1).equals(input.subarray(0, 30000)), 'chunk 1');
  for (const c of [2, 3, 13, 63, 64, 65, 511, 512, 513, 639, 640, 641]) {
    t.ok(chunkedSync(gz, c).equals(input.subarray(0, 30000)), `chunk ${c}`);
  }
});

t.test('differential vs node:zlib at every level, strategy and format', async (t) => {
  const datas = [Buffer.alloc(0), Buffer.from('a'), mixed(1, 5000), mixed(2, 300000), prng(3, 70000), Buffer.alloc(200000, 0x61)];
  for (const [di, data] of datas.entries()) {
    for (let level = 0; level <= 9; level++) {
      for (const strategy of [zlib.constants.Z_DEFAULT_STRATEGY, zlib.constants.Z_FILTERED, zlib.constants.Z_HUFFMAN_ONLY, zlib.constants.Z_RLE, zlib.constants.Z_FIXED]) {
        if (strategy !== zlib.constants.Z_DEFAULT_STRATEGY && level !== 6) continue;
        const o = { level, strategy };
        const gz = zlib.gzipSync(data, o);
        const zz = zlib.deflateSync(data, o);
        const raw = zlib.deflateRawSync(data, o);
        const tag = `data ${di} level ${level} strategy ${strategy}`;
        if (!gunzipSync(gz).equals(data)) t.fail(`gzip ${tag}`);
        if (!inflateSync(zz).equals(data)) t.fail(`zlib ${tag}`);
        if (!inflateRawSync(raw).equals(data)) t.fail(`raw ${tag}`);
        for (const c of [1000, 65537]) if (!chunkedSync(gz, c).equals(data)) t.fail(`gzip ${tag} chunk ${c}`);
      }
    }
  }
  // many random chunk boundaries on a large stream
  const big = mixed(9, 3 << 20);
  const gz = zlib.gzipSync(big, { level: 6 });
  let seed = 5;
  const tr = createGunzip() as unknown as { core: { feed(c: Uint8Array, f: boolean): void; pump(e: (b: Buffer) => boolean): boolean } };
  const parts: Buffer[] = [];
  for (let o = 0; o < gz.length; ) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const n = 1 + (seed % 50000);
    tr.core.feed(gz.subarray(o, o + n), false);
    tr.core.pump((b) => (parts.push(b), true));
    o += n;
  }
  tr.core.feed(Buffer.alloc(0), true);
  tr.core.pump((b) => (parts.push(b), true));
  t.ok(Buffer.concat(parts).equals(big), '3 MiB at random boundaries');
});

t.test('gzip header fields: FEXTRA, FNAME, FCOMMENT, FHCRC', async (t) => {
  const body = zlib.deflateRawSync(input);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(zlib.crc32(input), 0);
  trailer.writeUInt32LE(input.length, 4);
  const extra = Buffer.concat([Buffer.from([0x41, 0x42, 5, 0]), Buffer.from('hello')]);
  const head = Buffer.concat([
    Buffer.from([0x1f, 0x8b, 8, 2 | 4 | 8 | 16, 0, 0, 0, 0, 0, 3]),
    Buffer.from([extra.length & 255, extra.length >> 8]),
    extra,
    Buffer.from('name.tar\0comment here\0'),
  ]);
  const hcrc = Buffer.alloc(2);
  hcrc.writeUInt16LE(zlib.crc32(head) & 0xffff);
  const gz = Buffer.concat([head, hcrc, body, trailer]);
  t.ok(gunzipSync(gz).equals(input), 'all flags');
  t.equal(zlib.gunzipSync(gz).equals(input), true, 'node agrees the stream is valid');
  for (const c of [1, 3, 17]) t.ok(chunkedSync(gz, c).equals(input), `all flags, chunk ${c}`);
  const bad = Buffer.from(gz);
  bad[head.length] ^= 1;
  t.equal(codeOf(() => gunzipSync(bad)), 'ERR_WASM_CORRUPT_INPUT', 'bad header CRC');
  const hugeName = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 8, 0, 0, 0, 0, 0, 3]), Buffer.alloc(2 << 20, 0x41), Buffer.from([0, 3, 0]), Buffer.alloc(8)]);
  t.throws(() => gunzipSync(hugeName), /header longer than the input buffer/, 'FNAME above 1 MiB is refused, not looped on');
  const reserved = Buffer.from(gz);
  reserved[3] |= 0x20;
  t.equal(codeOf(() => gunzipSync(reserved)), 'ERR_WASM_CORRUPT_INPUT', 'reserved flag');
});

t.test('corrupted streams fail cleanly', async (t) => {
  const gz = fs.readFileSync(path.join(VEC, 'gzip-6.gz'));
  const crcBad = Buffer.from(gz);
  crcBad[crcBad.length - 8] ^= 0xff;
  t.throws(() => gunzipSync(crcBad), /CRC-32 mismatch/);
  t.throws(() => gunzipSync(crcBad, { wasmCrc: true }), /CRC-32 mismatch/, 'CRC-32 in wasm');
  const multi = fs.readFileSync(path.join(VEC, 'multi-member.gz'));
  const multiBad = Buffer.from(multi);
  multiBad[gz.length - 5] ^= 4; // the first member's stored CRC
  t.throws(() => gunzipSync(multiBad), /CRC-32 mismatch/, 'first member of several');
  const last = Buffer.from(multi);
  last[last.length - 6] ^= 4;
  t.throws(() => gunzipSync(last), /CRC-32 mismatch/, 'last member of several');
  t.equal(codeOf(() => gunzipSync(crcBad)), ERR_WASM_CORRUPT_INPUT.code);
  const sizeBad = Buffer.from(gz);
  sizeBad[sizeBad.length - 1] ^= 1;
  t.throws(() => gunzipSync(sizeBad), /ISIZE/);
  // every truncation point fails (sampled), never hangs, never returns
  for (let n = 0; n < gz.length; n += n < 64 ? 1 : 997) {
    const code = codeOf(() => gunzipSync(gz.subarray(0, n)));
    if (code !== ERR_WASM_CORRUPT_INPUT.code) t.fail(`truncated at ${n}: ${code}`);
  }
  t.throws(() => gunzipSync(gz.subarray(0, gz.length - 1)), /unexpected end/);
  await t.rejects(streamed(gz.subarray(0, gz.length - 3), 100), /unexpected end/, 'truncated through the Transform');
  // distance too far back: a fixed-Huffman block whose first symbol is a match
  // BFINAL=1 BTYPE=01, then length code 257 (len 3), distance code 0 (dist 1) with no history.
  const tooFar = Buffer.from([0x03, 0x02, 0x00, 0x00]);
  t.throws(() => inflateRawSync(tooFar), /too far back/);
  t.throws(() => zlib.inflateRawSync(tooFar), /too far back/, 'node agrees');
  // reserved block type 3
  t.throws(() => inflateRawSync(Buffer.from([0x07, 0, 0, 0])), /invalid block type/);
  // stored block with bad NLEN
  t.throws(() => inflateRawSync(Buffer.from([0x01, 0x05, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5])), /complement/);
  // not gzip at all
  t.throws(() => gunzipSync(Buffer.from('hello world, not gzip')), /bad magic/);
  t.throws(() => gunzipSync(Buffer.alloc(0)), /unexpected end/);
  // zlib: bad adler, dictionary
  const zz = zlib.deflateSync(input);
  const adl = Buffer.from(zz);
  adl[adl.length - 1] ^= 1;
  t.throws(() => inflateSync(adl), /Adler-32/);
  const dict = zlib.deflateSync(input, { dictionary: Buffer.from('dictionary') });
  t.equal(codeOf(() => inflateSync(dict)), ERR_WASM_UNSUPPORTED.code);
  // trailing garbage after a member; zero padding is accepted
  t.throws(() => gunzipSync(Buffer.concat([gz, Buffer.from('garbage')])), /trailing garbage/);
  t.ok(gunzipSync(Buffer.concat([gz, Buffer.alloc(1024)])).equals(input), 'zero padding after the last member');
  // random bit flips never crash the module: either an error or (rarely) different output
  const src = zlib.gzipSync(mixed(4, 100000));
  let errors = 0;
  for (let i = 0; i < 300; i++) {
    const b = Buffer.from(src);
    const pos = 10 + ((i * 7919) % (b.length - 18));
    b[pos] ^= 1 << (i % 8);
    try {
      gunzipSync(b);
    } catch (err) {
      if (!(err instanceof BerthError)) t.fail(`flip ${i}: ${String(err)}`);
      errors++;
    }
  }
  t.ok(errors >= 295, `bit flips are detected (${errors}/300)`);
});

t.test('maxOutputLength turns a bomb into an error', async (t) => {
  const bomb = zlib.gzipSync(Buffer.alloc(64 << 20));
  t.ok(bomb.length < 100000);
  t.equal(codeOf(() => gunzipSync(bomb, { maxOutputLength: 1 << 20 })), ERR_WASM_LIMIT_EXCEEDED.code);
  t.equal(gunzipSync(bomb).length, 64 << 20);
});

t.test('the Transform honours backpressure', async (t) => {
  const bomb = zlib.gzipSync(Buffer.alloc(32 << 20));
  const d = createGunzip();
  d.on('data', () => {});
  d.pause();
  d.write(bomb);
  await new Promise((r) => setTimeout(r, 50));
  const pushedBytes = d.readableLength;
  t.ok(pushedBytes < 4 << 20, `output buffered while paused stays small (${pushedBytes} bytes)`);
  let total = 0;
  d.on('data', (c: Buffer) => (total += c.length));
  d.resume();
  d.end();
  await new Promise((r) => d.on('end', r));
  t.equal(total, 32 << 20, 'everything (including what was buffered) arrives after resume');
});
