import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { throughChunks } from '../helpers/streams';
import { createGunzip, createInflate, createZstdDecompress, createThreadedDecompressor } from '../../wasm/src/index';
import { BaseExports, recycleInstance, reuseOrInstantiate, wasmModule } from '../../wasm/src/loader';
import { threadStats } from '../../wasm/src/thread';
import { envForTest } from '../helpers/env';

const CORPUS = path.join(__dirname, '../vectors/zstd/decodecorpus');
const input = fs.readFileSync(path.join(__dirname, '../vectors/deflate/input.bin'));
const pairs = fs
  .readdirSync(CORPUS)
  .filter((f) => f.endsWith('.zst'))
  .sort()
  .map((f) => ({ name: f, zst: fs.readFileSync(path.join(CORPUS, f)), plain: fs.readFileSync(path.join(CORPUS, f.replace(/\.zst$/, '.bin'))) }));

const run = throughChunks;

t.test('loader: a recycled instance is handed out once, then fresh ones', async (t) => {
  const a = reuseOrInstantiate<BaseExports>('zstd');
  recycleInstance('zstd', a);
  t.equal(reuseOrInstantiate<BaseExports>('zstd'), a, 'the spare comes back');
  t.not(reuseOrInstantiate<BaseExports>('zstd'), a, 'once only');
  const big = reuseOrInstantiate<BaseExports>('zstd');
  big.memory.grow(600); // ~37 MiB: above what is kept
  recycleInstance('zstd', big);
  t.not(reuseOrInstantiate<BaseExports>('zstd'), big, 'an instance with a large memory is not kept');
});

t.test('zstd: every corpus frame decodes right on instances reused from the previous stream', async (t) => {
  let reused = 0;
  for (const [i, p] of pairs.entries()) {
    // the spare instance (a fresh one the first time) is what the next stream decodes on...
    const spare = reuseOrInstantiate<BaseExports>('zstd');
    recycleInstance('zstd', spare);
    const out = await run(createZstdDecompress(), p.zst, 1 + ((i * 7919) % 70000));
    t.ok(out.equals(p.plain), p.name);
    // ...and a clean stream hands it back
    const after = reuseOrInstantiate<BaseExports>('zstd');
    if (after === spare) reused++;
    recycleInstance('zstd', after);
  }
  t.equal(reused, pairs.length, 'each clean stream left its instance for the next');
  // a failing stream in between: its instance is not recycled, the next stream is still right
  const bad = Buffer.from(pairs[3]!.zst);
  bad[bad.length >> 1] ^= 0x55;
  await run(createZstdDecompress(), bad).catch(() => undefined);
  await t.rejects(run(createZstdDecompress(), pairs[5]!.zst.subarray(0, pairs[5]!.zst.length - 3)), { code: 'ERR_WASM_CORRUPT_INPUT' }, 'a truncated frame still fails on a reused instance');
  for (const p of pairs.slice(0, 8)) t.ok((await run(createZstdDecompress(), p.zst)).equals(p.plain), `${p.name} after failures`);
});

t.test('inflate: gzip, zlib and raw streams in turn on reused instances; the CRC mode is reset', async (t) => {
  const gz = zlib.gzipSync(input);
  const badCrc = Buffer.from(gz);
  badCrc[badCrc.length - 8] ^= 1;
  for (let round = 0; round < 3; round++) {
    t.ok((await run(createGunzip(), gz)).equals(input), `gzip, native CRC (${round})`);
    t.ok((await run(createInflate(), zlib.deflateSync(input))).equals(input), `zlib (${round})`);
    t.ok((await run(createInflate({ format: 'raw' }), zlib.deflateRawSync(input))).equals(input), `raw (${round})`);
    // after a native-CRC gzip stream the module must check the CRC itself again
    t.ok((await run(createGunzip(), gz)).equals(input));
    await t.rejects(run(createGunzip({ wasmCrc: true }), badCrc), { code: 'ERR_WASM_CORRUPT_INPUT', message: /CRC-32/ }, `WASM CRC checked on a reused instance (${round})`);
    t.ok((await run(createGunzip({ wasmCrc: true }), gz)).equals(input));
    await t.rejects(run(createGunzip(), badCrc), { code: 'ERR_WASM_CORRUPT_INPUT', message: /CRC-32/ }, `native CRC checked on a reused instance (${round})`);
  }
});

t.test('a new worker adopts the main thread\'s compiled modules instead of loading the files', async (t) => {
  // Compiled here first; then the build directory is made unreachable for threads started now
  // (a worker gets a copy of process.env): a worker that loaded the files itself would fail.
  wasmModule('zstd');
  wasmModule('inflate');
  envForTest(t, 'BERTH_WASM_DIR', path.join(__dirname, 'no-such-wasm-build'));
  const started = threadStats().started;
  const p = pairs[pairs.length - 1]!;
  t.ok((await run(createThreadedDecompressor('zstd'), p.zst)).equals(p.plain), 'zstd on a fresh worker');
  t.ok(threadStats().started > started, 'a worker was started for it');
  t.ok((await run(createThreadedDecompressor('gzip'), zlib.gzipSync(input))).equals(input), 'gzip on the same worker (module given on first use)');
  t.ok((await run(createThreadedDecompressor('zstd'), p.zst)).equals(p.plain), 'zstd again: the worker kept its warm instance');
});
