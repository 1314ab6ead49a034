/**
 * Buffers handed off by their producer (core/images/handoff.ts): only whole, marked buffers may
 * be taken over, each once; unpackThreaded transfers taken-over pieces to its worker (they are
 * detached on this side afterwards) and the layer comes out exactly as from copied pieces, while
 * a piece that was not handed off is left intact for its producer. 1 MiB pieces come back once
 * the worker's decompressor is done with them and are reused for the next pieces.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { allocPiece, handOff, PIECE, recyclePiece, sparePieces, takeOver } from '../../core/images/handoff';
import { decompressor } from '../../core/images/codecs';
import { applyPoolStats, prewarmApplyPool, unpackThreaded } from '../../core/images/apply-thread';
import { buildTar, type TarEntry } from '../../core/testsuite/tar';
import { envForTest } from '../helpers/env';

const whole = (n: number, fill: number) => Buffer.allocUnsafeSlow(n).fill(fill);

t.test('takeOver: only whole buffers their producer handed off, once', async (t) => {
  const a = handOff(whole(4096, 1));
  t.ok(takeOver(a) === a.buffer, 'a handed-off whole buffer is taken over');
  t.equal(takeOver(a), undefined, 'only once');
  t.equal(takeOver(whole(4096, 2)), undefined, 'a buffer nobody handed off is not');
  const big = whole(8192, 3);
  const slice = handOff(big.subarray(0, 4096));
  t.equal(takeOver(slice), undefined, 'a slice is never marked (its memory is shared)');
  t.equal(takeOver(big), undefined, 'nor is the buffer it was cut from');
  const pooled = handOff(Buffer.from('small, from the shared pool'));
  t.equal(takeOver(pooled), undefined, 'a pooled small buffer is not either');
});

t.test('prewarmApplyPool starts the pool once, idle (the test process still exits)', async (t) => {
  t.equal(applyPoolStats().workers, 0, 'no worker before');
  prewarmApplyPool();
  const s = applyPoolStats();
  t.equal(s.workers, s.max, 'every worker of the pool started');
  prewarmApplyPool();
  t.equal(applyPoolStats().workers, s.max, 'a second call starts none');
});

t.test('unpackThreaded transfers handed-off pieces and applies the same layer', async (t) => {
  const dir = fs.mkdtempSync(path.join('/var/tmp', 'berth-handoff-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const entries: TarEntry[] = [{ name: 'd/', type: 'dir', mode: 0o755 }];
  for (let i = 0; i < 40; i++) entries.push({ name: `d/f${i}`, data: randomBytes(20_000 + i * 1000) });
  const tar = buildTar(entries);
  const gz = gzipSync(tar, { level: 1 });
  const want = 'sha256:' + createHash('sha256').update(tar).digest('hex');
  const pieces = (mark: boolean): Buffer[] => {
    const out: Buffer[] = [];
    for (let off = 0; off < gz.length; off += 96 << 10) {
      const p = Buffer.allocUnsafeSlow(Math.min(96 << 10, gz.length - off));
      gz.copy(p, 0, off, off + p.length);
      out.push(mark ? handOff(p) : p);
    }
    return out;
  };
  const given = pieces(true);
  const kept = pieces(false);
  t.ok(given.filter((p) => p.length >= 64 << 10).length >= 10, 'many pieces large enough to be transferred');
  const a = path.join(dir, 'given');
  const b = path.join(dir, 'kept');
  fs.mkdirSync(a);
  fs.mkdirSync(b);
  const ra = await unpackThreaded(Readable.from(given), 'gzip', a, { whiteoutMode: 'overlay', detached: true });
  const rb = await unpackThreaded(Readable.from(kept), 'gzip', b, { whiteoutMode: 'overlay', detached: true });
  t.equal(ra.diffId, want, 'diff id of the transferred pieces');
  t.equal(rb.diffId, want, 'diff id of the copied pieces');
  t.ok(given.filter((p) => p.length >= 64 << 10).every((p) => p.buffer.byteLength === 0), 'handed-off pieces were transferred (detached here)');
  t.ok(kept.every((p) => p.buffer.byteLength > 0), 'pieces nobody handed off are intact');
  for (let i = 0; i < 40; i += 13) t.same(fs.readFileSync(path.join(a, `d/f${i}`)), fs.readFileSync(path.join(b, `d/f${i}`)), `d/f${i} identical`);
  t.equal(fs.readdirSync(path.join(a, 'd')).length, 40);
});

t.test('gunzip reports each input chunk only once it has consumed it', async (t) => {
  // node:zlib itself, as the apply worker decodes (BERTH_DECODE_THREAD=0 there: no adaptive relay)
  envForTest(t, 'BERTH_DECODE_THREAD', '0');
  const plain = randomBytes(3 << 20);
  const gz = gzipSync(plain, { level: 1 });
  const chunks: Buffer[] = [];
  for (let off = 0; off < gz.length; off += 200_000) chunks.push(Buffer.from(gz.subarray(off, off + 200_000)));
  // Each chunk is overwritten the moment it is reported: reported too early, zlib would read garbage.
  let reported = 0;
  const dec = decompressor('gzip', undefined, (c) => {
    reported += c.length;
    c.fill(0xee);
  });
  const out: Buffer[] = [];
  dec.on('data', (d: Buffer) => out.push(d));
  const done = new Promise<void>((resolve, reject) => {
    dec.on('end', resolve);
    dec.on('error', reject);
  });
  for (const c of chunks) dec.write(c);
  dec.end();
  await done;
  t.ok(Buffer.concat(out).equals(plain), 'output intact although every chunk was overwritten as soon as it was reported');
  t.equal(reported, gz.length, 'every input byte reported once');
  const seen2: Buffer[] = [];
  const bad = decompressor('gzip', undefined, (c) => seen2.push(c));
  const failed = new Promise<Error>((r) => bad.on('error', r));
  bad.end(Buffer.from('this is not gzip data at all, not at all'));
  t.match((await failed).message, /incorrect header check|unknown compression|header/i, 'corrupt input fails');
  t.equal(seen2.length, 0, 'a chunk that failed is not reported');
});

t.test('1 MiB pieces come back from the worker and are reused', async (t) => {
  const dir = fs.mkdtempSync(path.join('/var/tmp', 'berth-recycle-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const entries: TarEntry[] = [];
  for (let i = 0; i < 12; i++) entries.push({ name: `f${i}`, data: randomBytes(600_000) });
  const tar = buildTar(entries);
  const gz = gzipSync(tar, { level: 1 });
  const want = 'sha256:' + createHash('sha256').update(tar).digest('hex');
  const given: Buffer[] = [];
  for (let off = 0; off < gz.length; off += PIECE) {
    const p = allocPiece(Math.min(PIECE, gz.length - off));
    gz.copy(p, 0, off, off + p.length);
    given.push(handOff(p));
  }
  const before = sparePieces(); // (the earlier tests' batches may have come back too)
  const full = given.filter((p) => p.length === PIECE).length;
  t.ok(full >= 5, `${full} whole pieces`);
  const r = await unpackThreaded(Readable.from(given), 'gzip', dir, { whiteoutMode: 'overlay', detached: true });
  t.equal(r.diffId, want, 'the layer is intact');
  // the 'free' messages may trail the 'done' one
  for (let i = 0; i < 50 && sparePieces() < before + full; i++) await new Promise((res) => setTimeout(res, 10));
  t.equal(sparePieces(), Math.min(before + full, 16), 'every whole piece came back');
  const reused = allocPiece(PIECE);
  t.equal(reused.length, PIECE);
  t.equal(sparePieces(), Math.min(before + full, 16) - 1, 'allocPiece takes a returned piece');
  recyclePiece(reused.buffer as ArrayBuffer);
  recyclePiece(new ArrayBuffer(1000));
  t.equal(sparePieces(), Math.min(before + full, 16), 'only PIECE-sized buffers are kept');
  for (let i = 0; i < 12; i += 5) t.same(fs.readFileSync(path.join(dir, `f${i}`)), entries[i]!.data, `f${i} intact`);
});
