/**
 * core/images/tar-reader.ts: the layer apply's tar framing gives exactly the entries (headers and
 * data) tar-stream's `extract()` gives, whatever the chunking — on archives made by GNU tar in
 * every format it writes, by tar-stream's packer, and by hand (GNU long names, PAX records, a
 * PAX global header, zero blocks in between, a directory with a size) — and refuses what
 * extract() refuses, as ERR_LAYER_CORRUPT.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { hasCode } from '../../core/errors';
import { TarReader, type TarEntryHandler, type TarHeader } from '../../core/images/tar-reader';
import { buildTar } from '../../core/testsuite/tar';

interface Seen { name: string; type: string | null | undefined; size: number | undefined; mode: number | undefined; uid: number | undefined; gid: number | undefined; mtime: number | undefined; linkname: string | null | undefined; devmajor: number | undefined; devminor: number | undefined; pax: Record<string, string> | null | undefined; sha: string }

const summary = (h: TarHeader, data: Buffer[]): Seen => ({
  name: h.name,
  type: h.type,
  size: h.size,
  mode: h.mode,
  uid: h.uid,
  gid: h.gid,
  mtime: h.mtime?.getTime(),
  linkname: h.linkname,
  devmajor: h.devmajor,
  devminor: h.devminor,
  pax: h.pax ?? null,
  sha: createHash('sha256').update(Buffer.concat(data)).digest('hex'),
});

/** What tar-stream's extract() yields for `tar`. */
async function viaExtract(tar: Buffer): Promise<Seen[]> {
  const tarStream = require('tar-stream') as typeof import('tar-stream');
  const ex = tarStream.extract();
  const out: Seen[] = [];
  const done = (async () => {
    for await (const e of ex as unknown as AsyncIterable<AsyncIterable<Buffer> & { header: TarHeader }>) {
      const data: Buffer[] = [];
      for await (const c of e) data.push(Buffer.from(c));
      out.push(summary(e.header, data));
    }
  })();
  ex.end(tar);
  await done;
  return out;
}

/** A recording handler; `slow` makes start() wait for a timer on every file entry. */
function recorder(slow = false): { handler: TarEntryHandler; seen: Seen[]; log: string[] } {
  const seen: Seen[] = [];
  const log: string[] = [];
  let cur: { h: TarHeader; data: Buffer[]; ready: boolean } | undefined;
  const handler: TarEntryHandler = {
    start(h) {
      if (cur) throw new Error(`start of ${h.name} before the end of ${cur.h.name}`);
      cur = { h, data: [], ready: !slow || h.type !== 'file' };
      log.push(`start ${h.name}`);
      if (cur.ready) return;
      const c = cur;
      return new Promise<void>((r) => setTimeout(() => {
        c.ready = true;
        r();
      }, 1));
    },
    data(chunk) {
      if (!cur?.ready) throw new Error('data before start() resolved');
      cur.data.push(Buffer.from(chunk)); // a view: valid during the call only
    },
    end() {
      if (!cur?.ready) throw new Error('end before start() resolved');
      seen.push(summary(cur.h, cur.data));
      log.push(`end ${cur.h.name}`);
      cur = undefined;
    },
  };
  return { handler, seen, log };
}

/** Feeds `tar` to a reader in chunks of the given sizes (cycled). */
async function viaReader(tar: Buffer, sizes: number[], slow = false): Promise<Seen[]> {
  const r = recorder(slow);
  const reader = new TarReader(r.handler);
  let off = 0;
  for (let i = 0; off < tar.length; i++) {
    const n = sizes[i % sizes.length]!;
    const chunk = Buffer.from(tar.subarray(off, off + n)); // its own memory, as a stream's chunks are
    off += n;
    const wait = reader.write(chunk);
    if (wait) await wait;
    chunk.fill(0xa5); // the reader must not keep views into a chunk it is done with
  }
  reader.end();
  return r.seen;
}

const CHUNKINGS: Array<[string, number[]]> = [
  ['whole', [1 << 30]],
  ['1 byte', [1]],
  ['511', [511]],
  ['512', [512]],
  ['513', [513]],
  ['mixed 7/1000/100000', [7, 1000, 100000]],
  ['256 KiB', [256 << 10]],
];

