import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { throughChunks } from '../helpers/streams';
import { OffThreadSha256, hashThreadStats, stopHashThread, POST_BYTES } from '../../wasm/src/hash-thread';
import { createHashedDecompressor, MAX_BACKLOG } from '../../wasm/src/hashed-decoder';
import { BerthError } from '../../core/errors';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const input = fs.readFileSync(path.join(__dirname, '../vectors/deflate/input.bin'));
const big = Buffer.concat(Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? Buffer.alloc(70000, i) : input)));

function zstdOf(b: Buffer): Buffer | undefined {
  try {
    return execFileSync('zstd', ['-q', '-3', '-c'], { input: b, maxBuffer: 1 << 28 });
  } catch {
    return undefined;
  }
}

/** Hash streams still open after waiting up to ~5 s for them to close (0: the worker is unref'd). */
async function openStreams(): Promise<number> {
  for (let i = 0; i < 100 && hashThreadStats().open > 0; i++) await new Promise((r) => setTimeout(r, 50));
  return hashThreadStats().open;
}

t.test('OffThreadSha256: digests of copied bytes, shared pieces and both mixed, in order', async (t) => {
  const data = randomBytes(5 * POST_BYTES + 12345);
  // copied: many small updates, then one large
  const a = new OffThreadSha256();
  for (let o = 0; o < data.length; o += 4099) a.update(data.subarray(o, o + 4099));
  t.equal((await a.digest()).toString('hex'), sha(data), 'copied in small pieces');
  const b = new OffThreadSha256();
  b.update(data);
  t.equal((await b.digest()).toString('hex'), sha(data), 'copied in one piece');
  // shared pieces by reference, interleaved with copied ones: order is kept
  const c = new OffThreadSha256();
  let o = 0;
  for (let i = 0; o < data.length; i++) {
    const n = Math.min(data.length - o, 70000 + i * 1000);
    const piece = data.subarray(o, o + n);
    if (i % 2 === 0) {
      const s = Buffer.from(new SharedArrayBuffer(n + 7), 3, n);
      s.set(piece);
      c.update(s);
    } else {
      c.update(piece);
    }
    o += n;
  }
  t.equal(c.bytes, data.length, 'bytes counted');
  t.equal((await c.digest()).toString('hex'), sha(data), 'mixed shared and copied');
  t.equal((await new OffThreadSha256().digest()).toString('hex'), sha(Buffer.alloc(0)), 'empty stream');
  // a wrong digest would show here: a different last byte gives a different digest
  const d = new OffThreadSha256();
  const other = Buffer.from(data);
  other[other.length - 1] ^= 1;
  d.update(other);
  t.not((await d.digest()).toString('hex'), sha(data), 'one flipped byte, another digest');
  t.throws(() => d.update(data), /after digest/, 'no update after digest');
  t.equal(await openStreams(), 0, 'after digests' + ': no hash stream left open');
  t.equal(hashThreadStats().started, 1, 'one hash worker serves every stream');
});

t.test('OffThreadSha256: abort and a dead worker reject the digest and close the stream', async (t) => {
  const a = new OffThreadSha256();
  a.update(randomBytes(3 << 20));
  a.abort(new Error('stop'));
  await t.rejects(a.digest(), /stop/, 'aborted stream rejects');
  t.equal(await openStreams(), 0, 'after abort' + ': no hash stream left open');
  const b = new OffThreadSha256();
  b.update(randomBytes(POST_BYTES * 3));
  const p = b.digest();
  await stopHashThread();
  await t.rejects(p, /exited/, 'digest pending when the worker stops: rejected');
  t.equal(hashThreadStats().running, false, 'worker gone');
  const c = new OffThreadSha256();
  c.update(Buffer.from('abc'));
  t.equal((await c.digest()).toString('hex'), sha(Buffer.from('abc')), 'a new stream starts a new worker');
  t.equal(hashThreadStats().started, 2);
  t.equal(await openStreams(), 0, 'after restart' + ': no hash stream left open');
});

t.test('OffThreadSha256.whenBelow: waits for the worker, then calls back', async (t) => {
  const h = new OffThreadSha256();
  for (let i = 0; i < 12; i++) h.update(Buffer.from(new SharedArrayBuffer(1 << 20)));
  t.equal(h.backlog, 12 << 20, 'nothing reported hashed yet');
  await new Promise<void>((resolve, reject) => h.whenBelow(1 << 20, (err) => (err ? reject(err) : resolve())));
  t.ok(h.backlog < 1 << 20, `backlog ${h.backlog} below the limit`);
  t.equal((await h.digest()).toString('hex'), sha(Buffer.alloc(12 << 20)));
});

