import t from 'tap';
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { throughChunks } from '../helpers/streams';
import { createThreadedDecompressor, decompressor } from '../../wasm/src/index';
import { FLOW, ThreadedDecompressor, createAdaptiveDecompressor, cpuPressure10, CALM_PRESSURE, freeCore, ownLoad, threadStats, workerAvailable, WARM_THRESHOLD, COLD_THRESHOLD } from '../../wasm/src/thread';
import { OUT_CREDIT } from '../../wasm/src/thread-worker';
import { decompressor as codecsDecompressor, decodeThreadPlan } from '../../core/images/codecs';
import { BerthError } from '../../core/errors';
import { envForTest } from '../helpers/env';

const input = fs.readFileSync(path.join(__dirname, '../vectors/deflate/input.bin'));
const big = Buffer.concat(Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? Buffer.alloc(50000, i) : input)));

const run = throughChunks;

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
  // the format's default credit (gzip: 8 MiB), the worker's own default (24 MiB, zstd's) and a
  // smaller one given per stream: output held while paused stays within the credit, plus what
  // the readable side accepted (its 4 MiB high-water mark) and one packed piece in transit (1 MiB)
  t.equal(FLOW.zstd.credit, OUT_CREDIT, "zstd's credit is the worker's default");
  t.ok(FLOW.gzip.credit < OUT_CREDIT, 'gzip gets a smaller window');
  for (const credit of [undefined, OUT_CREDIT, 4 << 20]) {
    const d = createThreadedDecompressor('gzip', credit === undefined ? {} : { credit });
    const bound = (credit ?? FLOW.gzip.credit) + (5 << 20);
    d.pause();
    d.write(bomb);
    for (let i = 0; i < 600 && d.readableLength === 0; i++) await new Promise((r) => setTimeout(r, 50));
    t.ok(d.readableLength > 0, 'output started');
    await new Promise((r) => setTimeout(r, 300));
    t.ok(d.readableLength <= bound, `credit ${(credit ?? FLOW.gzip.credit) >> 20} MiB: buffered while paused: ${d.readableLength} bytes`);
    let total = d.readableLength;
    d.on('data', (c: Buffer) => (total += c.length));
    d.resume();
    d.end();
    await new Promise((r) => d.on('end', r));
    t.ok(total >= 256 << 20, 'all output arrives');
  }
});

t.test('inFlight bounds the compressed input queued for the worker (even below one batch)', async (t) => {
  const plain = randomBytes(8 << 20); // incompressible: input is consumed about as fast as output is made
  const gz = zlib.gzipSync(plain, { level: 1 });
  const inFlight = 64 << 10;
  const credit = 1 << 20;
  const chunk = 16 << 10;
  const d = createThreadedDecompressor('gzip', { inFlight, credit });
  d.pause(); // nothing is read: the worker runs out of credit, then input must back up
  let accepted = 0;
  while (accepted < gz.length) {
    const ok = d.write(gz.subarray(accepted, accepted + chunk));
    accepted += Math.min(chunk, gz.length - accepted);
    if (!ok) {
      // drained soon while the worker still has credit; not within 300 ms once it is stuck
      const drained = await new Promise<boolean>((r) => {
        const timer = setTimeout(() => r(false), 300);
        d.once('drain', () => (clearTimeout(timer), r(true)));
      });
      if (!drained) break;
    }
  }
  t.ok(accepted < gz.length, `input backed up after ${accepted} of ${gz.length} bytes`);
  // decoded (≈ output, within the credit and the readable side's 4 MiB) + queued (inFlight) + one write
  const limit = credit + (4 << 20) + inFlight + chunk + (64 << 10);
  t.ok(accepted <= limit, `accepted ${accepted} <= ${limit}`);
  let total = 0;
  d.on('data', (c: Buffer) => (total += c.length));
  d.resume();
  while (accepted < gz.length) {
    const ok = d.write(gz.subarray(accepted, accepted + chunk));
    accepted += Math.min(chunk, gz.length - accepted);
    if (!ok) await new Promise((r) => d.once('drain', r));
  }
  d.end();
  await new Promise((r) => d.on('end', r));
  t.equal(total, plain.length, 'the stream completes');
});

t.test('large input chunks, a zero-length stream and output packed across pieces', async (t) => {
  const gz = zlib.gzipSync(big);
  t.ok((await run(createThreadedDecompressor('gzip'), gz, 3 << 20)).equals(big), 'chunks larger than the 1 MiB batch');
  t.ok((await run(createThreadedDecompressor('gzip'), gz.subarray(0, 300000), 1).catch((e: unknown) => e)) instanceof BerthError, 'byte-sized writes of a cut stream: a BerthError');
  const empty = await run(createThreadedDecompressor('gzip'), zlib.gzipSync(Buffer.alloc(0)));
  t.equal(empty.length, 0, 'empty member');
  await t.rejects(run(createThreadedDecompressor('gzip'), Buffer.alloc(0)), { code: 'ERR_WASM_CORRUPT_INPUT' }, 'no input at all');
  // ~40 MB of output: several 4 MiB packed pieces, credit and acks exercised
  const large = Buffer.concat(Array.from({ length: 8 }, () => big));
  const out = await run(createThreadedDecompressor('gzip'), zlib.gzipSync(large, { level: 1 }));
  t.ok(out.equals(large), `${large.length} bytes`);
});

