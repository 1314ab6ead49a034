/**
 * `checksum: false` (wasm/src/decoder.ts DecoderOptions): the pull verifies the tar's sha256
 * against the image's diff id, so the decoders may skip the format's own checksum (gzip CRC-32,
 * zstd XXH64) there — and only that: every other check stays.
 */
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { throughChunks } from '../helpers/streams';
import { envForTest } from '../helpers/env';
import { createGunzip, createZstdDecompress, gunzipSync, zstdDecompressSync } from '../../wasm/src/index';
import { createThreadedDecompressor } from '../../wasm/src/thread';
import { decompressor as codecsDecompressor } from '../../core/images/codecs';

const input = fs.readFileSync(path.join(__dirname, '../vectors/deflate/input.bin'));
const data = Buffer.concat([input, Buffer.alloc(300000, 7), input]);

function zstd(args: string[], buf: Buffer): Buffer | undefined {
  try {
    return execFileSync('zstd', ['-q', ...args, '-c'], { input: buf, maxBuffer: 1 << 26 });
  } catch {
    return undefined;
  }
}

t.test('gzip: a wrong CRC-32 passes unchecked, a wrong ISIZE or a cut stream does not', async (t) => {
  const gz = zlib.gzipSync(data);
  const badCrc = Buffer.from(gz);
  badCrc[badCrc.length - 8] ^= 0xff;
  const badSize = Buffer.from(gz);
  badSize[badSize.length - 1] ^= 0x01;
  t.throws(() => gunzipSync(badCrc), { code: 'ERR_WASM_CORRUPT_INPUT' }, 'checked: the CRC-32 mismatch is an error');
  t.ok(gunzipSync(badCrc, { checksum: false }).equals(data), 'unchecked: decoded');
  t.throws(() => gunzipSync(badSize, { checksum: false }), /ISIZE/, 'unchecked: ISIZE still checked');
  t.throws(() => gunzipSync(gz.subarray(0, gz.length - 3), { checksum: false }), { code: 'ERR_WASM_CORRUPT_INPUT' }, 'unchecked: a cut trailer is still an error');
  const two = Buffer.concat([badCrc, zlib.gzipSync(input)]);
  t.ok((await throughChunks(createGunzip({ checksum: false }), two, 777)).equals(Buffer.concat([data, input])), 'streaming, two members');
  t.ok((await throughChunks(createThreadedDecompressor('gzip', { checksum: false }), badCrc)).equals(data), 'on a worker thread');
  await t.rejects(throughChunks(createThreadedDecompressor('gzip'), badCrc), { code: 'ERR_WASM_CORRUPT_INPUT' }, 'on a worker thread, checked');
  t.ok(gunzipSync(gz, { checksum: false }).equals(data), 'a good stream is the same either way');
});

t.test('zstd: a wrong XXH64 passes unchecked, a cut checksum or frame does not', async (t) => {
  const zst = zstd(['-3', '--check'], data);
  if (!zst) {
    t.plan(0, 'zstd CLI missing');
    return;
  }
  const bad = Buffer.from(zst);
  bad[bad.length - 1] ^= 0xff; // the last byte of the 4-byte checksum
  t.throws(() => zstdDecompressSync(bad), /XXH64/, 'checked: the checksum mismatch is an error');
  t.ok(zstdDecompressSync(bad, { checksum: false }).equals(data), 'unchecked: decoded');
  t.throws(() => zstdDecompressSync(zst.subarray(0, zst.length - 2), { checksum: false }), { code: 'ERR_WASM_CORRUPT_INPUT' }, 'unchecked: a cut checksum is still an error');
  t.throws(() => zstdDecompressSync(zst.subarray(0, zst.length - 40), { checksum: false }), { code: 'ERR_WASM_CORRUPT_INPUT' }, 'unchecked: a cut frame is still an error');
  t.ok((await throughChunks(createZstdDecompress({ checksum: false }), bad, 999)).equals(data), 'streaming');
  t.ok((await throughChunks(createThreadedDecompressor('zstd', { checksum: false }), bad)).equals(data), 'on a worker thread');
  await t.rejects(throughChunks(createThreadedDecompressor('zstd'), bad), { code: 'ERR_WASM_CORRUPT_INPUT' }, 'on a worker thread, checked');
});

t.test("codecs.decompressor: `unchecked` (a diff id to compare) skips the format's checksum, otherwise not", async (t) => {
  envForTest(t, 'BERTH_DECODE_THREAD', undefined);
  const gz = zlib.gzipSync(data);
  const badCrc = Buffer.from(gz);
  badCrc[badCrc.length - 8] ^= 0xff;
  const zst = zstd(['-3', '--check'], data);
  const badSum = zst ? Buffer.from(zst) : undefined;
  if (badSum) badSum[badSum.length - 1] ^= 0xff;
  for (const thread of ['0', '1']) {
    process.env.BERTH_DECODE_THREAD = thread;
    const where = thread === '1' ? 'worker' : 'in-thread';
    t.ok((await throughChunks(codecsDecompressor('gzip', badCrc.length, undefined, true), badCrc)).equals(data), `gzip ${where}: unchecked decodes`);
    await t.rejects(throughChunks(codecsDecompressor('gzip', badCrc.length), badCrc), `gzip ${where}: checked fails`);
    if (badSum) {
      t.ok((await throughChunks(codecsDecompressor('zstd', badSum.length, undefined, true), badSum)).equals(data), `zstd ${where}: unchecked decodes`);
      await t.rejects(throughChunks(codecsDecompressor('zstd', badSum.length), badSum), { code: 'ERR_WASM_CORRUPT_INPUT' }, `zstd ${where}: checked fails`);
    }
  }
});
