import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createThreadedDecompressor, decompressor } from '../../wasm/src/index';
import { BerthError } from '../../core/errors';

const input = fs.readFileSync(path.join(__dirname, '../vectors/deflate/input.bin'));
const big = Buffer.concat(Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? Buffer.alloc(50000, i) : input)));

async function run(tr: NodeJS.ReadWriteStream, data: Buffer, chunk = 65536): Promise<Buffer> {
  const parts: Buffer[] = [];
  const chunks: Buffer[] = [];
  for (let o = 0; o < data.length; o += chunk) chunks.push(data.subarray(o, o + chunk));
  await pipeline(Readable.from(chunks), tr, new Writable({ write(c: Buffer, _e, cb) { parts.push(c); cb(); } }));
  return Buffer.concat(parts);
}

t.test('gzip and zstd on a worker thread give the same bytes', async (t) => {
  const gz = zlib.gzipSync(big);
  t.ok((await run(createThreadedDecompressor('gzip'), gz)).equals(big), 'gzip');
  t.ok((await run(createThreadedDecompressor('gzip'), gz, 999)).equals(big), 'gzip, small chunks');
  t.ok((await run(decompressor('gzip', 'wasm', { thread: true }), gz)).equals(big), 'decompressor(..., {thread})');
  t.ok((await run(createThreadedDecompressor('zlib'), zlib.deflateSync(big))).equals(big), 'zlib');
  let zst: Buffer | undefined;
  try {
    zst = execFileSync('zstd', ['-q', '-3', '-c'], { input: big, maxBuffer: 1 << 26 });
  } catch {
    t.comment('zstd CLI missing: zstd part skipped');
  }
  if (zst) t.ok((await run(createThreadedDecompressor('zstd'), zst)).equals(big), 'zstd');
});

t.test('errors cross the thread as BerthErrors', async (t) => {
  const gz = zlib.gzipSync(big);
  const bad = Buffer.from(gz);
  bad[bad.length - 8] ^= 1;
  const err = await run(createThreadedDecompressor('gzip'), bad).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof BerthError, 'BerthError');
  t.equal((err as BerthError).code, 'ERR_WASM_CORRUPT_INPUT');
  t.match((err as BerthError).message, /CRC-32/);
  await t.rejects(run(createThreadedDecompressor('gzip'), gz.subarray(0, gz.length - 100)), { code: 'ERR_WASM_CORRUPT_INPUT' });
  await t.rejects(run(createThreadedDecompressor('gzip', { maxOutputLength: 1000 }), gz), { code: 'ERR_WASM_LIMIT_EXCEEDED' });
});

t.test('a bomb does not pile up output while the consumer is paused', async (t) => {
  const bomb = zlib.gzipSync(Buffer.alloc(256 << 20));
  const d = createThreadedDecompressor('gzip');
  d.pause();
  d.write(bomb);
  for (let i = 0; i < 600 && d.readableLength === 0; i++) await new Promise((r) => setTimeout(r, 50));
  t.ok(d.readableLength > 0, 'output started');
  await new Promise((r) => setTimeout(r, 300));
  t.ok(d.readableLength <= 16 << 20, `buffered while paused: ${d.readableLength} bytes`);
  let total = d.readableLength;
  d.on('data', (c: Buffer) => (total += c.length));
  d.resume();
  d.end();
  await new Promise((r) => d.on('end', r));
  t.equal(total - d.readableLength >= 0, true);
  t.ok(total >= 256 << 20, 'all output arrives');
});
