/**
 * The pull's pipeline shape: decompressor → HashingStream (1 MiB high-water mark) → a consumer,
 * for every decoder the pull can choose (in-thread WASM, worker thread, adaptive, codecs'
 * decompressor). A Transform that finished its input inside _read without pushing used to stall
 * here (the event loop emptied with the stream half-way; tap reports the test as unfinished).
 */
import t from 'tap';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { PassThrough, Transform } from 'node:stream';
import { createGunzip, createZstdDecompress, createThreadedDecompressor } from '../../wasm/src/index';
import { createAdaptiveDecompressor } from '../../wasm/src/thread';
import { HashingStream, decodeHashApply, decompressor, fileStreamSize } from '../../core/images/codecs';

const input = fs.readFileSync(path.join(__dirname, '../vectors/deflate/input.bin'));
// ~6 MB of mixed, partly compressible data
const tar = Buffer.concat(Array.from({ length: 60 }, (_, i) => (i % 4 === 0 ? crypto.randomBytes(30000) : i % 4 === 1 ? Buffer.alloc(70000, i) : input)));
const want = 'sha256:' + crypto.createHash('sha256').update(tar).digest('hex');
const gz = zlib.gzipSync(tar);
let zst: Buffer | undefined;
try {
  zst = execFileSync('zstd', ['-q', '-3', '-c'], { input: tar, maxBuffer: 1 << 26 });
} catch {
  zst = undefined;
}

/**
 * Writes `data` in 64 KiB chunks (honouring backpressure) into `dec`, piped into a
 * HashingStream read by `consume`; resolves with the digest and byte count.
 */
async function through(dec: Transform | NodeJS.ReadWriteStream, data: Buffer, consume: 'resume' | 'slow'): Promise<{ digest: string; bytes: number }> {
  const hs = new HashingStream();
  const d = dec as Transform;
  d.on('error', (e: Error) => hs.destroy(e));
  d.pipe(hs);
  const done = new Promise<void>((resolve, reject) => {
    hs.on('end', resolve);
    hs.on('error', reject);
  });
  if (consume === 'resume') hs.resume();
  else {
    // a consumer slower than the decoder: one chunk per macrotask
    hs.pause();
    const next = (): void => {
      if (hs.read() !== null) setImmediate(next);
      else hs.once('readable', next);
    };
    next();
  }
  let i = 0;
  const write = (): void => {
    while (i < data.length) {
      const c = data.subarray(i, (i += 65536));
      if (!d.write(c)) {
        d.once('drain', write);
        return;
      }
    }
    d.end();
  };
  write();
  await done;
  return { digest: hs.digest(), bytes: hs.bytes };
}

const cases: Array<[string, () => Transform | NodeJS.ReadWriteStream, 'gzip' | 'zstd']> = [
  ['wasm gunzip in-thread', () => createGunzip(), 'gzip'],
  ['wasm zstd in-thread', () => createZstdDecompress(), 'zstd'],
  ['gzip on a worker thread', () => createThreadedDecompressor('gzip'), 'gzip'],
  ['zstd on a worker thread', () => createThreadedDecompressor('zstd'), 'zstd'],
  ['adaptive gzip, worker', () => createAdaptiveDecompressor('gzip', { thread: true, threshold: 0 }), 'gzip'],
  ['adaptive zstd, in-thread', () => createAdaptiveDecompressor('zstd', { thread: false }), 'zstd'],
  ['codecs.decompressor gzip', () => decompressor('gzip', gz.length), 'gzip'],
  ['codecs.decompressor zstd', () => decompressor('zstd', zst?.length ?? 0), 'zstd'],
];

for (const consume of ['resume', 'slow'] as const) {
  t.test(`decompressor | HashingStream, consumer ${consume}`, async (t) => {
    for (const [name, make, kind] of cases) {
      const data = kind === 'gzip' ? gz : zst;
      if (!data) {
        t.comment(`${name}: zstd CLI missing, skipped`);
        continue;
      }
      const r = await through(make(), data, consume);
      t.equal(r.digest, want, `${name}: diff id`);
      t.equal(r.bytes, tar.length, `${name}: bytes`);
    }
  });
}

t.test('decodeHashApply: a file stream gives its own size hint; diff ids right either way', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-dha-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'layer.gz');
  fs.writeFileSync(file, gz);
  t.equal(fileStreamSize(fs.createReadStream(file)), gz.length, 'whole file');
  t.equal(fileStreamSize(fs.createReadStream(file, { start: 100, end: 199 })), 100, 'a range');
  t.equal(fileStreamSize(fs.createReadStream(file, { fd: fs.openSync(file, 'r') })), gz.length, 'an fd given (the content store)');
  t.equal(fileStreamSize(new PassThrough()), undefined, 'not a file: no hint');
  const drain = async (tarStream: NodeJS.ReadableStream): Promise<number> => {
    let n = 0;
    for await (const c of tarStream as AsyncIterable<Buffer>) n += c.length;
    return n;
  };
  for (const sizeHint of [undefined, gz.length, 1]) {
    const r = await decodeHashApply(fs.createReadStream(file), 'gzip', drain, sizeHint === undefined ? {} : { sizeHint });
    t.equal(r.diffId, want, `diff id, sizeHint ${sizeHint}`);
    t.equal(r.size, tar.length);
    t.equal(r.result, tar.length, 'apply saw every byte');
  }
  const bad = Buffer.from(gz);
  bad[bad.length - 8] ^= 1;
  fs.writeFileSync(file, bad);
  await t.rejects(decodeHashApply(fs.createReadStream(file), 'gzip', drain), { code: 'ERR_IMAGE_DECOMPRESS_FAILED' }, 'corrupt: the decoder error code');
});
