// core/images/unchecked-gunzip.ts: gzip without the CRC-32 check (the pull verifies the diff id).
// Differential against node:zlib's gunzip on the vendored gzip/pigz vectors and on hand-made
// headers and member layouts, fed at many chunk sizes; every malformed case must fail with an
// error (never hang), and a wrong CRC-32 is the one thing it accepts.
import t from 'tap';
import * as zlib from 'node:zlib';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UncheckedGunzip, headerLength } from '../../core/images/unchecked-gunzip';

const VECTORS = join(__dirname, '../vectors/deflate');

/**
 * Decodes `input` fed in chunks of `step` bytes; resolves with the output or rejects. Each chunk is
 * a copy that is overwritten as soon as the decoder is done with it (its write callback), as the
 * apply worker hands a consumed piece back for reuse: the decoder must keep nothing of it.
 */
function decode(input: Buffer, step: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const g = new UncheckedGunzip();
    const out: Buffer[] = [];
    g.on('data', (c: Buffer) => out.push(Buffer.from(c)));
    g.on('end', () => resolve(Buffer.concat(out)));
    g.on('error', reject);
    let i = 0;
    const next = (): void => {
      if (i >= input.length) {
        g.end();
        return;
      }
      const chunk = Buffer.from(input.subarray(i, i + step));
      i += step;
      g.write(chunk, (err) => {
        chunk.fill(0xee);
        if (!err) next();
      });
    };
    next();
  });
}

