/**
 * Benchmark of berth's hot paths against Node's native ones, side by side in one process.
 *
 *   npm run build:wasm
 *   npx tsc --outDir /tmp/berth-bench/js --rootDir . --module commonjs --target ES2022 --moduleResolution node10 \
 *     --esModuleInterop --skipLibCheck --types node --strict bench/wasm.ts
 *   BERTH_WASM_DIR=$PWD/wasm/build node /tmp/berth-bench/js/bench/wasm.js [--runs 5] [--quick]
 *
 * (compiled, because worker threads started from TypeScript sources pay the transpiler per worker).
 *
 * Data: a ~200 MB "layer" tar made from host files (/usr/share + /usr/lib/x86_64-linux-gnu,
 * cut at 200 MiB) compressed with `gzip -6` and `zstd -3`, cached in $BERTH_BENCH_DIR
 * (default /tmp/berth-bench). Compressed input is fed in 64 KiB chunks (as from the network),
 * output is consumed and discarded; MB/s are 10^6 bytes of *uncompressed* data per second.
 * Each row is the median of --runs runs; the contenders of a group alternate run by run.
 * Results also go to bench/results/wasm-<date>.json (not committed).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { PassThrough, Transform, Writable } from 'node:stream';
import { createGunzip, createSha256, createZstdDecompress, createThreadedDecompressor, selectBackends, hasher, decompressor } from '../wasm/src/index';
import type { Hasher } from '../wasm/src/index';
import { instantiate } from '../wasm/src/loader';
import type { StreamDecoderExports } from '../wasm/src/decoder';
import { cpuPressure10, freeCore, hostCpus, ownLoad } from '../wasm/src/thread';
import { decompressor as codecsDecompressor, decodeHashApply, decodeThreadPlan, HashingStream } from '../core/images/codecs';
import { giveBack } from '../core/lent';

/** The module's own loop: input copied in 1 MiB pieces, output left in WASM memory (no copy, no CRC). */
function rawLoop(name: 'inflate' | 'zstd', input: Buffer, init: (ex: StreamDecoderExports & { init(a: number): void }) => void): number {
  const ex = instantiate<StreamDecoderExports & { init(a: number): void; provideCrc?(c: number): void }>(name);
  init(ex);
  const ip = ex.inputPtr();
  const cap = ex.inputCap();
  let off = 0;
  let total = 0;
  for (;;) {
    if (off < input.length) {
      const at = ex.compact();
      const n = Math.min(cap - at, input.length - off);
      new Uint8Array(ex.memory.buffer).set(input.subarray(off, off + n), ip + at);
      ex.push(n);
      off += n;
    }
    const st = ex.run(off >= input.length ? 1 : 0);
    total += ex.flushEnd() - ex.flushStart();
    ex.flushed();
    if (st < 0) throw new Error(`${name} raw loop: error ${st}`);
    if (st === 2) return total;
  }
}

const args = process.argv.slice(2);
const RUNS = Number(args[args.indexOf('--runs') + 1] ?? 5) || 5;
const QUICK = args.includes('--quick');
/** `--only REGEX`: run only the groups whose title matches (e.g. `--only pipeline`). */
const ONLY = args.includes('--only') ? new RegExp(args[args.indexOf('--only') + 1] ?? '') : undefined;
/** `--rows REGEX`: only the contenders whose name matches (e.g. `--rows 'alone|size hint'`). */
const ROWS = args.includes('--rows') ? new RegExp(args[args.indexOf('--rows') + 1] ?? '') : undefined;
const DIR = process.env.BERTH_BENCH_DIR ?? '/tmp/berth-bench';
const SIZE = QUICK ? 32 << 20 : 200 << 20;

