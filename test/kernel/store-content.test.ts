/**
 * Content store: verified commits, invisible partials, resume after a killed writer, tamper
 * detection by check(), digest validation.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import {
  ContentStore,
  ERR_CONTENT_DIGEST_MISMATCH,
  ERR_CONTENT_INGEST_CLOSED,
  ERR_CONTENT_INVALID_DIGEST,
  ERR_CONTENT_INVALID_REF,
  ERR_CONTENT_INVALID_SIZE,
  ERR_CONTENT_NOT_FOUND,
  ERR_CONTENT_SIZE_MISMATCH,
  ERR_STORE_LOCK_TIMEOUT,
  type Hasher,
} from '../../core/store';
import { buildChildren } from './fixtures/store-build';
import { contentPayload } from './fixtures/store-ingest-child';

const sha = (b: Uint8Array) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-store-content-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const freshStore = (opts?: { hasher?: () => Hasher }) => new ContentStore(path.join(tmp, `cs${n++}`), opts);

/** Nothing visible: no blob, no listing, not readable. */
async function assertInvisible(t: tap.Test, cs: ContentStore, digest: string, what: string): Promise<void> {
  t.equal(await cs.has(digest), false, `${what}: has() false`);
  await t.rejects(cs.info(digest), { code: ERR_CONTENT_NOT_FOUND.code, cls: 'notFound' }, `${what}: info() notFound`);
  await t.rejects(cs.readBuffer(digest), { code: ERR_CONTENT_NOT_FOUND.code }, `${what}: readBuffer() notFound`);
  t.throws(() => cs.createReadStream(digest), { code: ERR_CONTENT_NOT_FOUND.code }, `${what}: createReadStream() notFound`);
  t.same(await cs.list(), [], `${what}: list() empty`);
  t.notOk(fs.existsSync(cs.path(digest)), `${what}: no blob file`);
}

t.test('put, read back, delete', async (t) => {
  const cs = freshStore();
  const data = Buffer.from('hello berth');
  const info = await cs.put(data);
  t.same(info, { digest: sha(data), size: data.length });
  t.equal(await cs.has(info.digest), true);
  t.same(await cs.info(info.digest), info);
  t.same(await cs.readBuffer(info.digest), data);
  const chunks: Buffer[] = [];
  for await (const c of cs.createReadStream(info.digest) as AsyncIterable<Buffer>) chunks.push(c);
  t.same(Buffer.concat(chunks), data, 'stream');
  t.equal(cs.path(info.digest), path.join(cs.dir, 'blobs', 'sha256', info.digest.slice(7)));
  t.same(await cs.put(data, { digest: info.digest, size: data.length }), info, 'idempotent put with expectations');
  t.same(await cs.list(), [info]);
  const again = await cs.ingest('same-bytes');
  await again.write(data);
  t.same(await again.commit(), info, 'committing an existing digest again reports the blob');
  t.same(await cs.readBuffer(info.digest), data);
  t.same(await cs.listIngests(), [], 'put leaves no ingest behind');
  t.same(await cs.check(), []);
  await t.rejects(cs.put(Buffer.from('other'), { digest: info.digest }), { code: ERR_CONTENT_DIGEST_MISMATCH.code }, 'existing digest, wrong bytes: still rejected');
  t.equal(await cs.delete(info.digest), true);
  t.equal(await cs.delete(info.digest), false);
  await assertInvisible(t, cs, info.digest, 'after delete');
  const empty = await cs.put(Buffer.alloc(0));
  t.same(empty, { digest: sha(Buffer.alloc(0)), size: 0 }, 'empty blob');
});

t.test('digest and size mismatches are rejected and leave nothing visible', async (t) => {
  const cs = freshStore();
  const data = contentPayload(200_000);
  const good = sha(data);
  const wrong = sha(Buffer.from('not it'));
  await t.rejects(cs.put(data, { digest: wrong }), { code: ERR_CONTENT_DIGEST_MISMATCH.code, cls: 'invalidArgument' });
  await assertInvisible(t, cs, good, 'put with wrong digest');
  await assertInvisible(t, cs, wrong, 'put with wrong digest (claimed)');
  t.same(await cs.listIngests(), [], 'partial deleted');

  const w = await cs.ingest('layer-1', { expected: { digest: wrong, size: data.length } });
  await w.write(data);
  await t.rejects(w.commit(), { code: ERR_CONTENT_DIGEST_MISMATCH.code });
  await assertInvisible(t, cs, good, 'ingest with wrong digest');
  t.same(await cs.listIngests(), [], 'mismatching ingest removed');
  await t.rejects(w.write(data), { code: ERR_CONTENT_INGEST_CLOSED.code, cls: 'failedPrecondition' }, 'closed after failure');

  const w2 = await cs.ingest('layer-1');
  await w2.write(data);
  await t.rejects(w2.commit({ size: data.length + 1 }), { code: ERR_CONTENT_SIZE_MISMATCH.code, cls: 'invalidArgument' }, 'size checked at commit');
  await assertInvisible(t, cs, good, 'ingest with wrong size');

  const w3 = await cs.ingest('layer-1', { expected: { size: 10 } });
  await t.rejects(w3.write(data), { code: ERR_CONTENT_SIZE_MISMATCH.code }, 'writing past the expected size fails at once');
  t.same(await cs.listIngests(), []);
  await assertInvisible(t, cs, good, 'overlong write');

  const w4 = await cs.ingest('layer-1', { expected: { digest: good, size: data.length } });
  await w4.write(data.subarray(0, 1000));
  await w4.write(data.subarray(1000));
  t.same(await w4.commit(), { digest: good, size: data.length }, 'the right bytes commit');
  t.same(await cs.readBuffer(good), data);
  await t.rejects(w4.commit(), { code: ERR_CONTENT_INGEST_CLOSED.code });
  t.same(await cs.check(), []);
});

