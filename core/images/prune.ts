/**
 * `image prune` for both front ends (`berth image prune`, `POST /images/prune`): removes the
 * images no container uses — only dangling (untagged) ones unless `all` — as Docker does.
 *
 *   const r = await pruneImages(engine, { all: false, filters: { until: ['24h'], label: ['a=b'] } });
 *   r.deleted    // [{ Untagged: 'x:1' }, { Deleted: 'sha256:…' }, …] in removal order
 *   r.reclaimed  // bytes of the removed images
 *
 * Filters: `until` (a Unix time, a Go-style duration `10m`/`2h`/`30s`, or a date) keeps images
 * created at or after it; `label` (`key` or `key=value`, all must match) keeps images without
 * them. An image that cannot be removed (a child image, or in use meanwhile) is skipped. Stale
 * ingests (older than a minute) go too.
 */
import type { Engine } from '../engine';
import { ERR_IMAGE_FILTER_INVALID, imageService } from './service';

export interface PruneResult { deleted: Array<{ Untagged?: string; Deleted?: string }>; reclaimed: number }

/** A prune `until` value as a time in ms. */
export function parseUntil(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const m = /^(\d+)(s|m|h)$/.exec(v);
  if (m) return Date.now() - Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 's' | 'm' | 'h'];
  const t = Date.parse(v);
  if (!Number.isFinite(t)) throw ERR_IMAGE_FILTER_INVALID(`'until=${v}'`);
  return t;
}

export async function pruneImages(engine: Engine, opts: { all: boolean; filters: Record<string, string[]> }): Promise<PruneResult> {
  const images = engine.use(imageService);
  const { filters } = opts;
  for (const k of Object.keys(filters)) if (!['until', 'label', 'dangling'].includes(k)) throw ERR_IMAGE_FILTER_INVALID(`'${k}'`);
  const until = filters.until?.[0] ? parseUntil(filters.until[0]) : undefined;
  const users = await images.usage();
  const deleted: PruneResult['deleted'] = [];
  let reclaimed = 0;
  for (const img of await images.list({ all: true })) {
    if (!opts.all && img.repoTags.length) continue;
    if (users.has(img.id)) continue;
    if (until !== undefined && Date.parse(img.created) >= until) continue;
    const labels = img.config.config?.Labels ?? {};
    if ((filters.label ?? []).some((l) => { const i = l.indexOf('='); return i < 0 ? !(l in labels) : labels[l.slice(0, i)] !== l.slice(i + 1); })) continue;
    try {
      deleted.push(...(await images.remove(img.id, { force: true })));
      reclaimed += img.size;
    } catch {
      /* in use or has children */
    }
  }
  await engine.content.cleanupIngests(60_000);
  return { deleted, reclaimed };
}
