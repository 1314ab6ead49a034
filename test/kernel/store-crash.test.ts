/**
 * Crash safety of the metadata store: a child writing records in a loop (payloads of 0.1 KiB,
 * 64 KiB and 1.5 MiB; put, update and delete) is SIGKILLed at random moments 200 times. After every
 * kill, every record reads back whole (one of the values the child announced) or not at all, never
 * corrupt; check() finds nothing but temp files, and repair() removes exactly those.
 *
 * Two lanes (one store each) run side by side to use both cores; each child runs transpiled JS
 * (see fixtures/store-build.ts) so a respawn costs ~50 ms instead of ~1 s with the TS loader.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { MetadataStore } from '../../core/store';
import { buildChildren } from './fixtures/store-build';
import { CRASH_KEYS, CRASH_SIZES, crashPayload, type CrashValue } from './fixtures/store-crash-child';

const KILLS = Number(process.env.BERTH_CRASH_KILLS ?? 200);
const LANES = 2;
const MAX_DELAY_MS = 60;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-store-crash-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const build = buildChildren(path.join(tmp, 'build'), ['test/kernel/fixtures/store-crash-child.ts']);

const phase = { ready: 0, exit: 0 };

async function lane(t: tap.Test, id: number, kills: number): Promise<{ tempRounds: number; present: number }> {
  const dir = path.join(tmp, `lane${id}`);
  const store = new MetadataStore(dir);
  const ever = new Map<string, Set<string>>(CRASH_KEYS.map((k) => [k, new Set<string>()]));
  let tempRounds = 0;
  let present = 0;
  let failures = 0;
  let childMs = 0;
  const laneStart = Date.now();
  for (let i = 0; i < kills && failures < 5; i++) {
    const r0 = Date.now();
    const r = await build.killAfterReady('store-crash-child', [dir, String(id * 100_000 + i + 1)], Math.random() * MAX_DELAY_MS);
    phase.ready += r.readyMs;
    phase.exit += r.exitMs;
    childMs += Date.now() - r0;
    if (r.signal !== 'SIGKILL') {
      failures++;
      t.fail(`lane ${id} round ${i}: child ended with code ${r.code} signal ${r.signal}`, { stderr: r.stderr });
      continue;
    }
    for (const line of r.out.split('\n')) {
      const [op, key, vid] = line.split(' ');
      if (op === 'w' && key && vid) ever.get(key)!.add(vid);
    }
    for (const key of CRASH_KEYS) {
      let v: CrashValue | undefined;
      try {
        v = await store.get<CrashValue>('crash', key);
      } catch (err) {
        failures++;
        t.fail(`lane ${id} round ${i}: record ${key} unreadable: ${(err as Error).message}`);
        continue;
      }
      if (v === undefined) continue;
      present++;
      const whole = ever.get(key)!.has(v.id) && CRASH_SIZES.includes(v.size) && Buffer.isBuffer(v.payload) && v.payload.equals(crashPayload(v.id, v.size));
      if (!whole) {
        failures++;
        t.fail(`lane ${id} round ${i}: record ${key} holds a value never written whole (id ${v.id})`);
      }
    }
    const issues = await store.check();
    const others = issues.filter((x) => x.kind !== 'temp-file');
    if (others.length > 0) {
      failures++;
      t.fail(`lane ${id} round ${i}: check() found more than temp files`, { others });
    }
    if (issues.length > 0) tempRounds++;
    const removed = await store.repair();
    if (removed !== issues.length) {
      failures++;
      t.fail(`lane ${id} round ${i}: repair() removed ${removed} of ${issues.length} temp files`);
    }
    // A full check() re-reads every record; after repair() it is enough to do it now and then.
    const after = issues.length > 0 || i % 10 === 0 ? await store.check() : [];
    if (after.length > 0) {
      failures++;
      t.fail(`lane ${id} round ${i}: check() not clean after repair()`, { after });
    }
  }
  t.comment(`lane ${id}: ${childMs} ms in children (spawn + run until killed), ${Date.now() - laneStart - childMs} ms verifying`);
  t.equal(failures, 0, `lane ${id}: ${kills} kills, every record whole or absent, check/repair clean`);
  return { tempRounds, present };
}

t.test(`SIGKILL a writing child ${KILLS} times`, async (t) => {
  const started = Date.now();
  const per = Math.ceil(KILLS / LANES);
  const results = await Promise.all(Array.from({ length: LANES }, (_, i) => lane(t, i, i === LANES - 1 ? KILLS - per * (LANES - 1) : per)));
  const tempRounds = results.reduce((a, r) => a + r.tempRounds, 0);
  const present = results.reduce((a, r) => a + r.present, 0);
  t.comment(`${KILLS} kills in ${Date.now() - started} ms; ${tempRounds} kills left temp files (mid-write); ${present} record reads verified`);
  // Evidence the kills really land mid-write, not only between writes.
  t.comment(`children: ${phase.ready} ms spawn-to-ready, ${phase.exit} ms SIGKILL-to-exit (summed over both lanes)`);
  t.ok(tempRounds > 0, 'some kills interrupted a write (temp files were left)');
  t.ok(present > 0, 'records were actually present and verified');
});
