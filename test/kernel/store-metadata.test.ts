/**
 * Metadata store unit tests: round trips, key validation, the record format (CRC, length, magic),
 * corrupt files detected and never returned, temp files ignored by list and cleared by repair,
 * update semantics.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import {
  crc32,
  decodeRecord,
  encodeRecord,
  ERR_STORE_CORRUPT_RECORD,
  ERR_STORE_INVALID_KEY,
  MetadataStore,
  RECORD_HEADER_SIZE,
} from '../../core/store';

function fresh(t: tap.Test): { dir: string; store: MetadataStore } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-store-meta-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { dir, store: new MetadataStore(dir) };
}

t.test('crc32 matches the IEEE check value', async (t) => {
  t.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  t.equal(crc32(Buffer.alloc(0)), 0);
});

t.test('round trips and listing', async (t) => {
  const { dir, store } = fresh(t);
  t.equal(await store.get('containers', 'abc'), undefined, 'absent record');
  t.same(await store.list('containers'), [], 'absent bucket lists empty');
  const value = { id: 'abc', created: new Date(1700000000000), labels: { a: 'b' }, big: 2n ** 70n, bytes: Buffer.from([1, 2, 3]), n: null, arr: [1, 'x', true] };
  await store.put('containers', 'abc', value);
  t.same(await store.get('containers', 'abc'), value);
  t.ok(fs.existsSync(path.join(dir, 'containers', 'abc.rec')), 'one file per record at <bucket>/<key>.rec');
  await store.put('containers', 'a:b@c-1.2_3', 1);
  t.same(await store.keys('containers'), ['a:b@c-1.2_3', 'abc'], 'keys sorted');
  t.same((await store.list('containers')).map((x) => x.key), ['a:b@c-1.2_3', 'abc']);
  await t.rejects(store.put('containers', 'u', undefined), { code: 'ERR_STORE_ENCODE_FAILED', cls: 'invalidArgument' }, 'put(undefined) is refused');
  t.equal(await store.delete('containers', 'abc'), true);
  t.equal(await store.delete('containers', 'abc'), false, 'second delete reports absence');
  t.equal(await store.get('containers', 'abc'), undefined);
});

t.test('update', async (t) => {
  const { store } = fresh(t);
  t.equal(await store.update<number>('c', 'n', (n) => (n ?? 0) + 1), 1);
  t.equal(await store.update<number>('c', 'n', async (n) => (n ?? 0) + 1), 2);
  await t.rejects(store.update<number>('c', 'n', () => { throw new Error('nope'); }), /nope/);
  t.equal(await store.get('c', 'n'), 2, 'a throwing fn writes nothing');
  t.equal(await store.update<number>('c', 'n', () => undefined), undefined);
  t.equal(await store.get('c', 'n'), undefined, 'returning undefined deletes');
  t.equal(await store.update<number>('c', 'absent', () => undefined), undefined, 'deleting an absent record is fine');
  await Promise.all(Array.from({ length: 20 }, () => store.update<number>('c', 'n', (n) => (n ?? 0) + 1)));
  t.equal(await store.get('c', 'n'), 20, 'concurrent in-process updates serialise');
  t.equal(await store.withBucketLock('c', async () => store.update<number>('c', 'n', (n) => n! + 1)), 21, 'record lock inside the bucket lock');
});

t.test('invalid buckets and keys', async (t) => {
  const { store } = fresh(t);
  const bad = ['', '.', '..', '.hidden', 'a/b', 'a\\b', 'a..b', '-x', '_x', 'a b', 'é', 'x'.repeat(256), '../../etc/passwd', 'a\0b'];
  for (const k of bad) {
    await t.rejects(store.get('b', k), { code: ERR_STORE_INVALID_KEY.code, cls: 'invalidArgument' }, `key ${JSON.stringify(k)}`);
    await t.rejects(store.put(k, 'k', 1), { code: ERR_STORE_INVALID_KEY.code }, `bucket ${JSON.stringify(k)}`);
  }
  await t.rejects(store.put('b', 7 as unknown as string, 1), { code: ERR_STORE_INVALID_KEY.code }, 'non-string key');
  await t.rejects(store.list('a/b'), { code: ERR_STORE_INVALID_KEY.code });
  await t.rejects(store.withBucketLock('..', async () => 1), { code: ERR_STORE_INVALID_KEY.code });
  await store.put('b', 'x'.repeat(251), 1);
  t.equal(await store.get('b', 'x'.repeat(251)), 1, '251-character key (the filesystem maximum) accepted');
  await t.rejects(store.put('b', 'x'.repeat(252), 1), { code: ERR_STORE_INVALID_KEY.code }, '252-character key rejected up front');
  await store.put('y'.repeat(255), 'k', 1);
  t.equal(await store.get('y'.repeat(255), 'k'), 1, '255-character bucket accepted');
});

t.test('record format: corruption is detected, never returned', async (t) => {
  const { dir, store } = fresh(t);
  const rec = encodeRecord({ hello: 'world' });
  t.equal(rec.subarray(0, 4).toString(), 'BRTH');
  t.same(decodeRecord(rec, 'x'), { hello: 'world' });
  const file = path.join(dir, 'b', 'k.rec');
  const cases: Array<[string, (b: Buffer) => Buffer]> = [
    ['empty file', () => Buffer.alloc(0)],
    ['torn header', (b) => b.subarray(0, 7)],
    ['torn payload', (b) => b.subarray(0, b.length - 1)],
    ['trailing bytes', (b) => Buffer.concat([b, Buffer.from([0])])],
    ['flipped payload bit', (b) => { const c = Buffer.from(b); c[RECORD_HEADER_SIZE + 2]! ^= 0x10; return c; }],
    ['bad magic', (b) => { const c = Buffer.from(b); c[0] = 0x58; return c; }],
    ['future version', (b) => { const c = Buffer.from(b); c[4] = 9; return c; }],
    ['zeroed file', (b) => Buffer.alloc(b.length)],
  ];
  await store.put('b', 'good', 1);
  for (const [what, mangle] of cases) {
    await store.put('b', 'k', { hello: 'world', pad: 'x'.repeat(100) });
    fs.writeFileSync(file, mangle(fs.readFileSync(file)));
    await t.rejects(store.get('b', 'k'), { code: ERR_STORE_CORRUPT_RECORD.code, cls: 'internal' }, `${what}: get throws`);
    await t.rejects(store.list('b'), { code: ERR_STORE_CORRUPT_RECORD.code }, `${what}: list throws`);
    await t.rejects(store.update('b', 'k', () => 1), { code: ERR_STORE_CORRUPT_RECORD.code }, `${what}: update refuses`);
    const issues = await store.check();
    t.match(issues, [{ kind: 'corrupt-record', path: file }], `${what}: check reports it`);
    t.equal(issues.length, 1);
  }
  t.equal(await store.repair(), 0, 'repair does not touch corrupt records');
  t.ok(fs.existsSync(file));
  await store.put('b', 'k', 2);
  t.equal(await store.get('b', 'k'), 2, 'put overwrites a corrupt record');
  t.same(await store.check(), []);
});

t.test('temp files: ignored by list, reported by check, removed by repair', async (t) => {
  const { dir, store } = fresh(t);
  await store.put('b', 'k', 1);
  const deadPid = 2 ** 22 + 12345; // above pid_max's default ceiling: never alive
  const dead = path.join(dir, 'b', `.k.rec.tmp-${deadPid}-0123456789ab`);
  const live = path.join(dir, 'b', `.j.rec.tmp-${process.pid}-0123456789ab`);
  fs.writeFileSync(dead, 'half a rec');
  fs.writeFileSync(live, 'in progress');
  fs.writeFileSync(path.join(dir, 'b', 'notes.txt'), 'stray');
  t.same(await store.keys('b'), ['k']);
  t.same(await store.list('b'), [{ key: 'k', value: 1 }]);
  const issues = await store.check();
  t.same(issues.map((i) => [i.kind, path.basename(i.path)]).sort(), [
    ['stray-file', 'notes.txt'],
    ['temp-file', path.basename(dead)],
    ['temp-file', path.basename(live)],
  ].sort());
  t.equal(await store.repair(), 1, 'removes only the temp file whose writer is gone');
  t.notOk(fs.existsSync(dead));
  t.ok(fs.existsSync(live), 'a live writer keeps its temp file');
});

t.test('two stores on different roots do not interfere', async (t) => {
  const a = fresh(t).store;
  const b = fresh(t).store;
  await Promise.all([a.put('x', 'k', 'A'), b.put('x', 'k', 'B')]);
  await a.withBucketLock('x', async () => {
    await b.withBucketLock('x', async () => undefined);
  });
  t.equal(await a.get('x', 'k'), 'A');
  t.equal(await b.get('x', 'k'), 'B');
});