t.test('a partial ingest is never visible', async (t) => {
  const cs = freshStore();
  const data = contentPayload(300_000);
  const digest = sha(data);
  const w = await cs.ingest('ref-a', { expected: { digest } });
  t.equal(w.offset, 0);
  await w.write(data.subarray(0, 100_000));
  await assertInvisible(t, cs, digest, 'mid-ingest');
  const ing = await cs.listIngests();
  t.match(ing, [{ ref: 'ref-a', offset: 100_000 }], 'listed as an ingest');
  t.ok(Math.abs(ing[0]!.updatedAt - Date.now()) < 10_000, 'updatedAt is recent');
  await t.rejects(cs.ingest('ref-a', { timeoutMs: 0 }), { code: ERR_STORE_LOCK_TIMEOUT.code }, 'one writer per ref');
  t.equal(await cs.cleanupIngests(), 0, 'cleanup skips an ingest held by a live writer');
  t.equal(cs.hasIngest('ref-a'), true, 'hasIngest: an open ingest has its dir');
  t.equal(cs.hasIngest('ref-b'), false, 'hasIngest: a ref never ingested has none');
  const other = await cs.ingest('ref-b');
  t.pass('another ref is not blocked');
  await other.abort();
  t.equal(cs.hasIngest('ref-b'), false, 'hasIngest: an aborted ingest leaves no dir');
  await w.abort();
  await assertInvisible(t, cs, digest, 'after abort');
  t.same(await cs.listIngests(), []);
  await w.abort();
  t.pass('abort twice is harmless');
});

t.test('resume after a killed writer continues from the offset', async (t) => {
  const cs = freshStore();
  const size = 3 * 1024 * 1024 + 12345;
  const data = contentPayload(size);
  const digest = sha(data);
  const build = buildChildren(path.join(tmp, 'build'), ['test/kernel/fixtures/store-ingest-child.ts']);
  const stopAt = 1024 * 1024 + 4096;
  const child: ChildProcess = spawn(process.execPath, [build.script('store-ingest-child'), cs.dir, 'docker.io/library/x@' + digest, String(size), digest, String(stopAt)], {
    env: build.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')));
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const at = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /at (\d+)\n/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`child exited ${code}: ${err}`)));
  });
  t.equal(at, stopAt, 'child wrote the first part');
  await t.rejects(cs.ingest('docker.io/library/x@' + digest, { resume: true, timeoutMs: 0 }), { code: ERR_STORE_LOCK_TIMEOUT.code }, 'locked while the writer lives');
  await assertInvisible(t, cs, digest, 'while the writer lives');
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  await assertInvisible(t, cs, digest, 'after the writer was killed');
  t.match(await cs.listIngests(), [{ ref: 'docker.io/library/x@' + digest, offset: stopAt }], 'partial survives the kill');

  const w = await cs.ingest('docker.io/library/x@' + digest, { resume: true });
  t.equal(w.offset, stopAt, 'resumes at the partial offset (re-hashed)');
  for (let off = w.offset; off < size; off += 100_000) await w.write(data.subarray(off, Math.min(size, off + 100_000)));
  t.same(await w.commit(), { digest, size }, 'expected digest/size were kept in meta; right digest');
  t.same(await cs.readBuffer(digest), data);
  t.same(await cs.listIngests(), []);
  t.same(await cs.check(), []);

  // Without resume, a partial is discarded.
  const w2 = await cs.ingest('again');
  await w2.write(Buffer.from('abc'));
  const w2b = await (async () => {
    // simulate the writer vanishing: drop the handle without commit, then open again
    await (w2 as unknown as { lock: { release(): Promise<void> } }).lock.release();
    return cs.ingest('again');
  })();
  t.equal(w2b.offset, 0, 'no resume: starts from zero');
  await w2b.write(Buffer.from('xyz'));
  t.same(await w2b.commit(), { digest: sha(Buffer.from('xyz')), size: 3 });
});