/** A tree of awkward names and sizes for tar(1) to archive. */
function makeTree(dir: string): void {
  const long = 'a-rather-long-directory-name-that-goes-on/'.repeat(4);
  fs.mkdirSync(path.join(dir, long), { recursive: true });
  fs.writeFileSync(path.join(dir, long, 'and-a-file-with-a-long-name-too.txt'), 'long\n');
  fs.mkdirSync(path.join(dir, 'd', 'e'), { recursive: true });
  for (const n of [0, 1, 511, 512, 513, 70_000]) fs.writeFileSync(path.join(dir, 'd', `f${n}`), Buffer.alloc(n, n % 251));
  fs.writeFileSync(path.join(dir, 'd', 'e', 'ünïcödé-名前'), 'utf-8 name');
  fs.symlinkSync('x'.repeat(150), path.join(dir, 'd', 'long-target'));
  fs.symlinkSync('../d/f1', path.join(dir, 'd', 'e', 'rel'));
  fs.linkSync(path.join(dir, 'd', 'f513'), path.join(dir, 'd', 'hard'));
  fs.chmodSync(path.join(dir, 'd', 'f1'), 0o4755);
  fs.utimesSync(path.join(dir, 'd', 'f0'), 1_700_000_000.25, 1_700_000_000.5);
  spawnSync('mkfifo', [path.join(dir, 'd', 'fifo')]);
}

t.test('the same entries as tar-stream extract(): GNU tar in every format, any chunking, start() waiting or not', async (t) => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-tarreader-'));
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  const tree = path.join(base, 'tree');
  fs.mkdirSync(tree);
  makeTree(tree);
  const formats: Array<[string, string[]]> = [
    ['gnu', ['--format=gnu']],
    ['oldgnu', ['--format=oldgnu']],
    ['ustar', ['--format=ustar']],
    ['pax', ['--format=pax']],
    ['pax with a global header', ['--format=pax', '--pax-option=comment=global-record']],
    ['posix with atime/ctime', ['--format=posix', '--pax-option=exthdr.name=%d/PaxHeaders/%f,atime:=1700000001.5']],
  ];
  for (const [label, args] of formats) {
    const p = spawnSync('tar', ['-C', tree, ...args, '-cf', '-', '.'], { maxBuffer: 64 << 20 });
    // ustar cannot hold the long names: GNU tar skips them with a warning, and the rest is checked
    if (p.status !== 0 && label !== 'ustar') throw new Error(`tar ${label}: ${p.stderr.toString()}`);
    const tar = p.stdout;
    const want = await viaExtract(tar);
    t.ok(want.length >= 12, `${label}: extract() sees ${want.length} entries`);
    for (const [cl, sizes] of CHUNKINGS) {
      t.same(await viaReader(tar, sizes), want, `${label}, chunks of ${cl}`);
    }
    t.same(await viaReader(tar, [4096 + 7], true), want, `${label}, start() waiting on every file`);
  }
});

t.test('hand-made archives: GNU long names, PAX path/linkpath/size, zero blocks between entries', async (t) => {
  const zeros = Buffer.alloc(1024);
  const tar = Buffer.concat([
    buildTar([{ name: 'x/'.repeat(80) + 'gnu-long', data: 'g', gnuLongName: true }]).subarray(0, -1024),
    zeros, // an end-of-archive marker in the middle: skipped, reading goes on
    buildTar([
      { name: 'short', data: 'pax path wins', pax: { path: 'p/'.repeat(70) + 'from-pax' } },
      { name: 'l', type: 'symlink', linkname: 'ignored', pax: { linkpath: 't/'.repeat(70) + 'target' } },
      { name: 'sized-by-pax', data: Buffer.alloc(700, 7), size: 0, pax: { size: '700' } },
    ]).subarray(0, -1024),
    zeros,
    buildTar([{ name: 'last', data: 'end' }]),
    zeros, zeros, // more zeros after the end
  ]);
  const want = await viaExtract(tar);
  t.same(want.map((e) => e.name), ['x/'.repeat(80) + 'gnu-long', 'p/'.repeat(70) + 'from-pax', 'l', 'sized-by-pax', 'last'], 'extract() reads them so');
  for (const [cl, sizes] of CHUNKINGS) t.same(await viaReader(tar, sizes), want, `chunks of ${cl}`);
  t.same(await viaReader(tar, [300], true), want, 'start() waiting');
});