function ensureData(): { tar: Buffer; gz: Buffer; zst: Buffer } {
  fs.mkdirSync(DIR, { recursive: true });
  const tarFile = path.join(DIR, QUICK ? 'layer-quick.tar' : 'layer.tar');
  if (!fs.existsSync(tarFile) || fs.statSync(tarFile).size !== SIZE) {
    process.stderr.write(`making ${tarFile} …\n`);
    execFileSync('sh', ['-c', `tar cf - /usr/share /usr/lib/x86_64-linux-gnu 2>/dev/null | head -c ${SIZE} > ${tarFile}`]);
  }
  if (!fs.existsSync(`${tarFile}.gz`)) execFileSync('sh', ['-c', `gzip -6 -c ${tarFile} > ${tarFile}.gz`]);
  if (!fs.existsSync(`${tarFile}.zst`)) execFileSync('sh', ['-c', `zstd -3 -q -c ${tarFile} > ${tarFile}.zst`]);
  return { tar: fs.readFileSync(tarFile), gz: fs.readFileSync(`${tarFile}.gz`), zst: fs.readFileSync(`${tarFile}.zst`) };
}

/**
 * Writes `input` into `w` honouring backpressure, each chunk hashed first (the compressed sha256,
 * as the content store's ingest does it), then ends it.
 */
function writeHashed(w: NodeJS.WritableStream, input: Buffer[], hash: crypto.Hash): void {
  let i = 0;
  const write = (): void => {
    while (i < input.length) {
      const c = input[i++]!;
      hash.update(c);
      if (!w.write(c)) {
        w.once('drain', write);
        return;
      }
    }
    w.end();
  };
  write();
}

/** A sink that drops each chunk and gives it back (core/lent.ts), as applyLayer does once it applied one. */
function givingBackSink(): Writable {
  return new Writable({
    highWaterMark: 1 << 20,
    write(c: Buffer, _e, cb) {
      giveBack(c);
      cb();
    },
  });
}

function chunks(b: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o < b.length; o += n) out.push(b.subarray(o, o + n));
  return out;
}

/** Pushes `input` chunks through `tr` honouring backpressure; resolves with output bytes. */
function drive(tr: Transform, input: Buffer[], onData?: (b: Buffer) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    let total = 0;
    tr.on('data', (b: Buffer) => {
      total += b.length;
      if (onData) onData(b);
    });
    tr.on('end', () => resolve(total));
    tr.on('error', reject);
    let i = 0;
    const write = (): void => {
      while (i < input.length) {
        if (!tr.write(input[i++])) {
          tr.once('drain', write);
          return;
        }
      }
      tr.end();
    };
    write();
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
};

interface Row {
  group: string;
  name: string;
  /** Wall-clock throughput, MB/s (median). */
  mbps: number;
  runs: number[];
  /** MB per second of process CPU time (all threads; median): robust on a busy host. */
  cpuMbps?: number;
  /**
   * MB per second of the busiest thread's CPU time (median): the critical path, i.e. the wall
   * time when every thread has a core of its own (what an idle 2-core host gives a 2-thread
   * pipeline), measured on a busy host.
   */
  pathMbps?: number;
  /**
   * Milliseconds the process's threads spent runnable but without a CPU (median, all threads
   * summed): the share of the wall time that other processes on the host took.
   */
  waitMs?: number;
}
const rows: Row[] = [];
const summary: string[] = [];

/**
 * CPU time and run-queue wait (ns) of every thread of this process, from
 * /proc/self/task/<tid>/schedstat (fields 1 and 2: time on a CPU, time runnable but waiting for one).
 */
function threadCpu(): Map<string, [number, number]> {
  const m = new Map<string, [number, number]>();
  try {
    for (const tid of fs.readdirSync('/proc/self/task')) {
      try {
        const f = fs.readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ');
        m.set(tid, [Number(f[0]), Number(f[1])]);
      } catch {
        /* the thread ended */
      }
    }
  } catch {
    /* no procfs */
  }
  return m;
}