t.test('cleanupIngests removes abandoned partials', async (t) => {
  const cs = freshStore();
  const w = await cs.ingest('old');
  await w.write(Buffer.from('partial'));
  await (w as unknown as { lock: { release(): Promise<void> } }).lock.release(); // as if the writer died
  t.equal(await cs.cleanupIngests(60_000), 0, 'too recent to clean');
  t.equal(await cs.listIngests().then((l) => l.length), 1);
  fs.mkdirSync(path.join(cs.dir, 'ingest', 'f'.repeat(64)));
  t.match(await cs.check(), [{ kind: 'stray-ingest' }], 'an ingest dir without meta is reported');
  t.equal(await cs.cleanupIngests(), 2, 'default removes every unheld partial');
  t.same(await cs.listIngests(), []);
  t.same(await cs.check(), []);
});

t.test('check() detects a tampered blob and stray files', async (t) => {
  const cs = freshStore();
  const a = await cs.put(Buffer.from('aaaa'));
  const b = await cs.put(contentPayload(2 * 1024 * 1024));
  t.same(await cs.check(), []);
  const p = cs.path(b.digest);
  fs.chmodSync(p, 0o644);
  const fd = fs.openSync(p, 'r+');
  fs.writeSync(fd, Buffer.from([0xff ^ fs.readFileSync(p)[1_500_000]!]), 0, 1, 1_500_000);
  fs.closeSync(fd);
  fs.writeFileSync(path.join(cs.dir, 'blobs', 'sha256', 'garbage'), 'x');
  const issues = (await cs.check()).sort((x, y) => (x.kind > y.kind ? -1 : 1));
  t.match(issues, [
    { kind: 'stray-file', path: path.join(cs.dir, 'blobs', 'sha256', 'garbage') },
    { kind: 'blob-digest-mismatch', path: p },
  ]);
  t.equal(issues.length, 2, 'the intact blob is not reported');
  t.ok(await cs.has(a.digest));
  t.same((await cs.list()).map((x) => x.digest).sort(), [a.digest, b.digest].sort(), 'list shows only well-named blobs');
});

t.test('a pluggable hasher is used for ingests and check', async (t) => {
  let updates = 0;
  const cs = freshStore({
    hasher: () => {
      const h = createHash('sha256');
      return { update: (b: Uint8Array) => (updates++, h.update(b)), digest: () => h.digest() };
    },
  });
  const info = await cs.put(Buffer.from('plug'));
  t.equal(info.digest, sha(Buffer.from('plug')));
  t.same(await cs.check(), []);
  t.ok(updates >= 2, 'custom hasher was called');
});

t.test('invalid digests, refs and sizes', async (t) => {
  const cs = freshStore();
  const good = sha(Buffer.from('x'));
  const bad = [
    '',
    'sha256:',
    good.slice(7),
    good.toUpperCase(),
    'sha256:' + good.slice(7).toUpperCase(),
    'sha512:' + 'a'.repeat(128),
    'sha256:' + 'a'.repeat(63),
    'sha256:' + 'a'.repeat(65),
    'sha256:' + 'g'.repeat(64),
    'sha256:../../../../etc/passwd',
    ' ' + good,
    good + '\n',
  ];
  for (const d of bad) {
    const what = JSON.stringify(d);
    await t.rejects(cs.has(d), { code: ERR_CONTENT_INVALID_DIGEST.code, cls: 'invalidArgument' }, `has ${what}`);
    await t.rejects(cs.info(d), { code: ERR_CONTENT_INVALID_DIGEST.code }, `info ${what}`);
    t.throws(() => cs.path(d), { code: ERR_CONTENT_INVALID_DIGEST.code }, `path ${what}`);
    t.throws(() => cs.createReadStream(d), { code: ERR_CONTENT_INVALID_DIGEST.code }, `stream ${what}`);
    await t.rejects(cs.delete(d), { code: ERR_CONTENT_INVALID_DIGEST.code }, `delete ${what}`);
    await t.rejects(cs.put(Buffer.from('x'), { digest: d }), { code: ERR_CONTENT_INVALID_DIGEST.code }, `put ${what}`);
    await t.rejects(cs.ingest('r', { expected: { digest: d } }), { code: ERR_CONTENT_INVALID_DIGEST.code }, `ingest ${what}`);
  }
  await t.rejects(cs.has(42 as unknown as string), { code: ERR_CONTENT_INVALID_DIGEST.code });
  await t.rejects(cs.ingest(''), { code: ERR_CONTENT_INVALID_REF.code });
  await t.rejects(cs.ingest('r'.repeat(1025)), { code: ERR_CONTENT_INVALID_REF.code });
  for (const s of [-1, 1.5, NaN, Number.MAX_SAFE_INTEGER + 2]) {
    await t.rejects(cs.put(Buffer.from('x'), { size: s }), { code: ERR_CONTENT_INVALID_SIZE.code }, `size ${s}`);
  }
  const w = await cs.ingest('r');
  await t.rejects(w.commit({ digest: 'nope' }), { code: ERR_CONTENT_INVALID_DIGEST.code }, 'bad digest at commit');
  t.same(await cs.listIngests(), [], 'and the partial is gone');
  t.same(await cs.list(), []);
});
