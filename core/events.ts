/**
 * The event bus: container, image, network, volume (and plugin) events in the shape of
 * Docker's `/events` messages, written by every berth process to one append-only file in the
 * state root so that `berth events` and the API server in another process see them.
 *
 * Vocabulary
 * - *event*: `{Type, Action, Actor: {ID, Attributes}, scope, time, timeNano}` (+ the legacy
 *   `status`, `id`, `from` fields Docker still sends for containers and images).
 * - *log*: `<root>/events/events.jsonl`, one JSON object per line. Each append is a single
 *   `write` on an O_APPEND descriptor, so lines from concurrent processes never interleave.
 *
 * Lifecycle
 *   events.publish({ Type: 'container', Action: 'start', Actor: { ID: id, Attributes: { name, image } } });
 *   for await (const e of events.subscribe({ since, until, filters })) …
 */
import { EventEmitter } from 'node:events';
import { open, readFile, stat } from 'node:fs/promises';
import { appendFileSync, mkdirSync, watch } from 'node:fs';

export type EventType = 'container' | 'image' | 'network' | 'volume' | 'plugin' | 'daemon' | 'builder';

export interface EngineEvent {
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local' | 'swarm';
  time: number;
  timeNano: number;
  status?: string;
  id?: string;
  from?: string;
}

export interface EventInput { Type: EventType; Action: string; Actor: { ID: string; Attributes?: Record<string, string> } }

export interface EventFilter {
  /** Unix seconds (inclusive). */
  since?: number;
  until?: number;
  /** Docker's filters: type, event/action, container, image, label, network, volume … */
  filters?: Record<string, string[]>;
}

export function matchesFilter(e: EngineEvent, f: EventFilter): boolean {
  if (f.since !== undefined && e.time < f.since) return false;
  if (f.until !== undefined && e.time > f.until) return false;
  for (const [k, values] of Object.entries(f.filters ?? {})) {
    if (!values.length) continue;
    const attrs = e.Actor.Attributes;
    const ok = values.some((v) => {
      switch (k) {
        case 'type': return e.Type === v;
        case 'event': case 'action': return e.Action === v || e.Action.startsWith(`${v}:`);
        case 'container': return e.Type === 'container' && (e.Actor.ID.startsWith(v) || attrs.name === v);
        case 'image': return attrs.image === v || (e.Type === 'image' && (e.Actor.ID === v || attrs.name === v));
        case 'network': return e.Type === 'network' && (e.Actor.ID === v || attrs.name === v);
        case 'volume': return e.Type === 'volume' && e.Actor.ID === v;
        case 'label': {
          const [lk, lv] = v.split('=', 2) as [string, string | undefined];
          return lv === undefined ? lk in attrs : attrs[lk] === lv;
        }
        default: return false;
      }
    });
    if (!ok) return false;
  }
  return true;
}

export class EventBus {
  private readonly emitter = new EventEmitter();
  readonly file: string;
  private ready = false;

  constructor(private readonly dir: string) {
    this.file = `${dir}/events.jsonl`;
  }

  /** Records an event durably enough for other processes to read it, and emits it here. */
  async publish(input: EventInput): Promise<EngineEvent> {
    const ns = BigInt(Date.now()) * 1_000_000n + BigInt(Number(process.hrtime.bigint() % 1_000_000n));
    const e: EngineEvent = {
      Type: input.Type,
      Action: input.Action,
      Actor: { ID: input.Actor.ID, Attributes: { ...(input.Actor.Attributes ?? {}) } },
      scope: 'local',
      time: Number(ns / 1_000_000_000n),
      timeNano: Number(ns),
    };
    if (e.Type === 'container' || e.Type === 'image') {
      e.status = e.Action;
      e.id = e.Actor.ID;
      if (e.Actor.Attributes.image) e.from = e.Actor.Attributes.image;
    }
    // One O_APPEND write of one line, synchronous: an event is published on most commands, and
    // the async form cost four thread-pool round trips (mkdir, open, write, close).
    if (!this.ready) {
      mkdirSync(this.dir, { recursive: true });
      this.ready = true;
    }
    appendFileSync(this.file, JSON.stringify(e) + '\n');
    this.emitter.emit('event', e);
    return e;
  }

  /** Past events from the log matching `f`. */
  async history(f: EventFilter = {}): Promise<EngineEvent[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch {
      return [];
    }
    const out: EngineEvent[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const e = JSON.parse(line) as EngineEvent;
        if (matchesFilter(e, f)) out.push(e);
      } catch {
        /* a torn last line from a killed writer: skip */
      }
    }
    return out;
  }

  /**
   * Follows the log: yields past events from `since` (when given) and then new ones as any
   * process appends them, until `until` passes or the signal aborts.
   */
  async *subscribe(f: EventFilter = {}, signal?: AbortSignal): AsyncGenerator<EngineEvent> {
    mkdirSync(this.dir, { recursive: true });
    appendFileSync(this.file, '');
    if (f.since !== undefined) {
      for (const e of await this.history(f)) yield e;
    }
    let offset = (await stat(this.file)).size;
    const fh = await open(this.file, 'r');
    let wake: (() => void) | undefined;
    const watcher = watch(this.file, () => wake?.());
    const onAbort = () => wake?.();
    signal?.addEventListener('abort', onAbort);
    let partial = '';
    try {
      while (!signal?.aborted) {
        if (f.until !== undefined && Date.now() / 1000 > f.until) return;
        const { size } = await fh.stat();
        if (size > offset) {
          const buf = Buffer.alloc(size - offset);
          await fh.read(buf, 0, buf.length, offset);
          offset = size;
          const lines = (partial + buf.toString()).split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) {
            if (!line) continue;
            try {
              const e = JSON.parse(line) as EngineEvent;
              if (matchesFilter(e, f)) yield e;
            } catch {
              /* skip torn line */
            }
          }
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 500).unref();
        });
      }
    } finally {
      watcher.close();
      signal?.removeEventListener('abort', onAbort);
      await fh.close();
    }
  }

  on(listener: (e: EngineEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }
}
