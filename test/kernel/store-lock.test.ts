/**
 * Locks and atomic writes: exclusion inside and across processes, release on SIGKILL of the
 * holder, independence of different names (two state roots), timeouts, and the temp-file protocol
 * of writeFileAtomic.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { hasCode } from '../../core/errors';
import {
  acquireLock,
  ERR_STORE_LOCK_INVALID_NAME,
  ERR_STORE_LOCK_TIMEOUT,
  fsyncDir,
  isTempFileName,
  lockAddress,
  tempFileOwnerPid,
  tempPathFor,
  withLock,
  writeFileAtomic,
  writeFileAtomicSync,
} from '../../core/store';
import { buildChildren } from './fixtures/store-build';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-store-lock-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const build = buildChildren(path.join(tmp, 'build'), ['test/kernel/fixtures/store-lock-child.ts']);
const children: ChildProcess[] = [];
t.teardown(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Starts a child holding `name`; resolves once it printed `locked`. */
function holder(name: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [build.script('store-lock-child'), name], { env: build.env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(c);
    let out = '';
    let err = '';
    c.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('locked\n')) resolve(c);
    });
    c.stderr!.on('data', (d) => (err += d));
    c.on('error', reject);
    c.on('exit', (code) => reject(new Error(`lock child exited ${code}: ${err}`)));
  });
}

const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

t.test('a lock held by a SIGKILLed process is released by the kernel', async (t) => {
  const name = path.join(tmp, 'rootA', 'containers', 'x.rec');
  const c = await holder(name);
  await t.rejects(acquireLock(name, { timeoutMs: 0 }), { code: ERR_STORE_LOCK_TIMEOUT.code }, 'held by the child');
  const t0 = Date.now();
  await t.rejects(acquireLock(name, { timeoutMs: 150 }), { code: ERR_STORE_LOCK_TIMEOUT.code, cls: 'unavailable' }, 'waits, then times out');
  t.ok(Date.now() - t0 >= 140, 'waited about timeoutMs');
  c.kill('SIGKILL');
  await exited(c);
  const h = await acquireLock(name, { timeoutMs: 2000 });
  t.pass('acquired after the holder was killed');
  await h.release();
  await h.release();
  t.pass('release is idempotent');
});

t.test('a waiter gets the lock as soon as a killed holder dies', async (t) => {
  const name = path.join(tmp, 'rootA', 'wait');
  const c = await holder(name);
  const waiting = acquireLock(name, { timeoutMs: 5000 });
  setTimeout(() => c.kill('SIGKILL'), 100);
  const h = await waiting;
  t.pass('waiter acquired');
  await h.release();
});

t.test('two roots (different paths) never contend', async (t) => {
  const a = path.join(tmp, 'rootA', 'meta', 'b', 'k.rec');
  const b = path.join(tmp, 'rootB', 'meta', 'b', 'k.rec');
  t.not(lockAddress(a), lockAddress(b));
  t.equal(lockAddress(a), lockAddress(a + '/./'), 'names are normalised');
  const c = await holder(a);
  const h = await acquireLock(b, { timeoutMs: 0 });
  t.pass('other root acquired at once while the first is held elsewhere');
  await h.release();
  c.kill('SIGKILL');
  await exited(c);
});

t.test('in-process exclusion and release on throw', async (t) => {
  const name = path.join(tmp, 'inproc');
  const order: string[] = [];
  let inside = 0;
  let maxInside = 0;
  await Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      withLock(name, async () => {
        inside++;
        maxInside = Math.max(maxInside, inside);
        order.push(`in${i}`);
        await new Promise((r) => setTimeout(r, 5));
        inside--;
      }),
    ),
  );
  t.equal(maxInside, 1, 'never two holders at once');
  t.equal(order.length, 6);
  await t.rejects(withLock(name, async () => Promise.reject(new Error('boom'))), /boom/);
  const h = await acquireLock(name, { timeoutMs: 0 });
  t.pass('released after fn threw');
  await h.release();
});

t.test('invalid lock names', async (t) => {
  for (const bad of ['', 'relative/path', 'x']) {
    await t.rejects(acquireLock(bad), { code: ERR_STORE_LOCK_INVALID_NAME.code, cls: 'invalidArgument' }, JSON.stringify(bad));
  }
});

t.test('writeFileAtomic', async (t) => {
  const dir = path.join(tmp, 'atomic');
  fs.mkdirSync(dir);
  const f = path.join(dir, 'file.json');
  await writeFileAtomic(f, 'one');
  t.equal(fs.readFileSync(f, 'utf8'), 'one');
  await writeFileAtomic(f, Buffer.alloc(3 << 20, 7), 0o600);
  t.equal(fs.statSync(f).size, 3 << 20, 'large write');
  t.equal(fs.statSync(f).mode & 0o777, 0o600, 'mode applied');
  writeFileAtomicSync(f, 'two');
  t.equal(fs.readFileSync(f, 'utf8'), 'two');
  await Promise.all(Array.from({ length: 10 }, (_, i) => writeFileAtomic(f, `v${i}`.repeat(1000))));
  t.match(fs.readFileSync(f, 'utf8'), /^(v\d)\1{999}$/, 'concurrent writers: last whole file wins');
  t.same(fs.readdirSync(dir), ['file.json'], 'no temp files left behind');
  await t.rejects(writeFileAtomic(path.join(dir, 'missing', 'f'), 'x'), { code: 'ENOENT' });
  t.throws(() => writeFileAtomicSync(path.join(dir, 'missing', 'f'), 'x'), { code: 'ENOENT' });
  t.same(fs.readdirSync(dir), ['file.json']);
  await fsyncDir(dir);

  const tp = path.basename(tempPathFor(f));
  t.ok(isTempFileName(tp), `${tp} is a temp name`);
  t.equal(tempFileOwnerPid(tp), process.pid);
  t.notOk(isTempFileName('file.json'));
  t.notOk(isTempFileName('abc.rec'));
  t.ok(hasCode(ERR_STORE_LOCK_TIMEOUT(1, 'x'), ERR_STORE_LOCK_TIMEOUT.code));
});
