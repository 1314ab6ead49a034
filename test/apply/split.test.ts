/**
 * A detached apply split over two threads (apply.ts FileOffload + serveFileWriter): regular files
 * go to the writer in batches while the applier goes on. The result must be exactly what a
 * single-threaded detached apply gives, the writer must really have written files (else these
 * tests prove nothing), its errors must fail the apply, and nothing may be removed or replaced
 * under a write still pending at the writer (the victim stays untouched). Needs root (owners).
 *
 * The writer runs on a real worker thread (as the pool's second worker does in a pull), so its
 * answers arrive while the applier is busy, and in-process for the error cases.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Readable } from 'node:stream';
import { MessageChannel, Worker } from 'node:worker_threads';
import t from 'tap';
import { applyLayer, serveFileWriter, OFFLOAD_MAX_FILE } from '../../core/images/apply';
import { hasCode } from '../../core/errors';
import { buildTar, type TarEntry } from '../../core/testsuite/tar';
import { arena, baseNames, hashTree } from './fixtures/arena';

/** A writer on a worker thread: resolves with the number of files it wrote once the port closes. */
function threadWriter(target: string): { port: import('node:worker_threads').MessagePort; done: Promise<number> } {
  const ch = new MessageChannel();
  // Loaded as workerEntry loads the apply worker under tap's TypeScript loader.
  const w = new Worker(pathToFileURL(path.join(__dirname, 'fixtures', 'writer-worker.ts')), { workerData: { port: ch.port2, dir: target }, transferList: [ch.port2] });
  const done = new Promise<number>((resolve, reject) => {
    w.once('message', (n: number) => resolve(n));
    w.once('error', reject);
  }).finally(() => void w.terminate());
  return { port: ch.port1, done };
}

async function applySplit(entries: TarEntry[] | Buffer, target: string, thread = true): Promise<{ err?: unknown; written: number }> {
  const bytes = Buffer.isBuffer(entries) ? entries : buildTar(entries);
  let port: import('node:worker_threads').MessagePort;
  let done: Promise<number>;
  if (thread) {
    ({ port, done } = threadWriter(target));
  } else {
    const ch = new MessageChannel();
    port = ch.port1;
    done = serveFileWriter(ch.port2, target);
  }
  let err: unknown;
  try {
    // Small chunks: the applier yields between them and the writer's answers interleave.
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 16 << 10) chunks.push(bytes.subarray(i, i + (16 << 10)));
    await applyLayer(Readable.from(chunks), target, { whiteoutMode: 'overlay', detached: true, writer: port });
  } catch (e) {
    err = e;
  } finally {
    port.close();
  }
  return { err, written: await done };
}

/** A layer with everything a split apply must get right. */
function richLayer(): TarEntry[] {
  // Every directory has an entry (times of implicit ones would differ between two applies).
  const e: TarEntry[] = ['./', 'usr/', 'usr/share/', 'bin/', 'home/', 'home/u/', 'big/'].map((name) => ({ name, type: 'dir', mode: 0o755, mtime: 99 }));
  for (let d = 0; d < 12; d++) {
    e.push({ name: `usr/share/d${d}/`, type: 'dir', mode: 0o755, mtime: 1000 + d });
    for (let f = 0; f < 40; f++) e.push({ name: `usr/share/d${d}/f${f}`, data: `${d}/${f}`.repeat(f * 37 + 1), mode: f % 5 === 0 ? 0o600 : 0o644, mtime: 2000 + f });
  }
  e.push(
    { name: 'bin/su', data: 'setuid', mode: 0o4755, mtime: 5 },
    { name: 'home/u/owned', data: 'mine', uid: 1000, gid: 1000, mode: 0o640, mtime: 6 },
    { name: 'big/blob', data: Buffer.alloc(OFFLOAD_MAX_FILE + 4096, 7), mtime: 7 },
    { name: 'usr/share/d0/f1', data: 'replaced later in the same layer', mtime: 8 },
    { name: 'usr/share/d1/link', type: 'link', linkname: 'usr/share/d1/f3' },
    { name: 'usr/share/d2/sym', type: 'symlink', linkname: 'f4' },
    { name: 'usr/share/d3/.wh.f5' },
    { name: 'usr/share/d4/f6/', type: 'dir', mode: 0o700, mtime: 9 },
    { name: 'usr/share/d4/f6/inside', data: 'a directory over a file' },
    { name: 'usr/share/d5/f7', type: 'symlink', linkname: '../d6' },
    { name: 'usr/share/d8/', type: 'dir', mode: 0o750, mtime: 10 },
  );
  return e;
}