async function group(name: string, bytes: number, all: Array<[string, () => Promise<unknown> | unknown]>): Promise<void> {
  if (ONLY && !ONLY.test(name)) return;
  const contenders = ROWS ? all.filter(([n]) => ROWS.test(n)) : all;
  const times = new Map<string, number[]>(contenders.map(([n]) => [n, []]));
  const cpu = new Map<string, number[]>(contenders.map(([n]) => [n, []]));
  const busy = new Map<string, number[]>(contenders.map(([n]) => [n, []]));
  const waits = new Map<string, number[]>(contenders.map(([n]) => [n, []]));
  for (const [, fn] of contenders) await fn(); // warm-up
  for (let r = 0; r < RUNS; r++) {
    for (const [n, fn] of contenders) {
      const th0 = threadCpu();
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      await fn();
      times.get(n)!.push(Number(process.hrtime.bigint() - t0) / 1e9);
      const c = process.cpuUsage(c0);
      cpu.get(n)!.push((c.user + c.system) / 1e6);
      let busiest = 0;
      let wait = 0;
      for (const [tid, [ns, w]] of threadCpu()) {
        const [ns0, w0] = th0.get(tid) ?? [0, 0];
        busiest = Math.max(busiest, ns - ns0);
        wait += w - w0;
      }
      busy.get(n)!.push(busiest / 1e9);
      waits.get(n)!.push(wait / 1e6);
    }
  }
  for (const [n] of contenders) {
    const runs = times.get(n)!.map((s) => bytes / s / 1e6);
    const cpuRuns = cpu.get(n)!.map((s) => bytes / s / 1e6);
    const pathRuns = busy.get(n)!.filter((s) => s > 0).map((s) => bytes / s / 1e6);
    rows.push({ group: name, name: n, mbps: median(runs), runs, cpuMbps: median(cpuRuns), waitMs: median(waits.get(n)!), ...(pathRuns.length ? { pathMbps: median(pathRuns) } : {}) });
  }
}

function hashAll(h: Hasher, data: Buffer): string {
  for (let o = 0; o < data.length; o += 1 << 20) h.update(data.subarray(o, o + (1 << 20)));
  return h.digest('hex');
}

