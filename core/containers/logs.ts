/**
 * Reader of Docker json-file logs (`<root>/containers/<id>/<id>-json.log`), written by the
 * monitor one line per output line: `{"log":"…\n","stream":"stdout","time":"RFC3339Nano"}`.
 *
 * Lifecycle
 *   for await (const e of readLogs(file, { tail: 10, since, until, follow, stillRunning })) …
 * `since`/`until` are unix seconds (fractions allowed); `tail` counts lines from the end;
 * `follow` keeps reading appended lines until `stillRunning()` turns false.
 */
import { open, stat } from 'node:fs/promises';

export interface LogEntry { log: string; stream: 'stdout' | 'stderr'; time: string }

export interface LogReadOptions {
  tail?: number;
  since?: number;
  until?: number;
  follow?: boolean;
  stillRunning?: () => Promise<boolean>;
  stdout?: boolean;
  stderr?: boolean;
}

/** Docker's `--since`/`--until`: RFC3339 dates, unix timestamps, or durations like `10m`. */
export function parseTimeArg(s: string, now = Date.now()): number {
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  const d = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/.exec(s);
  if (d) {
    const mult: Record<string, number> = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
    return now / 1000 - Number(d[1]) * mult[d[2]!]!;
  }
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new Error(`invalid time value ${JSON.stringify(s)}`);
  return t / 1000;
}

/** Seconds since the epoch of an RFC3339Nano time, keeping sub-ms precision roughly. */
export function timeOf(t: string): number {
  const m = /\.(\d+)Z$/.exec(t);
  const base = Date.parse(t.replace(/\.\d+Z$/, 'Z')) / 1000;
  return m ? base + Number(`0.${m[1]}`) : base;
}

function parseLine(line: string): LogEntry | undefined {
  if (!line) return undefined;
  try {
    return JSON.parse(line) as LogEntry;
  } catch {
    return undefined;
  }
}

export async function* readLogs(file: string, o: LogReadOptions = {}): AsyncGenerator<LogEntry> {
  const keep = (e: LogEntry) =>
    (e.stream === 'stdout' ? o.stdout !== false : o.stderr !== false) &&
    (o.since === undefined || timeOf(e.time) >= o.since) && (o.until === undefined || timeOf(e.time) <= o.until);
  let fh;
  try {
    fh = await open(file, 'r');
  } catch {
    if (!o.follow) return;
    fh = undefined;
  }
  let pos = 0;
  let rest = '';
  if (fh) {
    const text = (await fh.readFile()).toString('utf8');
    pos = Buffer.byteLength(text);
    const lastNl = text.lastIndexOf('\n');
    rest = text.slice(lastNl + 1);
    let entries = text.slice(0, lastNl + 1).split('\n').map(parseLine).filter((e): e is LogEntry => !!e && keep(e));
    if (o.tail !== undefined && o.tail >= 0) entries = o.tail === 0 ? [] : entries.slice(-o.tail);
    for (const e of entries) yield e;
  }
  if (!o.follow) { await fh?.close(); return; }
  for (;;) {
    if (!fh) {
      try { fh = await open(file, 'r'); } catch { /* not yet */ }
    }
    if (fh) {
      const size = (await stat(file)).size;
      if (size > pos) {
        const buf = Buffer.alloc(size - pos);
        await fh.read(buf, 0, buf.length, pos);
        pos = size;
        const text = rest + buf.toString('utf8');
        const lastNl = text.lastIndexOf('\n');
        rest = text.slice(lastNl + 1);
        for (const e of text.slice(0, lastNl + 1).split('\n').map(parseLine)) if (e && keep(e)) yield e;
        continue;
      }
    }
    if (o.stillRunning && !(await o.stillRunning())) {
      // one last read for what was written just before the exit
      if (fh) {
        const size = (await stat(file)).size;
        if (size > pos) continue;
      }
      break;
    }
    if (o.until !== undefined && Date.now() / 1000 > o.until) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await fh?.close();
}