t.test('hashed decoder: same bytes as the input, tar digest and size of its output', async (t) => {
  const gz = zlib.gzipSync(big);
  const g = createHashedDecompressor('gzip');
  t.ok((await throughChunks(g, gz)).equals(big), 'gzip output');
  t.same(await g.tarDigest(), { digest: 'sha256:' + sha(big), size: big.length }, 'gzip digest');
  const z = createHashedDecompressor('zlib');
  t.ok((await throughChunks(z, zlib.deflateSync(big), 999)).equals(big), 'zlib, small writes');
  t.equal((await z.tarDigest()).digest, 'sha256:' + sha(big));
  t.equal(g.threaded, false, 'decodes in this thread');
  const zst = zstdOf(big);
  if (!zst) t.comment('zstd CLI missing: zstd part skipped');
  else {
    const d = createHashedDecompressor('zstd');
    t.ok((await throughChunks(d, zst)).equals(big), 'zstd output');
    t.same(await d.tarDigest(), { digest: 'sha256:' + sha(big), size: big.length }, 'zstd digest');
  }
  t.equal(await openStreams(), 0, 'after clean streams' + ': no hash stream left open');
});

t.test('hashed decoder: corrupt input is the decoder error; the digest rejects', async (t) => {
  const gz = zlib.gzipSync(big);
  const bad = Buffer.from(gz);
  bad[bad.length - 8] ^= 1; // CRC-32
  const d = createHashedDecompressor('gzip');
  const digest = d.tarDigest();
  const err = await throughChunks(d, bad).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof BerthError, 'BerthError');
  t.equal((err as BerthError).code, 'ERR_WASM_CORRUPT_INPUT');
  await t.rejects(digest, { code: 'ERR_WASM_CORRUPT_INPUT' }, 'tarDigest rejects with it');
  await t.rejects(throughChunks(createHashedDecompressor('gzip'), gz.subarray(0, gz.length - 100)), { code: 'ERR_WASM_CORRUPT_INPUT' }, 'truncated');
  await t.rejects(throughChunks(createHashedDecompressor('gzip', { maxOutputLength: 1000 }), gz), { code: 'ERR_WASM_LIMIT_EXCEEDED' }, 'output limit');
  t.equal(await openStreams(), 0, 'after errors' + ': no hash stream left open');
});

t.test('hashed decoder: destroyed mid-stream, the hash stream is dropped', async (t) => {
  const gz = zlib.gzipSync(Buffer.concat([big, big, big]));
  const d = createHashedDecompressor('gzip');
  const digest = d.tarDigest();
  digest.catch(() => undefined);
  let seen = 0;
  await new Promise<void>((resolve) => {
    d.on('data', (b: Buffer) => {
      seen += b.length;
      if (seen > 100000 && !d.destroyed) {
        d.destroy();
        resolve();
      }
    });
    d.write(gz.subarray(0, gz.length >> 1));
  });
  t.ok(hashThreadStats().open <= 1);
  await t.rejects(digest, /destroyed/, 'tarDigest rejects');
  t.equal(await openStreams(), 0, 'after destroy' + ': no hash stream left open');
  // a destroy with an error: the digest rejects with that error
  const e = createHashedDecompressor('gzip');
  const p = e.tarDigest();
  e.write(gz.subarray(0, 1 << 16));
  e.destroy(new Error('cut'));
  await t.rejects(p, /cut/);
  t.equal(await openStreams(), 0, 'after destroy(err)' + ': no hash stream left open');
});

t.test('hashed decoder: input waits while the hasher is behind (bounded backlog)', async (t) => {
  const size = 128 << 20;
  const bomb = zlib.gzipSync(Buffer.alloc(size));
  const limit = 2 << 20;
  const d = createHashedDecompressor('gzip', { maxBacklog: limit });
  let maxBacklog = 0;
  d.on('data', () => {
    maxBacklog = Math.max(maxBacklog, d.hashBacklog);
  });
  const done = new Promise((resolve, reject) => {
    d.on('end', resolve);
    d.on('error', reject);
  });
  // 1 KiB of this bomb is ~1 MiB of output: input waits while the backlog is at the limit, so
  // the backlog stays within it plus one write's output (without the wait it grows to tens of MiB)
  const chunks: Buffer[] = [];
  for (let o = 0; o < bomb.length; o += 1024) chunks.push(bomb.subarray(o, o + 1024));
  Readable.from(chunks).pipe(d);
  await done;
  t.ok(maxBacklog <= limit + (2 << 20), `backlog at most ${maxBacklog} bytes`);
  t.same(await d.tarDigest(), { digest: 'sha256:' + sha(Buffer.alloc(size)), size });
  t.equal(MAX_BACKLOG, 48 << 20, 'default bound');
});

t.test('the hash worker never keeps the process alive', async (t) => {
  t.equal(await openStreams(), 0, 'at the end' + ': no hash stream left open');
  t.ok(hashThreadStats().started <= 2, 'no worker per stream');
});
