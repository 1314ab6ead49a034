/**
 * Volumes as seen by the engine: every volume of every volume driver plugin. This module
 * registers the volumes maintainer (`system df` row "Local Volumes", `system prune --volumes`).
 * The volume commands themselves arrive with the volumes issue.
 */
import { lstat, readdir } from 'node:fs/promises';
import { registerMaintainer } from '../maintenance';
import { PluginType } from '../plugin-types';
import type { Engine } from '../engine';
import type { Volume, VolumeDriver } from '../contracts/volume';

/** Docker marks anonymous volumes with this label. */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

/** Bytes under `dir`, counting each inode once, never following symlinks. */
export async function diskUsage(dir: string, seen = new Set<string>()): Promise<number> {
  let total = 0;
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return 0;
  }
  for (const name of entries) {
    const p = `${dir}/${name}`;
    let st;
    try {
      st = await lstat(p);
    } catch {
      continue;
    }
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) continue;
    seen.add(key);
    total += st.isFile() ? st.size : 0;
    if (st.isDirectory()) total += await diskUsage(p, seen);
  }
  return total;
}

export async function allVolumes(engine: Engine): Promise<Array<{ driver: VolumeDriver; volume: Volume }>> {
  const out: Array<{ driver: VolumeDriver; volume: Volume }> = [];
  for (const { instance: driver } of engine.plugins.getAll<VolumeDriver>(PluginType.Volume)) {
    for (const volume of await driver.list()) out.push({ driver, volume });
  }
  return out;
}

function inUse(v: Volume): boolean {
  const callers = v.status().callers;
  return Array.isArray(callers) && callers.length > 0;
}

function labelsOf(v: Volume): Record<string, string> {
  const withLabels = v as Volume & { labels?: () => Record<string, string> };
  return typeof withLabels.labels === 'function' ? withLabels.labels() : {};
}

registerMaintainer({
  name: 'volumes',
  order: 30,
  async df(engine) {
    let size = 0;
    let reclaimable = 0;
    let active = 0;
    const vols = await allVolumes(engine);
    for (const { volume } of vols) {
      const s = await diskUsage(volume.path());
      size += s;
      if (inUse(volume)) active++;
      else reclaimable += s;
    }
    return [{ type: 'Local Volumes', total: vols.length, active, size, reclaimable }];
  },
  async prune(engine, opts) {
    const removed: string[] = [];
    let reclaimed = 0;
    if (!opts.volumes) return { removed, reclaimed };
    for (const { driver, volume } of await allVolumes(engine)) {
      // Like `docker system prune --volumes`: only anonymous volumes no container uses.
      if (inUse(volume) || !(ANONYMOUS_LABEL in labelsOf(volume))) continue;
      const s = await diskUsage(volume.path());
      await driver.remove(volume);
      removed.push(volume.name());
      reclaimed += s;
    }
    return { removed, reclaimed };
  },
});