t.test('adaptive: small streams stay in-thread, large ones go to a worker', async (t) => {
  t.ok(workerAvailable(), 'the worker script is found from the sources');
  const small = zlib.gzipSync(input);
  t.ok(small.length < WARM_THRESHOLD, 'the small sample is below both thresholds');
  const before = threadStats().started;
  const a = createAdaptiveDecompressor('gzip');
  t.ok((await run(a, small)).equals(input), 'small, no hint: right bytes');
  t.equal(a.threaded, false, 'small, no hint: in-thread');
  const b = createAdaptiveDecompressor('gzip', { sizeHint: small.length });
  t.equal(b.threaded, false, 'small hint: decided at once, in-thread');
  t.ok((await run(b, small)).equals(input));
  t.equal(threadStats().started, before, 'no worker was started for small streams');

  const gz = zlib.gzipSync(big);
  const c = createAdaptiveDecompressor('gzip', { thread: true, threshold: 64 << 10 });
  t.ok((await run(c, gz)).equals(big), 'large, no hint: right bytes');
  t.equal(c.threaded, true, 'past the threshold: worker thread');
  const d = createAdaptiveDecompressor('gzip', { thread: true, sizeHint: gz.length, threshold: gz.length });
  t.equal(d.threaded, true, 'a hint at the threshold decides for the worker at once');
  t.ok((await run(d, gz, 4096)).equals(big));
  const z = createAdaptiveDecompressor('gzip', { thread: true, threshold: 0 });
  t.ok(z instanceof ThreadedDecompressor, 'threshold 0 (every size on a worker): the worker decoder itself, no relay');
  t.ok((await run(z, gz)).equals(big));
  const e = createAdaptiveDecompressor('gzip', { thread: false, threshold: 0 });
  t.ok((await run(e, gz)).equals(big));
  t.equal(e.threaded, false, 'thread: false never uses a worker');
  t.ok(threadStats().idle >= 1, 'the worker is kept idle for the next stream');
  t.ok(WARM_THRESHOLD <= COLD_THRESHOLD);

  let local = 0;
  const f = createAdaptiveDecompressor('gzip', { local: () => (local++, zlib.createGunzip()) });
  t.ok((await run(f, small)).equals(input), 'a custom in-thread decoder');
  t.equal(local, 1);
});

t.test('adaptive: errors and limits on both paths', async (t) => {
  const gz = zlib.gzipSync(big);
  const bad = Buffer.from(gz);
  bad[bad.length - 8] ^= 1;
  for (const threshold of [0, 1 << 30]) {
    const what = threshold === 0 ? 'worker' : 'in-thread';
    await t.rejects(run(createAdaptiveDecompressor('gzip', { thread: true, threshold }), bad), { code: 'ERR_WASM_CORRUPT_INPUT' }, `${what}: CRC`);
    await t.rejects(run(createAdaptiveDecompressor('gzip', { thread: true, threshold }), gz.subarray(0, gz.length - 100)), { code: 'ERR_WASM_CORRUPT_INPUT' }, `${what}: truncated`);
    await t.rejects(run(createAdaptiveDecompressor('gzip', { thread: true, threshold, maxOutputLength: 1000 }), gz), { code: 'ERR_WASM_LIMIT_EXCEEDED' }, `${what}: limit`);
  }
});

t.test('codecs.decompressor: the pull path decodes large layers on a worker, small ones in-thread', async (t) => {
  envForTest(t, 'BERTH_DECODE_THREAD', undefined);
  const plan = decodeThreadPlan();
  t.equal(plan.thread, 'auto', 'by default the adaptive decoder decides (free core, size)');
  const own = ownLoad();
  t.ok(own >= 0 && own <= os.availableParallelism(), `this process's share of the load average: ${own.toFixed(2)}`);
  const others = os.loadavg()[0]! - own;
  // the load average moves every 5 s: only assert away from the boundary
  // (and the CPU pressure every 2 s)
  const some = cpuPressure10();
  // One assertion either way, so the suite's count does not depend on the host's load.
  if (Math.abs(others - 2 * os.availableParallelism()) > 0.5 && (some === undefined || Math.abs(some - CALM_PRESSURE) > 5)) {
    const calm = others < 2 * os.availableParallelism() || (some !== undefined && some < CALM_PRESSURE);
    t.equal(freeCore(), os.availableParallelism() >= 2 && calm, `worker worth it: 2+ CPUs and other processes' load ${others.toFixed(1)} below 2 x CPUs or CPU pressure ${some ?? 'n/a'} % below ${CALM_PRESSURE} %`);
  } else {
    t.type(freeCore(), 'boolean', `load ${others.toFixed(1)} / CPU pressure ${some ?? 'n/a'} % too near the thresholds to expect one answer`);
  }
  const gz = zlib.gzipSync(big);
  const before = threadStats().started;
  const small = codecsDecompressor('gzip', gz.length) as unknown as { threaded?: boolean } & NodeJS.ReadWriteStream;
  t.ok((await run(small, gz)).equals(big));
  t.equal(small.threaded, false, `a ${gz.length}-byte layer is decoded in-thread`);
  t.equal(threadStats().started, before, 'and starts no worker');
  process.env.BERTH_DECODE_THREAD = '1';
  const forced = codecsDecompressor('gzip', gz.length) as unknown as { threaded?: boolean } & NodeJS.ReadWriteStream;
  t.equal(forced.threaded, true, 'BERTH_DECODE_THREAD=1: worker');
  t.ok((await run(forced, gz)).equals(big));
  process.env.BERTH_DECODE_THREAD = '0';
  t.same(decodeThreadPlan(), { thread: false });
  const off = codecsDecompressor('gzip', 1 << 30);
  t.notOk((off as unknown as { threaded?: boolean }).threaded, 'BERTH_DECODE_THREAD=0: never a worker');
  t.ok((await run(off, gz)).equals(big));
});
