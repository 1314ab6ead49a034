/**
 * Lent output (core/lent.ts, wasm/src/thread.ts `lend`): a worker-thread decoder hands out views
 * into a reused ring of shared memory, and the consumer gives each one back.
 */
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { giveBack, isLent, lendFrom, stopLending } from '../../core/lent';
import { createThreadedDecompressor, pooledRings, ThreadedDecompressor } from '../../wasm/src/thread';
import { createGunzip, createZstdDecompress } from '../../wasm/src/index';
import { decodeHashApply } from '../../core/images/codecs';
import { BerthError } from '../../core/errors';
import { envForTest } from '../helpers/env';

const input = fs.readFileSync(path.join(__dirname, '../vectors/deflate/input.bin'));
/** ~20 MB, compressible but not trivially: many 1 MiB slots of output. */
const big = Buffer.concat(Array.from({ length: 240 }, (_, i) => (i % 4 === 0 ? randomBytes(100000) : input)));

function zstdOf(data: Buffer): Buffer | undefined {
  try {
    return execFileSync('zstd', ['-q', '-3', '-c'], { input: data, maxBuffer: 1 << 26 });
  } catch {
    return undefined;
  }
}

function chunksOf(data: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o < data.length; o += n) out.push(data.subarray(o, o + n));
  return out;
}