t.test('a split apply gives exactly the tree of a single-threaded detached apply', async (t) => {
  const a = arena(t);
  const plain = path.join(a.base, 'plain');
  fs.mkdirSync(plain);
  const entries = richLayer();
  const r1 = await applyLayer(Readable.from([buildTar(entries)]), plain, { whiteoutMode: 'overlay', detached: true });
  const { err, written } = await applySplit(entries, a.target);
  t.equal(err, undefined, `applied (${(err as Error)?.message ?? 'ok'})`);
  // How many depends on the two threads' speeds (a busy writer gets fewer); the first batches
  // always go to it.
  t.ok(written > 0, `the writer thread created files (${written})`);
  // A whiteout device gets no time from the tar (it is made when the helper runs).
  for (const d of [a.target, plain]) fs.lutimesSync(path.join(d, 'usr/share/d3/f5'), 1, 1);
  t.equal(hashTree(a.target), hashTree(plain), 'same names, types, modes, owners, times, sizes, contents, links');
  t.equal(r1.entries, entries.length);
  const su = fs.statSync(path.join(a.target, 'bin/su'));
  t.equal(su.mode & 0o7777, 0o4755, 'setuid kept');
  const owned = fs.statSync(path.join(a.target, 'home/u/owned'));
  t.same([owned.uid, owned.gid, owned.mode & 0o777], [1000, 1000, 0o640], 'owner and mode from the tar');
  t.equal(fs.readFileSync(path.join(a.target, 'usr/share/d0/f1'), 'utf8'), 'replaced later in the same layer', 'the later entry wins');
  t.equal(fs.statSync(path.join(a.target, 'usr/share/d1/link')).ino, fs.statSync(path.join(a.target, 'usr/share/d1/f3')).ino, 'hardlink to an offloaded file');
  t.ok(fs.lstatSync(path.join(a.target, 'usr/share/d3/f5')).isCharacterDevice(), 'whiteout over an offloaded file');
  t.ok(fs.lstatSync(path.join(a.target, 'usr/share/d4/f6')).isDirectory(), 'directory over an offloaded file');
});

t.test('nothing is removed or replaced under a pending write: a directory swapped for a symlink to the victim', async (t) => {
  for (const thread of [true, false]) {
    const a = arena(t);
    const before = hashTree(a.victim);
    const entries: TarEntry[] = [{ name: 'x/', type: 'dir' }];
    for (let i = 0; i < 200; i++) entries.push({ name: `x/f${i}`, data: 'y'.repeat(500) });
    entries.push({ name: 'x', type: 'symlink', linkname: '../victim' });
    for (let i = 0; i < 200; i++) entries.push({ name: `x/g${i}`, data: 'pwn' });
    const { err, written } = await applySplit(entries, a.target, thread);
    t.ok(hasCode(err, 'ERR_LAYER_UNSAFE_PATH'), `rejected (${thread ? 'thread' : 'in-process'}): ${(err as Error)?.message}`);
    t.ok(written > 0, `files went to the writer first (${written})`);
    t.equal(hashTree(a.victim), before, 'victim untouched');
    t.same(baseNames(a.base), ['target', 'victim'], 'nothing created next to target');
    t.ok(fs.lstatSync(path.join(a.target, 'x')).isSymbolicLink(), 'the link replaced the directory after the writes below it');
  }
});

