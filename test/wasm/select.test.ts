import t from 'tap';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { selectBackends, readCachedChoice, hasher, decompressor, createDecompressor, compressionOf, cacheKey, wasmAvailable, zstdDecompressSync } from '../../wasm/src/index';
import { benchSample, zstdSample, ZSTD_SAMPLE_SIZE } from '../../wasm/src/sample';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-wasm-select-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function through(tr: NodeJS.ReadWriteStream, data: Buffer): Promise<Buffer> {
  const parts: Buffer[] = [];
  const chunks: Buffer[] = [];
  for (let o = 0; o < data.length; o += 10000) chunks.push(data.subarray(o, o + 10000));
  await pipeline(Readable.from(chunks), tr, new Writable({ write(c: Buffer, _e, cb) { parts.push(c); cb(); } }));
  return Buffer.concat(parts);
}

t.test('measures, caches by host key, and honours force', async (t) => {
  const cacheFile = path.join(tmp, 'state', 'wasm-backends.json');
  const t0 = Date.now();
  const a = selectBackends({ cacheFile });
  const ms = Date.now() - t0;
  t.ok(ms < 2000, `self-benchmark is short (${ms} ms)`);
  for (const op of ['sha256', 'gunzip'] as const) {
    t.ok(a[op].backend === 'wasm' || a[op].backend === 'native', `${op} backend ${a[op].backend}`);
    t.ok(a[op].mbps > 0, `${op} ${a[op].mbps} MB/s`);
    t.equal(a[op].mbps, Math.max(...Object.values(a[op].measured).map((v) => v ?? 0)), `${op} picks the fastest`);
  }
  t.equal(a.zstd.backend, 'wasm');
  t.equal(a.zstd.available, wasmAvailable('zstd'));
  const cache = JSON.parse(fs.readFileSync(cacheFile, 'utf8'));
  t.equal(cache.key, cacheKey());
  t.match(cache.key, process.version);
  t.match(cache.key, os.cpus()[0]!.model.trim());
  t.same(readCachedChoice(cacheFile)?.sha256.measured, a.sha256.measured, 'readCachedChoice reads it back');
  t.equal(readCachedChoice(path.join(tmp, 'none.json')), undefined, 'no cache: undefined');
  // cached: same numbers, reason 'cached'
  const b = selectBackends({ cacheFile });
  t.equal(b.sha256.reason === 'cached' || b.sha256.reason === 'only', true);
  t.same(b.sha256.measured, a.sha256.measured);
  // another host (different key) measures again
  cache.key = 'node v0.0.0 | other cpu';
  cache.measured.sha256 = { native: 1, wasm: 2 };
  fs.writeFileSync(cacheFile, JSON.stringify(cache));
  const c = selectBackends({ cacheFile });
  t.not(c.sha256.measured.native, 1, 'stale cache ignored');
  t.equal(JSON.parse(fs.readFileSync(cacheFile, 'utf8')).key, cacheKey(), 'cache rewritten');
  // a planted cache with the right key decides
  const planted = JSON.parse(fs.readFileSync(cacheFile, 'utf8'));
  planted.measured.sha256 = { native: 10, wasm: 20 };
  planted.measured.gunzip = { native: 30, wasm: 5 };
  fs.writeFileSync(cacheFile, JSON.stringify(planted));
  const d = selectBackends({ cacheFile });
  t.equal(d.sha256.backend, 'wasm');
  t.equal(d.gunzip.backend, 'native');
  const e = selectBackends({ cacheFile, force: { sha256: 'native', gunzip: 'wasm' } });
  t.equal(e.sha256.backend, 'native');
  t.equal(e.sha256.reason, 'forced');
  t.equal(e.gunzip.backend, 'wasm');
  // unwritable cache location is not an error
  fs.writeFileSync(path.join(tmp, 'plain-file'), 'x');
  const f = selectBackends({ cacheFile: path.join(tmp, 'plain-file', 'cache.json') });
  t.ok(f.sha256.mbps > 0);
});

t.test('hasher and decompressor give the same bytes on both backends', async (t) => {
  const data = benchSample();
  const want = crypto.createHash('sha256').update(data).digest('hex');
  for (const b of ['wasm', 'native'] as const) {
    t.equal(hasher(b).update(data).digest('hex'), want, `hasher ${b}`);
    t.equal(hasher({ backend: b, mbps: 1, measured: {}, available: true, reason: 'forced' }).update(data).digest('hex'), want);
    const gz = zlib.gzipSync(data);
    t.ok((await through(decompressor('gzip', b), gz)).equals(data), `gunzip ${b}`);
  }
  t.ok(hasher().update(Buffer.from('abc')).digest('hex').startsWith('ba7816bf'), 'default backend');
  if (wasmAvailable('zstd')) {
    t.ok((await through(decompressor('zstd'), zstdSample())).equals(data.subarray(0, ZSTD_SAMPLE_SIZE)), 'zstd');
    t.ok(zstdDecompressSync(zstdSample()).equals(data.subarray(0, ZSTD_SAMPLE_SIZE)), 'embedded zstd sample is current');
  }
});

t.test('media types map to decompressors', async (t) => {
  t.equal(compressionOf('application/vnd.oci.image.layer.v1.tar+gzip'), 'gzip');
  t.equal(compressionOf('application/vnd.oci.image.layer.v1.tar+zstd'), 'zstd');
  t.equal(compressionOf('application/vnd.oci.image.layer.v1.tar'), 'none');
  t.equal(compressionOf('application/vnd.oci.image.layer.nondistributable.v1.tar+gzip'), 'gzip');
  t.equal(compressionOf('application/vnd.docker.image.rootfs.diff.tar.gzip'), 'gzip');
  t.equal(compressionOf('application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'), 'gzip');
  t.equal(compressionOf('gzip'), 'gzip');
  t.throws(() => compressionOf('application/vnd.oci.image.layer.v1.tar+bzip2'), { code: 'ERR_WASM_UNSUPPORTED' });
  const data = Buffer.from('hello layer');
  t.ok((await through(createDecompressor('application/vnd.oci.image.layer.v1.tar'), data)).equals(data), 'none passes through');
  t.ok((await through(createDecompressor('application/vnd.oci.image.layer.v1.tar+gzip'), zlib.gzipSync(data))).equals(data), 'gzip');
});