t.test('types without data have none whatever their size says (as Go\'s archive/tar reads them; extract() hangs on such a directory)', async (t) => {
  // After each such header comes a real header, not data: with the size honoured, the next
  // entry would be skipped as data (or the archive would end inside it).
  const tar = buildTar([
    { name: 'dir/', type: 'dir', size: 512 },
    { name: 'dir/f', data: 'one' },
    { name: 'sym', type: 'symlink', linkname: 'dir/f', size: 1024 },
    { name: 'hard', type: 'link', linkname: 'dir/f', size: 512 },
    { name: 'null', type: 'char', devmajor: 1, devminor: 3, size: 512 },
    { name: 'fifo', type: 'fifo', size: 512 },
    { name: 'last', data: 'two' },
  ]);
  for (const [cl, sizes] of CHUNKINGS) {
    const seen = await viaReader(tar, sizes);
    t.same(seen.map((e) => [e.name, e.type, e.sha.slice(0, 8)]), [
      ['dir/', 'directory', 'e3b0c442'],
      ['dir/f', 'file', createHash('sha256').update('one').digest('hex').slice(0, 8)],
      ['sym', 'symlink', 'e3b0c442'],
      ['hard', 'link', 'e3b0c442'],
      ['null', 'character-device', 'e3b0c442'],
      ['fifo', 'fifo', 'e3b0c442'],
      ['last', 'file', createHash('sha256').update('two').digest('hex').slice(0, 8)],
    ], `chunks of ${cl}`);
  }
});

t.test('tar-stream pack output (PAX long names, empty files, devices) reads the same', async (t) => {
  const tarStream = require('tar-stream') as typeof import('tar-stream');
  const pack = tarStream.pack();
  const parts: Buffer[] = [];
  pack.on('data', (c: unknown) => parts.push(c as Buffer));
  const ended = new Promise<void>((r) => pack.on('end', () => r()));
  pack.entry({ name: 'n/'.repeat(60) + 'long.txt', mtime: new Date(1_600_000_000_000) }, 'pax name');
  pack.entry({ name: 'empty' }, '');
  pack.entry({ name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 });
  pack.entry({ name: 'big', size: 100_000 }, Buffer.alloc(100_000, 3));
  pack.finalize();
  await ended;
  const tar = Buffer.concat(parts);
  const want = await viaExtract(tar);
  t.equal(want.length, 4);
  for (const [cl, sizes] of CHUNKINGS) t.same(await viaReader(tar, sizes), want, `chunks of ${cl}`);
});

t.test('refuses what extract() refuses, as ERR_LAYER_CORRUPT', async (t) => {
  const good = buildTar([{ name: 'a', data: Buffer.alloc(1000, 1) }, { name: 'b', data: 'b' }]);
  const cases: Array<[string, Buffer]> = [
    ['ends inside a header', good.subarray(0, 300)],
    ['ends inside data', good.subarray(0, 512 + 700)],
    ['ends inside the padding', good.subarray(0, 512 + 1000)],
    ['a bad header checksum', buildTar([{ name: 'a', data: 'x', badChecksum: true }])],
    ['not a tar at all', Buffer.concat([Buffer.from('\x1f\x8b\x08 this is gzip, not tar'), Buffer.alloc(600, 0x41)])],
  ];
  for (const [label, tar] of cases) {
    let extractErr: unknown;
    await viaExtract(tar).catch((e: unknown) => (extractErr = e));
    t.ok(extractErr, `${label}: extract() refuses it`);
    for (const [cl, sizes] of [CHUNKINGS[0]!, CHUNKINGS[1]!]) {
      const err = await viaReader(tar, sizes).then(() => undefined, (e: unknown) => e);
      t.ok(hasCode(err, 'ERR_LAYER_CORRUPT'), `${label}, chunks of ${cl}: ${(err as Error | undefined)?.message}`);
    }
  }
  // a PAX record larger than tar-stream's 4 MiB limit
  const huge = buildTar([{ name: 'a', data: 'x', pax: { comment: 'c'.repeat(5 << 20) } }]);
  const err = await viaReader(huge, [1 << 20]).then(() => undefined, (e: unknown) => e);
  t.ok(hasCode(err, 'ERR_LAYER_CORRUPT'), `a 5 MiB PAX record: ${(err as Error | undefined)?.message}`);
});

t.test('a start() that rejects fails the write with its error; nothing after it is read', async (t) => {
  const tar = buildTar([{ name: 'a', data: 'a' }, { name: 'b', data: 'b' }, { name: 'c', data: 'c' }]);
  const seen: string[] = [];
  const reader = new TarReader({
    start(h) {
      seen.push(h.name);
      if (h.name === 'b') return Promise.reject(new Error('no b'));
    },
    data() {},
    end() {},
  });
  await t.rejects(Promise.resolve(reader.write(tar)), /no b/);
  t.same(seen, ['a', 'b'], 'c was never started');
});