t.test('a symlink replacing a directory with pending files, then a file replacing the symlink: resolved inside', async (t) => {
  const a = arena(t);
  const before = hashTree(a.victim);
  const entries: TarEntry[] = [];
  for (let i = 0; i < 100; i++) entries.push({ name: `d/f${i}`, data: 'z'.repeat(100) });
  entries.push({ name: 'd', type: 'symlink', linkname: '../victim' }, { name: 'd', data: 'plain file now' });
  const { err } = await applySplit(entries, a.target);
  t.equal(err, undefined);
  t.equal(fs.readFileSync(path.join(a.target, 'd'), 'utf8'), 'plain file now');
  t.equal(hashTree(a.victim), before, 'victim untouched');
});

t.test("the writer's errors fail the apply (ERR_LAYER_APPLY_FAILED), and it stops writing", async (t) => {
  const a = arena(t);
  // Something the applier did not create is in the way: the writer's O_EXCL open fails.
  fs.mkdirSync(path.join(a.target, 'd'));
  fs.writeFileSync(path.join(a.target, 'd', 'f3'), 'in the way');
  const entries: TarEntry[] = [];
  for (let i = 0; i < 200; i++) entries.push({ name: `d/f${i}`, data: 'q'.repeat(300) });
  const { err, written } = await applySplit(entries, a.target, false);
  t.ok(hasCode(err, 'ERR_LAYER_APPLY_FAILED'), `rejected: ${(err as Error)?.message}`);
  t.match((err as Error).message, /d\/f3/, 'names the file');
  t.equal(written, 3, 'nothing after the failing file was written by the writer');
  t.equal(fs.readFileSync(path.join(a.target, 'd', 'f3'), 'utf8'), 'in the way', 'the existing file was not touched');
});

t.test('the writer refuses paths that are not clean and relative, and malformed batches (defence in depth)', async (t) => {
  const a = arena(t);
  const before = hashTree(a.victim);
  /** One writer, one batch of one 1-byte file at `rel` (the format FileOffload sends), or `raw`. */
  const serveOne = async (rel: string, raw?: unknown): Promise<{ written: number; answer: { t: string; message?: string } }> => {
    const ch = new MessageChannel();
    const done = serveFileWriter(ch.port2, a.target);
    const answered = new Promise<{ t: string; message?: string }>((r) => ch.port1.once('message', r));
    // mode, atime, mtime, len, uid, gid, flags
    const meta = new Float64Array([0o644, 0, 0, 1, 0, 0, 0]);
    const buf = new ArrayBuffer(1);
    ch.port1.postMessage(raw ?? { t: 'files', rels: rel, meta, buf }, raw ? [] : [buf, meta.buffer]);
    const answer = await answered;
    ch.port1.close();
    return { written: await done, answer };
  };
  for (const rel of ['../victim/pwn', '/etc/pwn', 'a/./b', 'a//b', 'a/..', '.', '', 'a\0b']) {
    const r = await serveOne(rel);
    t.equal(r.answer.t, 'error', `${JSON.stringify(rel)}: refused (${r.answer.message})`);
    t.equal(r.written, 0, `${JSON.stringify(rel)}: nothing written`);
  }
  for (const raw of [{ t: 'files', files: [{ rel: 'x', len: 1 }], buf: new ArrayBuffer(1) }, { t: 'files', rels: 'x', meta: [0o644, 0, 0, 1, 0, 0, 0], buf: new ArrayBuffer(1) }, { t: 'files', rels: 'x\0y', meta: new Float64Array(7), buf: new ArrayBuffer(1) }]) {
    const r = await serveOne('', raw);
    t.equal(r.answer.t, 'error', `malformed batch refused: ${r.answer.message}`);
    t.equal(r.written, 0, 'nothing written');
  }
  t.equal(hashTree(a.victim), before, 'victim untouched');
  t.same(fs.readdirSync(a.target), [], 'target empty');
  // The same channel and format do write a clean path (so the refusals above are the paths').
  const ok = await serveOne('fine');
  t.equal(ok.answer.t, 'ack', 'a clean path is written');
  t.equal(ok.written, 1);
  t.same(fs.readdirSync(a.target), ['fine']);
});
