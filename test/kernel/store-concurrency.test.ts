/**
 * Eight processes update one metadata store at once: N locked increments each on one shared
 * counter (final value must be 8N), N appends each to their own list record, N puts of their own
 * keys, and name reservations under the bucket lock. Nothing may be lost or duplicated.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { MetadataStore } from '../../core/store';
import { buildChildren } from './fixtures/store-build';

const WORKERS = 8;
const N = Number(process.env.BERTH_CONCURRENCY_N ?? 100);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-store-conc-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

function run(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, out, err }));
  });
}

t.test(`${WORKERS} processes x ${N} updates lose nothing`, async (t) => {
  const build = buildChildren(path.join(tmp, 'build'), ['test/kernel/fixtures/store-counter-child.ts']);
  const dir = path.join(tmp, 'meta');
  const started = Date.now();
  const results = await Promise.all(Array.from({ length: WORKERS }, (_, i) => run(build.script('store-counter-child'), [dir, String(i), String(N)], build.env)));
  t.comment(`${WORKERS} x ${N} rounds (${WORKERS * N * 3} locked writes) in ${Date.now() - started} ms`);
  for (const [i, r] of results.entries()) t.same({ code: r.code, out: r.out, err: r.err }, { code: 0, out: 'done\n', err: '' }, `worker ${i} finished cleanly`);

  const store = new MetadataStore(dir);
  t.equal(await store.get<number>('counters', 'c'), WORKERS * N, 'counter = 8N');
  const expectList = Array.from({ length: N }, (_, i) => i);
  for (let w = 0; w < WORKERS; w++) t.same(await store.get<number[]>('lists', `w${w}`), expectList, `worker ${w}: every append kept, in order`);
  const items = await store.list<{ worker: number; i: number }>('items');
  t.equal(items.length, WORKERS * N, 'every own key present');
  t.ok(items.every(({ key, value }) => key === `w${value.worker}-${value.i}`), 'every own key holds its own value');
  const names = await store.list<{ owner: number; losers?: number[] }>('names');
  t.equal(names.length, Math.ceil(N / 10), 'one record per reserved name');
  t.ok(names.every(({ value }) => (value.losers ?? []).length === WORKERS - 1 && !value.losers!.includes(value.owner)), 'each name has exactly one owner; every other worker saw it taken');
  t.same(await store.check(), [], 'store is clean');
});