async function main(): Promise<void> {
  const startLoad = os.loadavg().map((x) => x.toFixed(1)).join(' ');
  const { tar, gz, zst } = ensureData();
  const gzChunks = chunks(gz, 64 << 10);
  const zstChunks = chunks(zst, 64 << 10);
  const tarSha = crypto.createHash('sha256').update(tar).digest('hex');
  // correctness guard: every contender must produce the right bytes once
  const check = async (tr: Transform, input: Buffer[], what: string): Promise<void> => {
    const h = crypto.createHash('sha256');
    await drive(tr, input, (b) => h.update(b));
    if (h.digest('hex') !== tarSha) throw new Error(`${what} produced wrong output`);
  };
  await check(createGunzip(), gzChunks, 'wasm gunzip');
  await check(createZstdDecompress(), zstChunks, 'wasm zstd');
  if (hashAll(createSha256(), tar) !== tarSha) throw new Error('wasm sha256 wrong');

  // raw DEFLATE payload of the .gz (header and trailer stripped), so no CRC is computed
  let h = 10;
  if (gz[3]! & 8) {
    while (gz[h] !== 0) h++;
    h++;
  }
  const deflate = gz.subarray(h, gz.length - 8);
  await group('decoder loops without stream glue (output stays in WASM memory)', tar.length, [
    ['inflate (raw deflate, no CRC)', () => rawLoop('inflate', deflate, (ex) => ex.init(0))],
    ['zstd (XXH64 checked)', () => rawLoop('zstd', zst, (ex) => ex.init(128 << 20))],
  ]);
  await group('sha256 (1 MiB updates)', tar.length, [
    ['node:crypto (OpenSSL)', () => hashAll(crypto.createHash('sha256') as unknown as Hasher, tar)],
    ['berth wasm', () => hashAll(createSha256(), tar)],
  ]);
  await group('gzip -6 inflate (64 KiB input chunks, Transform)', tar.length, [
    ['node:zlib chunkSize 256 KiB', () => drive(zlib.createGunzip({ chunkSize: 256 << 10 }), gzChunks)],
    ['node:zlib default 16 KiB', () => drive(zlib.createGunzip(), gzChunks)],
    ['berth wasm', () => drive(createGunzip(), gzChunks)],
  ]);
  await group('gzip -6 inflate on a worker thread', tar.length, [['berth wasm, worker thread', () => drive(createThreadedDecompressor('gzip'), gzChunks)]]);
  await group('zstd -3 decompress (64 KiB input chunks, Transform)', tar.length, [
    ['berth wasm', () => drive(createZstdDecompress(), zstChunks)],
    ['berth wasm, worker thread', () => drive(createThreadedDecompressor('zstd'), zstChunks)],
  ]);
  const cli = (args: string[], file: string): number => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('sh', ['-c', `${args.join(' ')} < ${file} > /dev/null`]);
    if (r.status !== 0) throw new Error(`${args[0]} failed`);
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  const tarFile = path.join(DIR, QUICK ? 'layer-quick.tar' : 'layer.tar');
  for (const [name, a, f] of ONLY && !ONLY.test('reference') ? [] : [
    ['zstd CLI -d (separate process, reference)', ['zstd', '-d', '-c'], `${tarFile}.zst`],
    ['gzip CLI -d (separate process, reference)', ['gzip', '-d', '-c'], `${tarFile}.gz`],
  ] as Array<[string, string[], string]>) {
    const runs: number[] = [];
    for (let r = 0; r < RUNS; r++) runs.push(tar.length / cli(a, f) / 1e6);
    rows.push({ group: 'reference', name, mbps: median(runs), runs });
  }

  // the pull pipeline: sha256(compressed) + decompress + sha256(tar), vs decompression alone
  const choice = selectBackends({ cacheFile: path.join(DIR, 'backends.json') });
  /**
   * Feeds `input` (as from the network: the compressed digest is updated chunk by chunk on the
   * main thread, as the content store's ingest does) into `d`, hashes its output with `tarHash`
   * and discards it; checks the tar digest.
   */
  const feed = async (
    d: Transform | import('node:stream').Duplex,
    input: Buffer[],
    tarHash: (out: import('node:stream').Readable) => { digest(): string; done: Promise<unknown> },
  ): Promise<void> => {
    const ch = crypto.createHash('sha256');
    const th = tarHash(d);
    const failed = new Promise<never>((_, reject) => d.on('error', reject));
    writeHashed(d, input, ch);
    await Promise.race([th.done, failed]);
    ch.digest();
    if (th.digest() !== `sha256:${tarSha}`) throw new Error('pipeline produced a wrong tar digest');
  };
  /** The tar digest as the pull computes it, each chunk then given back (lent output). */
  const feedLent = (d: Transform, input: Buffer[]): Promise<void> =>
    feed(d, input, (out) => {
      const hs = new HashingStream();
      out.pipe(hs);
      const sink = givingBackSink();
      hs.pipe(sink);
      return { digest: () => hs.digest(), done: new Promise((r) => sink.on('finish', r)) };
    });
  /** The tar digest with a hasher of `sha` on 'data' (the one-thread pipeline of before). */
  const onData = (sha: 'native' | 'wasm') => (out: import('node:stream').Readable) => {
    const th = hasher(sha);
    out.on('data', (b: Buffer) => th.update(b));
    return { digest: () => `sha256:${th.digest('hex')}`, done: new Promise((r) => out.on('end', r)) };
  };
  /** The tar digest as the pull computes it: dec.pipe(new HashingStream()), consumed. */
  const hashingStream = (out: import('node:stream').Readable) => {
    const hs = new HashingStream();
    out.pipe(hs);
    hs.resume();
    return { digest: () => hs.digest(), done: new Promise((r) => hs.on('end', r)) };
  };
  const pipeline = (kind: 'gzip' | 'zstd', input: Buffer[], sha: 'native' | 'wasm', dec: 'native' | 'wasm', thread = false): Promise<void> =>
    feed(decompressor(kind, dec, { thread }), input, onData(sha));
  const autoChoice = new Map<string, string[]>();
  /** The two flow-control windows (wasm/src/thread.ts FLOW: gzip 8/8, zstd 24/16), each forced on both formats. */
  const SMALL = { credit: 8 << 20, inFlight: 8 << 20 };
  const LARGE = { credit: 24 << 20, inFlight: 16 << 20 };
  const WIDE = { credit: 40 << 20, inFlight: 32 << 20 };
  /**
   * The pull of before the worker thread (BERTH_DECODE_THREAD=0): codecs.decompressor(kind) in-thread
   * | HashingStream, the compressed sha256 on the main thread (the content store's ingest).
   */
  const pullInThread = (kind: 'gzip' | 'zstd', input: Buffer[]): Promise<void> => {
    const saved = process.env.BERTH_DECODE_THREAD;
    process.env.BERTH_DECODE_THREAD = '0';
    const d = codecsDecompressor(kind);
    if (saved === undefined) delete process.env.BERTH_DECODE_THREAD;
    else process.env.BERTH_DECODE_THREAD = saved;
    return feed(d, input, hashingStream);
  };
  /**
   * What `berth pull` runs on a storage driver whose apply gives its chunks back (overlay, vfs:
   * layers.ts → codecs.decodeHashApply with `lend`): the blob stream → decodeHashApply(blob, kind,
   * apply, { sizeHint, lend }), `apply` a sink that gives every chunk back as applyLayer does (no
   * tar parsing or file writes: the pipeline only). The compressed sha256 is on the main thread,
   * chunk by chunk, as the content store's ingest does. `unchecked` as layers.ts passes it for a
   * pull (the diff id is compared: the format's own checksum is skipped); `force` sets
   * BERTH_DECODE_THREAD.
   */
  const pullLent = async (kind: 'gzip' | 'zstd', input: Buffer[], o: { sizeHint?: number; lend?: boolean; unchecked?: boolean; force?: '0' | '1' } = {}): Promise<void> => {
    const { sizeHint, lend = true, unchecked = true, force } = o;
    if (!force) {
      // what the adaptive decoder consults (a size hint at or above its threshold: the worker when this says so)
      const list = autoChoice.get(kind) ?? [];
      list.push(`${freeCore() ? 'worker' : 'in-thread'} (load ${os.loadavg()[0]!.toFixed(1)}, own ${ownLoad().toFixed(1)}, cpu pressure ${cpuPressure10() ?? '-'} %)`);
      autoChoice.set(kind, list);
    }
    const saved = process.env.BERTH_DECODE_THREAD;
    if (force) process.env.BERTH_DECODE_THREAD = force;
    const blob = new PassThrough({ highWaterMark: 1 << 20 });
    const ch = crypto.createHash('sha256');
    const done = decodeHashApply(
      blob,
      kind,
      (tar) =>
        new Promise<void>((resolve, reject) => {
          const sink = givingBackSink();
          sink.on('finish', resolve);
          sink.on('error', reject);
          tar.pipe(sink);
        }),
      { ...(sizeHint !== undefined ? { sizeHint } : {}), lend, unchecked },
    );
    if (saved === undefined) delete process.env.BERTH_DECODE_THREAD;
    else process.env.BERTH_DECODE_THREAD = saved;
    writeHashed(blob, input, ch);
    const r = await done;
    ch.digest();
    if (r.diffId !== `sha256:${tarSha}`) throw new Error('pipeline produced a wrong tar digest');
  };
  /**
   * The rows both pipeline groups share: the pull of before (in-thread), the worker with three
   * flow-control windows and output copied, with `lent` windows (credit / in flight, MiB) and
   * output lent, and what `berth pull` runs now (decodeHashApply) with its variants.
   */
  const pullRows = (kind: 'gzip' | 'zstd', input: Buffer[], size: number, lent: Array<[number, number]>): Array<[string, () => Promise<void>]> => [
    ['berth pull before: in-thread (= BERTH_DECODE_THREAD=0)', () => pullInThread(kind, input)],
    ['berth pull now, in-thread (BERTH_DECODE_THREAD=0, as the apply worker of a detached apply decodes)', () => pullLent(kind, input, { sizeHint: size, force: '0' })],
    ['berth pull, worker with 8 MiB credit / 8 MiB in flight', () => feed(createThreadedDecompressor(kind, SMALL), input, hashingStream)],
    ['berth pull, worker with 24 MiB credit / 16 MiB in flight', () => feed(createThreadedDecompressor(kind, LARGE), input, hashingStream)],
    ['berth pull, worker with 40 MiB credit / 32 MiB in flight', () => feed(createThreadedDecompressor(kind, WIDE), input, hashingStream)],
    ...lent.map(([c, f]): [string, () => Promise<void>] => [`berth pull, worker ${c}/${f}, lent`, () => feedLent(createThreadedDecompressor(kind, { credit: c << 20, inFlight: f << 20, lend: true }), input)]),
    ['berth pull now: automatic choice', () => pullLent(kind, input)],
    ['berth pull now: automatic choice, size hint', () => pullLent(kind, input, { sizeHint: size })],
    ['berth pull now: worker thread (= BERTH_DECODE_THREAD=1)', () => pullLent(kind, input, { sizeHint: size, force: '1' })],
    ['berth pull now, size hint, output copied (a driver that gives no chunk back)', () => pullLent(kind, input, { sizeHint: size, lend: false })],
    [`berth pull now, size hint, ${kind === 'gzip' ? 'CRC-32' : 'XXH64'} checked too (no diff id to compare: import of a bare tarball)`, () => pullLent(kind, input, { sizeHint: size, unchecked: false })],
  ];
  process.stderr.write(`pull path: ${JSON.stringify(decodeThreadPlan())}, ${hostCpus()} CPUs\n`);
  await group('pull pipeline, gzip (sha256 in + inflate + sha256 out)', tar.length, [
    ['inflate alone (wasm, in-thread)', () => drive(createGunzip(), gzChunks)],
    ['inflate alone (node:zlib 256 KiB)', () => drive(zlib.createGunzip({ chunkSize: 256 << 10 }), gzChunks)],
    ['inflate alone (wasm, worker thread)', () => drive(createThreadedDecompressor('gzip'), gzChunks)],
    ['one thread, hashing on data: native sha + wasm inflate', () => pipeline('gzip', gzChunks, 'native', 'wasm')],
    ...pullRows('gzip', gzChunks, gz.length, [[8, 8], [16, 16]]),
  ]);
  await group('pull pipeline, zstd (sha256 in + decompress + sha256 out)', tar.length, [
    ['decompress alone (wasm, in-thread)', () => drive(createZstdDecompress(), zstChunks)],
    ['decompress alone (wasm, worker thread)', () => drive(createThreadedDecompressor('zstd'), zstChunks)],
    ['one thread, hashing on data: native sha + wasm', () => pipeline('zstd', zstChunks, choice.sha256.backend, 'wasm')],
    ...pullRows('zstd', zstChunks, zst.length, [[24, 16], [40, 32], [48, 32]]),
  ]);
  for (const [k, v] of autoChoice) summary.push(`berth pull's automatic choice (freeCore), ${k}, run by run: ${v.join(', ')}`);
  for (const g of ['pull pipeline, gzip', 'pull pipeline, zstd']) {
    const rs = rows.filter((r) => r.group.startsWith(g));
    const alone = rs.filter((r) => /alone/.test(r.name));
    if (!alone.length) continue;
    const best = alone.reduce((a, b) => (b.mbps > a.mbps ? b : a), alone[0]!);
    // node:zlib inflates on libuv's pool (several threads): its busiest thread says little, so the
    // critical path is compared with the same fastest-by-wall contender
    const bestPath = best;
    const pct = (x: number, y: number): string => `${((1 - x / y) * 100).toFixed(1)} %`;
    // Paired: each round's run against the in-thread decoder's run of the same round (adjacent in
    // time, so a burst of other work on the host hits both), median over the rounds.
    const local = alone.find((r) => /alone \(wasm, in-thread\)/.test(r.name));
    const paired = (r: Row): string => {
      if (!local || local.runs.length !== r.runs.length) return '';
      const ratios = r.runs.map((x, i) => x / local.runs[i]!);
      return `paired with "${local.name}" round by round: ${((1 - median(ratios)) * 100).toFixed(1)} % slower (median of ${ratios.length}); `;
    };
    for (const r of rs.filter((x) => !/alone/.test(x.name))) {
      summary.push(
        `${g}: "${r.name}": wall ${r.mbps.toFixed(0)} MB/s vs ${best.mbps.toFixed(0)} ("${best.name}"): ${pct(r.mbps, best.mbps)} slower; ` +
          paired(r) +
          `critical path ${(r.pathMbps ?? 0).toFixed(0)} vs ${(bestPath.pathMbps ?? 0).toFixed(0)} ("${bestPath.name}"): ${pct(r.pathMbps ?? 0, bestPath.pathMbps ?? 1)} slower; ` +
          `CPU ${r.cpuMbps!.toFixed(0)} vs ${best.cpuMbps!.toFixed(0)} MB per CPU-s`,
      );
    }
  }

  const cpu = os.cpus()[0]?.model ?? 'unknown';
  const lines: string[] = [];
  lines.push(`berth wasm bench — ${new Date().toISOString()} — node ${process.version} — ${cpu} × ${os.cpus().length}`);
  lines.push(`data: ${(tar.length / 1e6).toFixed(0)} MB tar, gzip -6 ${(gz.length / 1e6).toFixed(0)} MB, zstd -3 ${(zst.length / 1e6).toFixed(0)} MB; median of ${RUNS}`);
  lines.push(`selectBackends: sha256=${choice.sha256.backend} ${JSON.stringify(choice.sha256.measured)}, gunzip=${choice.gunzip.backend} ${JSON.stringify(choice.gunzip.measured)}, zstd ${JSON.stringify(choice.zstd.measured)}`);
  lines.push(`load average at the start: ${startLoad}`);
  lines.push('');
  lines.push(`load average at the end: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  lines.push('');
  for (const l of summary) lines.push(l);
  lines.push('');
  lines.push('| group | contender | wall MB/s (median) | MB per CPU-second (median) | MB per busiest-thread CPU-s (median) | run-queue wait ms (median) | wall runs |');
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | --- |');
  for (const r of rows) lines.push(`| ${r.group} | ${r.name} | ${r.mbps.toFixed(0)} | ${r.cpuMbps === undefined ? '' : r.cpuMbps.toFixed(0)} | ${r.pathMbps === undefined ? '' : r.pathMbps.toFixed(0)} | ${r.waitMs === undefined ? '' : r.waitMs.toFixed(0)} | ${r.runs.map((x) => x.toFixed(0)).join(' ')} |`);
  const text = lines.join('\n');
  process.stdout.write(text + '\n');
  const resDir = path.join(__dirname, 'results');
  fs.mkdirSync(resDir, { recursive: true });
  fs.writeFileSync(path.join(resDir, `wasm-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify({ cpu, node: process.version, rows }, null, 2));
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
