/**
 * Crash safety of the content store's ingests: a child ingesting, committing, aborting, putting,
 * deleting and cleaning up in a loop (fixtures/content-crash-child.ts) is SIGKILLed at random
 * moments 200 times. After every kill:
 * - `check()` reports nothing but `temp-dir`s (leftovers of an ingest dir being created or
 *   removed, named with the dead pid) — no `stray-ingest`, no bad blob;
 * - every partial ingest left is a prefix of its ref's bytes and is resumable;
 * - on odd rounds `cleanupIngests()` runs and must leave the ingest directory empty and `check()`
 *   clean; on even rounds the partials stay, so the next child resumes them.
 *
 * Two lanes (one store each) use both cores; the child runs transpiled JS (fixtures/store-build.ts).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import t from 'tap';
import { ContentStore } from '../../core/store';
import { buildChildren } from './fixtures/store-build';
import { CRASH_REFS, crashPayload } from './fixtures/content-crash-child';

const KILLS = Number(process.env.BERTH_CRASH_KILLS ?? 200);
const LANES = 2;
const MAX_DELAY_MS = 80;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-content-crash-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const build = buildChildren(path.join(tmp, 'build'), ['test/kernel/fixtures/content-crash-child.ts']);
const payloads = new Map(CRASH_REFS.map((r) => [r, crashPayload(r)]));

function isPrefixOfSome(data: Buffer, ref: string): boolean {
  const own = payloads.get(ref);
  if (own) return data.length <= own.length && own.subarray(0, data.length).equals(data);
  // `put` ingests use a random ref; their bytes are one of the payloads.
  return [...payloads.values()].some((p) => data.length <= p.length && p.subarray(0, data.length).equals(data));
}

interface LaneStats { tempRounds: number; partialRounds: number; resumes: number; blobs: number }

/** Runs a lane; an exception fails the lane instead of rejecting (the other lane runs to its end). */
async function lane(t: tap.Test, id: number, kills: number): Promise<LaneStats> {
  try {
    return await laneRounds(t, id, kills);
  } catch (err) {
    t.fail(`lane ${id}: ${(err as Error).stack ?? String(err)}`);
    return { tempRounds: 0, partialRounds: 0, resumes: 0, blobs: 0 };
  }
}

async function laneRounds(t: tap.Test, id: number, kills: number): Promise<LaneStats> {
  const dir = path.join(tmp, `lane${id}`);
  const cs = new ContentStore(dir);
  const ingestRoot = path.join(dir, 'ingest');
  const stats: LaneStats = { tempRounds: 0, partialRounds: 0, resumes: 0, blobs: 0 };
  let failures = 0;
  const fail = (msg: string, extra: object = {}) => {
    failures++;
    t.fail(`lane ${id}: ${msg}`, extra);
  };
  let childMs = 0;
  const laneStart = Date.now();
  for (let i = 0; i < kills && failures < 5; i++) {
    const r0 = Date.now();
    const r = await build.killAfterReady('content-crash-child', [dir, String(id * 100_000 + i + 1)], Math.random() * MAX_DELAY_MS);
    childMs += Date.now() - r0;
    if (r.signal !== 'SIGKILL') {
      fail(`round ${i}: child ended with code ${r.code} signal ${r.signal}`, { stderr: r.stderr });
      continue;
    }
    stats.resumes += r.out.split('\n').filter((l) => l.startsWith('resume ')).length;
    // 1. Only leftovers of the interrupted step; blobs all verified by check().
    const issues = await cs.check();
    const bad = issues.filter((x) => x.kind !== 'temp-dir');
    if (bad.length) fail(`round ${i}: check() found an inconsistency`, { bad });
    if (issues.length) stats.tempRounds++;
    stats.blobs += (await cs.list()).length;
    // 2. Every partial is a prefix of its bytes and resumable.
    const partials = await cs.listIngests();
    if (partials.length) stats.partialRounds++;
    for (const p of partials) {
      // No `data`: killed between publishing the blob and removing the dir (offset 0).
      const file = path.join(ingestRoot, createHash('sha256').update(p.ref).digest('hex'), 'data');
      const data = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
      if (data.length !== p.offset || !isPrefixOfSome(data, p.ref)) fail(`round ${i}: partial ${p.ref} (${p.offset} bytes) is not a prefix of its content`);
    }
    if (i % 2 === 1) {
      // 3. Cleanup leaves nothing behind.
      await cs.cleanupIngests(0);
      const left = fs.existsSync(ingestRoot) ? fs.readdirSync(ingestRoot) : [];
      if (left.length) fail(`round ${i}: cleanupIngests() left ${left.join(', ')}`);
      const after = await cs.check();
      if (after.length) fail(`round ${i}: check() not clean after cleanup`, { after });
    }
  }
  t.comment(`lane ${id}: ${childMs} ms in children (spawn + run until killed), ${Date.now() - laneStart - childMs} ms verifying`);
  // The store still works: finish every ref by resuming, and every blob verifies.
  for (const ref of CRASH_REFS) {
    const data = payloads.get(ref)!;
    const w = await cs.ingest(ref, { resume: true, expected: { size: data.length } });
    await w.write(data.subarray(w.offset));
    const info = await w.commit();
    if (info.size !== data.length) fail(`${ref}: committed ${info.size} bytes`);
  }
  await cs.cleanupIngests(0);
  t.same(await cs.check(), [], `lane ${id}: check() clean at the end`);
  t.same(fs.readdirSync(ingestRoot), [], `lane ${id}: no ingest left at the end`);
  t.equal(failures, 0, `lane ${id}: ${kills} kills, only temp dirs left by kills, partials resumable, cleanup complete`);
  return stats;
}

