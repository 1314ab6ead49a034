import t from 'tap';
import { mkdtemp, rm, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { EventBus, matchesFilter, EngineEvent } from '../../core/events';

async function dir(t: { teardown(fn: () => unknown): void }) {
  const d = await mkdtemp(`${tmpdir()}/berth-events-`);
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

t.test('events have Docker shape and are shared through the log', async (t) => {
  const d = await dir(t);
  const a = new EventBus(d);
  const b = new EventBus(d);
  const e = await a.publish({ Type: 'container', Action: 'start', Actor: { ID: 'abc123', Attributes: { name: 'web', image: 'busybox' } } });
  t.equal(e.status, 'start');
  t.equal(e.id, 'abc123');
  t.equal(e.from, 'busybox');
  t.equal(e.scope, 'local');
  t.ok(Math.abs(e.time - Date.now() / 1000) < 5);
  t.equal(Math.floor(e.timeNano / 1e9), e.time);
  await a.publish({ Type: 'image', Action: 'pull', Actor: { ID: 'busybox:latest' } });
  const seen = await b.history();
  t.same(seen.map((x) => `${x.Type}:${x.Action}`), ['container:start', 'image:pull']);
  t.same((await b.history({ filters: { type: ['image'] } })).map((x) => x.Action), ['pull']);
  t.same((await b.history({ filters: { container: ['web'] } })).map((x) => x.Action), ['start']);
});

t.test('subscribe follows appends from another writer and skips torn lines', async (t) => {
  const d = await dir(t);
  const reader = new EventBus(d);
  const writer = new EventBus(d);
  const ac = new AbortController();
  const got: EngineEvent[] = [];
  const done = (async () => {
    for await (const e of reader.subscribe({ filters: { event: ['die', 'start'] } }, ac.signal)) {
      got.push(e);
      if (got.length === 2) ac.abort();
    }
  })();
  await new Promise((r) => setTimeout(r, 100));
  await writer.publish({ Type: 'container', Action: 'create', Actor: { ID: 'c1' } });
  await appendFile(`${d}/events.jsonl`, '{"torn": tr\n');
  await writer.publish({ Type: 'container', Action: 'start', Actor: { ID: 'c1' } });
  await writer.publish({ Type: 'container', Action: 'die', Actor: { ID: 'c1', Attributes: { exitCode: '0' } } });
  await Promise.race([done, new Promise((_, rej) => setTimeout(() => rej(new Error('timed out waiting for events')), 5000))]);
  t.same(got.map((e) => e.Action), ['start', 'die']);
});

t.test('filters', async (t) => {
  const e: EngineEvent = { Type: 'container', Action: 'exec_start: sh', Actor: { ID: 'abcdef', Attributes: { name: 'x', image: 'img', 'com.example': 'v' } }, scope: 'local', time: 100, timeNano: 100e9 };
  t.ok(matchesFilter(e, { filters: { event: ['exec_start'] } }), 'event prefix before the colon');
  t.ok(matchesFilter(e, { filters: { label: ['com.example=v'] } }));
  t.ok(matchesFilter(e, { filters: { label: ['com.example'] } }));
  t.notOk(matchesFilter(e, { filters: { label: ['com.example=w'] } }));
  t.ok(matchesFilter(e, { filters: { container: ['abc'] } }), 'container id prefix');
  t.notOk(matchesFilter(e, { since: 101 }));
  t.notOk(matchesFilter(e, { until: 99 }));
  t.ok(matchesFilter(e, { filters: { type: ['image', 'container'] } }), 'values of one key are ORed');
});