/** A gzip member with the given header flags and fields, deflating `data` (CRC-32 and ISIZE right). */
function member(data: Buffer, h: { extra?: Buffer; name?: string; comment?: string; hcrc?: boolean; text?: boolean } = {}): Buffer {
  const flags = (h.text ? 1 : 0) | (h.hcrc ? 2 : 0) | (h.extra ? 4 : 0) | (h.name !== undefined ? 8 : 0) | (h.comment !== undefined ? 16 : 0);
  const parts: Buffer[] = [Buffer.from([0x1f, 0x8b, 8, flags, 1, 2, 3, 4, 0, 3])];
  if (h.extra) {
    const len = Buffer.alloc(2);
    len.writeUInt16LE(h.extra.length);
    parts.push(len, h.extra);
  }
  if (h.name !== undefined) parts.push(Buffer.from(h.name + '\0', 'latin1'));
  if (h.comment !== undefined) parts.push(Buffer.from(h.comment + '\0', 'latin1'));
  if (h.hcrc) {
    const crc = Buffer.alloc(2);
    crc.writeUInt16LE(zlib.crc32(Buffer.concat(parts)) & 0xffff);
    parts.push(crc);
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(zlib.crc32(data), 0);
  trailer.writeUInt32LE(data.length % 0x100000000, 4);
  return Buffer.concat([...parts, zlib.deflateRawSync(data), trailer]);
}

t.test('the vendored gzip and pigz vectors decode as node:zlib decodes them, at every chunk size', async (t) => {
  const files = readdirSync(VECTORS).filter((f) => f.endsWith('.gz'));
  t.ok(files.length >= 10, `${files.length} vectors`);
  for (const f of files) {
    const gz = readFileSync(join(VECTORS, f));
    const want = zlib.gunzipSync(gz);
    for (const step of [1, 7, 512, 65536, gz.length]) {
      if (step === 1 && gz.length > 20_000) continue; // byte at a time: the small ones (every header and trailer split)
      const got = await decode(gz, step);
      t.ok(got.equals(want), `${f}, ${step === gz.length ? 'whole' : `${step}-byte chunks`}`);
    }
  }
});

t.test('every node:zlib level, headers with every optional field, members back to back, padding', async (t) => {
  const data = Buffer.concat([randomBytes(50_000), Buffer.alloc(70_000, 'a'), randomBytes(3000)]);
  for (let level = 0; level <= 9; level++) {
    const gz = zlib.gzipSync(data, { level });
    t.ok((await decode(gz, 4093)).equals(data), `node:zlib level ${level}`);
  }
  const fancy = member(data, { extra: randomBytes(300), name: 'layer.tar', comment: 'made by hand', hcrc: true, text: true });
  for (const step of [3, 11, 4096, fancy.length]) t.ok((await decode(fancy, step)).equals(data), `FEXTRA+FNAME+FCOMMENT+FHCRC, ${step}-byte chunks`);
  const small = data.subarray(0, 2000);
  t.ok((await decode(member(small, { extra: randomBytes(30), name: 'n', comment: 'c', hcrc: true }), 1)).equals(small), 'every optional field, one byte at a time');
  const parts = [data.subarray(0, 10), Buffer.alloc(0), data.subarray(10)];
  const multi = Buffer.concat(parts.map((p, i) => member(p, i === 1 ? { name: '' } : {})));
  const smallMulti = Buffer.concat([member(small.subarray(0, 7)), member(Buffer.alloc(0)), member(small)]);
  t.ok((await decode(smallMulti, 1)).equals(Buffer.concat([small.subarray(0, 7), small])), 'three members (one empty), one byte at a time');
  for (const step of [5, 8, 9, 10, 4096, multi.length]) t.ok((await decode(multi, step)).equals(data), `three members (one empty), ${step}-byte chunks`);
  const padded = Buffer.concat([member(data), Buffer.alloc(1024)]);
  t.ok((await decode(padded, 1000)).equals(data), 'zero padding after the last member is ignored, as node:zlib does');
  t.ok(zlib.gunzipSync(padded).equals(data), '(node:zlib agrees)');
});

t.test('what it does not check: the CRC-32 (the diff id does); ISIZE is still checked', async (t) => {
  const data = randomBytes(10_000);
  const badCrc = member(data);
  badCrc.writeUInt32LE((badCrc.readUInt32LE(badCrc.length - 8) ^ 1) >>> 0, badCrc.length - 8);
  t.throws(() => zlib.gunzipSync(badCrc), 'node:zlib refuses the wrong CRC-32');
  t.ok((await decode(badCrc, 999)).equals(data), 'the unchecked decoder accepts it, output exact');
  const badSize = member(data);
  badSize.writeUInt32LE(data.length + 1, badSize.length - 4);
  await t.rejects(decode(badSize, 999), /ISIZE 10001 does not match the 10000 bytes decoded/);
});

t.test('malformed input fails with a clear error, at any chunk size', async (t) => {
  const good = member(randomBytes(5000), { name: 'x' });
  const deflated = zlib.deflateRawSync(randomBytes(5000));
  const cases: Array<[string, Buffer, RegExp]> = [
    ['empty input', Buffer.alloc(0), /no gzip data/],
    ['not gzip', Buffer.from('not gzip at all, just text'), /bad magic/],
    ['zlib framing', zlib.deflateSync(Buffer.from('hello')), /bad magic/],
    ['another method', Buffer.from([0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 3]), /compression method 7/],
    ['reserved flags', Buffer.from([0x1f, 0x8b, 8, 0x20, 0, 0, 0, 0, 0, 3, 0, 0]), /reserved gzip header flags/],
    ['a truncated header', good.subarray(0, 6), /truncated gzip member/],
    ['a name without its end', Buffer.from([0x1f, 0x8b, 8, 8, 0, 0, 0, 0, 0, 3, 65, 66]), /truncated gzip member/],
    ['truncated deflate data', good.subarray(0, good.length - 100), /unexpected end of file|without its trailer/],
    ['a truncated trailer', good.subarray(0, good.length - 3), /truncated gzip member/],
    ['garbage where the next member starts', Buffer.concat([good, Buffer.from('junk after')]), /bad magic/],
    // a fixed-Huffman block whose first symbol is a match (length 3, distance 1) with no history
    ['a distance too far back', Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), Buffer.from([0x03, 0x02, 0x00, 0x00]), Buffer.alloc(8)]), /too far back/],
    ['a stored block with a bad length complement', Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), Buffer.from([0x01, 0x05, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5]), Buffer.alloc(8)]), /invalid stored block lengths/],
    ['the reserved block type', Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), Buffer.from([0x07, 0, 0, 0]), deflated.subarray(0, 100)]), /invalid block type/],
  ];
  for (const [name, input, re] of cases) {
    for (const step of [1, 4, 4096]) {
      await t.rejects(decode(input, Math.max(1, Math.min(step, input.length || 1))), re, `${name}, ${step}-byte chunks`);
    }
  }
  t.throws(() => headerLength(Buffer.from([0x1f, 0x8c])), /bad magic/);
  t.equal(headerLength(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0])), undefined, 'a header prefix: more bytes needed');
  t.equal(headerLength(Buffer.from([0x1f, 0x8b, 8, 2, 0, 0, 0, 0, 0, 3, 0xaa, 0xbb])), 12, 'FHCRC adds two bytes');
});

t.test('a header larger than 1 MiB is refused', async (t) => {
  const h = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 8, 0, 0, 0, 0, 0, 3]), Buffer.alloc((1 << 20) + 10, 65)]);
  await t.rejects(decode(h, 65536), /header longer than/);
});