/** Decodes `data` through `d`; the sink copies each chunk, records it, then gives it back. */
async function decodeGivingBack(d: ThreadedDecompressor, data: Buffer, seen?: Buffer[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(
    Readable.from(chunksOf(data, 65536)),
    d,
    new Writable({
      write(c: Buffer, _e, cb) {
        seen?.push(c);
        parts.push(Buffer.from(c));
        giveBack(c);
        cb();
      },
    }),
  );
  return Buffer.concat(parts);
}

t.test('core/lent: only chunks of a lending memory are given back, until lending stops', (t) => {
  const memory = new SharedArrayBuffer(4096);
  const back: Uint8Array[] = [];
  const a = Buffer.from(memory, 0, 1024);
  const plain = Buffer.alloc(1024);
  t.notOk(isLent(a), 'nothing is lent before lendFrom');
  lendFrom(memory, (c) => back.push(c));
  t.ok(isLent(a) && isLent(Buffer.from(memory, 1024, 10)), 'every view of the memory is lent');
  t.notOk(isLent(plain), 'an ordinary buffer is not');
  giveBack(plain);
  giveBack(a);
  t.same(back, [a], 'giveBack of an ordinary buffer does nothing; a lent one reaches its producer as the same object');
  stopLending(memory);
  giveBack(a);
  t.equal(back.length, 1, 'after stopLending, giving back does nothing');
  t.notOk(isLent(a));
  t.end();
});

t.test('lent output: the same bytes, as views of one reused ring', async (t) => {
  const gz = zlib.gzipSync(big);
  const seen: Buffer[] = [];
  const d = createThreadedDecompressor('gzip', { lend: true });
  t.ok((await decodeGivingBack(d, gz, seen)).equals(big), 'gzip: right bytes');
  t.ok(seen.length > 10, `${seen.length} chunks`);
  const ring = seen[0]!.buffer;
  t.ok(ring instanceof SharedArrayBuffer, 'chunks are views of shared memory');
  t.ok(seen.every((c) => c.buffer === ring), 'all of one ring (inflate output comes in views well below the reserve: nothing spills)');
  t.equal(d.lentChunks, 0, 'every chunk came back');
  t.notOk(isLent(seen[0]!), 'once the stream is over and all came back, its chunks are no longer lent');
  t.ok(pooledRings() >= 1, 'the ring is kept for the next stream');

  const again: Buffer[] = [];
  t.ok((await decodeGivingBack(createThreadedDecompressor('gzip', { lend: true }), gz, again)).equals(big), 'a second stream');
  t.equal(again[0]!.buffer, ring, 'it reuses the ring of the first');

  const zst = zstdOf(big);
  if (!zst) t.comment('zstd CLI missing: zstd part skipped');
  else {
    const zs: Buffer[] = [];
    t.ok((await decodeGivingBack(createThreadedDecompressor('zstd', { lend: true }), zst, zs)).equals(big), 'zstd: right bytes');
    t.ok(zs.every((c) => c.buffer instanceof SharedArrayBuffer), 'zstd: lent too');
  }
  const plain: Buffer[] = [];
  t.ok((await decodeGivingBack(createThreadedDecompressor('gzip'), gz, plain)).equals(big), 'without lend');
  t.ok(plain.every((c) => !isLent(c) && c.buffer instanceof ArrayBuffer), 'without lend: ordinary buffers, nothing lent');
});

t.test('lent output: decoding waits for chunks to come back, in any order', async (t) => {
  const gz = zlib.gzipSync(big);
  const credit = 2 << 20;
  const d = createThreadedDecompressor('gzip', { lend: true, credit });
  const held: Buffer[] = [];
  d.on('data', (c: Buffer) => held.push(c));
  d.write(gz);
  d.end();
  const ended = new Promise((r) => d.on('end', r));
  // nothing given back: the worker stops once the ring is all lent
  let last = -1;
  for (let i = 0; i < 100 && held.length !== last; i++) {
    last = held.length;
    await new Promise((r) => setTimeout(r, 50));
  }
  const lentBytes = held.reduce((n, c) => n + c.length, 0);
  // the ring (the credit + 8 slots of 1 MiB), and no more: decoding stops while less than its
  // reserve is free
  t.ok(lentBytes <= credit + (8 << 20), `${lentBytes} bytes out while none came back`);
  t.ok(lentBytes >= credit, 'the ring was used');
  t.ok(lentBytes < big.length, 'the stream is not done');
  t.equal(d.lentChunks, held.filter((c) => isLent(c)).length, 'every lent chunk is counted');
  const copy: Buffer[] = held.map((c) => Buffer.from(c));
  // back in reverse order, one given back twice and a view of another given back: ignored
  const first = held[0]!;
  for (const c of [...held].reverse()) giveBack(c);
  giveBack(first);
  held.length = 0;
  d.removeAllListeners('data');
  d.on('data', (c: Buffer) => {
    copy.push(Buffer.from(c));
    giveBack(c.subarray(1)); // not the chunk itself: ignored
    giveBack(c);
  });
  await ended;
  t.ok(Buffer.concat(copy).equals(big), 'the stream completes with the right bytes');
  t.equal(d.lentChunks, 0);
});

t.test('lent output: a stream that fails or is destroyed lends nothing any more', async (t) => {
  const gz = zlib.gzipSync(big);
  const bad = Buffer.from(gz);
  bad[bad.length - 8] ^= 1;
  const err = await decodeGivingBack(createThreadedDecompressor('gzip', { lend: true }), bad).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof BerthError && err.code === 'ERR_WASM_CORRUPT_INPUT', 'a corrupt stream: the same error as without lend');

  const d = createThreadedDecompressor('gzip', { lend: true });
  const held: Buffer[] = [];
  d.on('data', (c: Buffer) => held.push(c));
  d.write(gz);
  for (let i = 0; i < 100 && held.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.ok(held.length > 0 && isLent(held[0]!), 'chunks lent before the stream is destroyed');
  const pooled = pooledRings();
  d.destroy();
  await new Promise((r) => d.on('close', r));
  t.notOk(isLent(held[0]!), 'destroyed mid-stream: its chunks are no longer lent');
  for (const c of held) giveBack(c);
  t.equal(pooledRings(), pooled, 'and its ring is not reused (a consumer may still hold a chunk)');
  const next: Buffer[] = [];
  t.ok((await decodeGivingBack(createThreadedDecompressor('gzip', { lend: true }), gz, next)).equals(big), 'the next stream is unaffected');
  t.not(next[0]!.buffer, held[0]!.buffer, 'on another ring');
});

t.test('decodeHashApply with lend: chunks apply leaves after the tar are given back by it', async (t) => {
  envForTest(t, 'BERTH_DECODE_THREAD', '1');
  const gz = zlib.gzipSync(big);
  const want = 'sha256:' + createHash('sha256').update(big).digest('hex');
  // warm: a ring of this size in the pool, so that the run below takes it and must return it
  await decodeGivingBack(createThreadedDecompressor('gzip', { lend: true }), gz);
  const pooled = pooledRings();
  let firstLent = false;
  // apply reads one chunk, gives it back and is done (a tar that ends early): the rest is hashed
  // and given back by decodeHashApply
  const r = await decodeHashApply(
    Readable.from(chunksOf(gz, 65536)),
    'gzip',
    (tar) =>
      new Promise<number>((resolve) => {
        tar.once('data', (c: Buffer) => {
          tar.pause();
          firstLent = isLent(c);
          giveBack(c);
          resolve(c.length);
        });
      }),
    { lend: true, sizeHint: gz.length },
  );
  t.equal(r.diffId, want, 'every byte hashed');
  t.equal(r.size, big.length);
  t.ok(firstLent, 'apply was given lent chunks');
  t.equal(pooledRings(), pooled, 'every chunk came back: the ring is in the pool again');
});

t.test('in-thread lent output: reused pieces once given back, fresh ones while held, never a stall', async (t) => {
  const gz = zlib.gzipSync(big);
  for (const [what, make] of [
    ['gzip', () => createGunzip({ lend: true })],
    ['zstd', () => createZstdDecompress({ lend: true })],
  ] as const) {
    const data = what === 'gzip' ? gz : zstdOf(big);
    if (!data) {
      t.comment('zstd CLI missing: zstd part skipped');
      continue;
    }
    const given: Buffer[] = [];
    const parts: Buffer[] = [];
    await pipeline(
      Readable.from(chunksOf(data, 65536)),
      make(),
      new Writable({
        write(c: Buffer, _e, cb) {
          given.push(c);
          parts.push(Buffer.from(c));
          giveBack(c);
          cb();
        },
      }),
    );
    t.ok(Buffer.concat(parts).equals(big), `${what}: right bytes`);
    t.ok(given.every((c) => isLent(c) && c.length <= 1 << 20), `${what}: every chunk lent, at most 1 MiB`);
    const memories = new Set(given.map((c) => c.buffer));
    t.ok(memories.size < given.length / 4, `${what}: pieces reused (${memories.size} for ${given.length} chunks)`);

    // held, not given back: every chunk keeps its own piece, and the stream still completes
    const held: Buffer[] = [];
    await pipeline(Readable.from(chunksOf(data, 65536)), make(), new Writable({ write(c: Buffer, _e, cb) { held.push(c); cb(); } }));
    t.ok(Buffer.concat(held).equals(big), `${what}: held chunks keep their bytes`);
    t.equal(new Set(held.map((c) => c.buffer)).size, held.length, `${what}: no piece of a held chunk was reused`);
    for (const c of held) giveBack(c);
  }
});

t.test('decodeHashApply with lend, decoded in-thread: the tar comes as lent chunks', async (t) => {
  envForTest(t, 'BERTH_DECODE_THREAD', '0');
  const zst = zstdOf(big);
  if (!zst) {
    t.plan(0, 'zstd CLI missing');
    return;
  }
  const consume = (tar: NodeJS.ReadableStream): Promise<void> =>
    new Promise((resolve, reject) => {
      const sink = new Writable({ write(c: Buffer, _e, cb) { giveBack(c); cb(); } });
      sink.on('finish', resolve);
      sink.on('error', reject);
      tar.pipe(sink);
    });
  const r = await decodeHashApply(Readable.from(chunksOf(zst, 65536)), 'zstd', consume, { lend: true, unchecked: true });
  t.equal(r.diffId, 'sha256:' + createHash('sha256').update(big).digest('hex'));
  t.ok(r.lentChunks > 10, `${r.lentChunks} lent chunks`);
  const plain = await decodeHashApply(Readable.from(chunksOf(zst, 65536)), 'zstd', consume, {});
  t.equal(plain.lentChunks, 0, 'without lend: none');
});
