import t from 'tap';
import { prng } from '../helpers/prng';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createSha256, sha256 } from '../../wasm/src/index';

const CHUNKS = [1, 63, 64, 65, 511, 512, 513, Number.POSITIVE_INFINITY];

function hashChunked(data: Buffer, chunk: number): string {
  const h = createSha256();
  if (!Number.isFinite(chunk)) h.update(data);
  else for (let o = 0; o < data.length; o += chunk) h.update(data.subarray(o, o + chunk));
  return h.digest('hex');
}


t.test('CAVS SHA256ShortMsg at every chunk size', async (t) => {
  const text = fs.readFileSync(path.join(__dirname, '../vectors/nist-sha256/SHA256ShortMsg.rsp'), 'utf8');
  const recs = [...text.matchAll(/Len = (\d+)\r?\nMsg = ([0-9a-f]*)\r?\nMD = ([0-9a-f]{64})/g)];
  t.equal(recs.length, 65, 'all records parsed');
  for (const [, lenBits, hex, md] of recs) {
    const msg = Number(lenBits) === 0 ? Buffer.alloc(0) : Buffer.from(hex!, 'hex');
    t.equal(msg.length * 8, Number(lenBits), `Len ${lenBits} matches the message`);
    t.equal(crypto.createHash('sha256').update(msg).digest('hex'), md, `node:crypto agrees on Len ${lenBits}`);
    for (const c of CHUNKS) {
      const got = hashChunked(msg, c);
      if (got !== md) t.fail(`Len ${lenBits} chunk ${c}: ${got} != ${md}`);
    }
  }
  t.pass('every record at every chunk size');
});

t.test('FIPS 180-2 Appendix B examples', async (t) => {
  t.equal(sha256(Buffer.from('abc')).toString('hex'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  t.equal(
    sha256(Buffer.from('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toString('hex'),
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
  );
  const h = createSha256();
  const a = Buffer.alloc(1000, 'a');
  for (let i = 0; i < 1000; i++) h.update(a);
  t.equal(h.digest('hex'), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
});

t.test('differential vs node:crypto on generated data at many boundaries', async (t) => {
  const sizes = [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 1000, 4095, 65536, 262143, 262144, 262145, 1 << 20, (1 << 20) + 77];
  for (const n of sizes) {
    const data = prng(n + 1, n);
    const want = crypto.createHash('sha256').update(data).digest('hex');
    for (const c of [1, 63, 64, 65, 511, 512, 513, 4096, 100000, Number.POSITIVE_INFINITY]) {
      if (c === 1 && n > 70000) continue;
      const got = hashChunked(data, c);
      if (got !== want) t.fail(`size ${n} chunk ${c}`);
    }
  }
  // irregular chunking
  const data = prng(99, 3 << 20);
  const want = crypto.createHash('sha256').update(data).digest('hex');
  const h = createSha256();
  let s = 7;
  for (let o = 0; o < data.length; ) {
    s = (s * 1103515245 + 12345) >>> 0;
    const n = 1 + (s % 300000);
    h.update(data.subarray(o, o + n));
    o += n;
  }
  t.equal(h.digest('hex'), want, 'irregular chunks');
  t.pass('all sizes');
});

t.test('digest returns a Buffer and refuses reuse', async (t) => {
  const h = createSha256();
  h.update(Buffer.from('x'));
  const d = h.digest();
  t.ok(Buffer.isBuffer(d));
  t.equal(d.length, 32);
  t.throws(() => h.digest());
  t.throws(() => h.update(Buffer.from('y')));
});

t.test('interleaved hashers and Uint8Array views around the 256 KiB copy boundary', async (t) => {
  // the loader keeps one view of each instance's input buffer and copies at most 256 KiB per call
  const backing = prng(7, (1 << 20) + 4096);
  const a = new Uint8Array(backing.buffer, backing.byteOffset + 3, (256 << 10) * 2 + 5); // unaligned view
  const b = backing.subarray(1000, 1000 + (256 << 10));
  const ha = createSha256();
  const hb = createSha256();
  const na = crypto.createHash('sha256');
  const nb = crypto.createHash('sha256');
  for (const [from, to] of [[0, 1], [1, 65], [65, (256 << 10) + 65], [(256 << 10) + 65, a.length]] as const) {
    const piece = a.subarray(from, to);
    ha.update(piece);
    na.update(piece);
    hb.update(b);
    nb.update(b);
  }
  t.equal(ha.digest('hex'), na.digest('hex'), 'view with a byte offset, pieces of 1, 64, 256 KiB and 256 KiB - 60');
  t.equal(hb.digest('hex'), nb.digest('hex'), 'exactly 256 KiB per update, interleaved with another instance');
});
