/**
 * Buffers handed off by their producer (core/images/handoff.ts): only whole, marked buffers may
 * be taken over, each once; unpackThreaded transfers taken-over pieces to its worker (they are
 * detached on this side afterwards) and the layer comes out exactly as from copied pieces, while
 * a piece that was not handed off is left intact for its producer.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { handOff, takeOver } from '../../core/images/handoff';
import { applyPoolStats, prewarmApplyPool, unpackThreaded } from '../../core/images/apply-thread';
import { buildTar, type TarEntry } from '../../core/testsuite/tar';

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