t.test(`SIGKILL an ingesting child ${KILLS} times`, async (t) => {
  const started = Date.now();
  const per = Math.ceil(KILLS / LANES);
  const results = await Promise.all(Array.from({ length: LANES }, (_, i) => lane(t, i, i === LANES - 1 ? KILLS - per * (LANES - 1) : per)));
  const sum = (k: keyof LaneStats) => results.reduce((a, r) => a + r[k], 0);
  t.comment(`${KILLS} kills in ${Date.now() - started} ms: ${sum('tempRounds')} left temp dirs, ${sum('partialRounds')} left partial ingests, ${sum('resumes')} resumes, ${sum('blobs')} blobs verified`);
  // Evidence that kills land inside the create/remove gaps and mid-ingest.
  t.ok(sum('tempRounds') > 0, 'some kills landed while an ingest dir was created or removed');
  t.ok(sum('partialRounds') > 0, 'some kills left a partial ingest');
  t.ok(sum('resumes') > 0, 'children resumed partials left by killed ones');
});

t.test('temp dirs: those of dead processes are leftovers, those of live ones are left alone', async (t) => {
  const cs = new ContentStore(path.join(tmp, 'names'));
  const root = path.join(cs.dir, 'ingest');
  const dead = await new Promise<number>((resolve) => {
    const c = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore', env: build.env });
    c.on('exit', () => resolve(c.pid!));
  });
  const live = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', env: build.env });
  t.teardown(() => void live.kill('SIGKILL'));
  for (const n of [`.rm-${dead}-0123456789ab`, `.new-${dead}-0123456789ab`, `.rm-${live.pid}-0123456789ab`, `.new-${process.pid}-0123456789ab`]) {
    fs.mkdirSync(path.join(root, n, 'x'), { recursive: true });
  }
  const issues = await cs.check();
  t.same(issues.map((i) => [i.kind, path.basename(i.path)]).sort(), [['temp-dir', `.new-${dead}-0123456789ab`], ['temp-dir', `.rm-${dead}-0123456789ab`]]);
  t.equal(await cs.cleanupIngests(0), 2, 'the dead processes\' temp dirs are removed');
  t.same(fs.readdirSync(root).sort(), [`.new-${process.pid}-0123456789ab`, `.rm-${live.pid}-0123456789ab`].sort(), 'live ones stay');
  t.same(await cs.listIngests(), [], 'temp dirs are never listed as ingests');
});
