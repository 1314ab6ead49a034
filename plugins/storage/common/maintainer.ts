/**
 * `berth system check` / `system prune` for storage drivers: every booted storage plugin that
 * has `check()` / `cleanup()` (the stock ones do) is checked and cleaned. Registered by the
 * storage plugins' init, so it costs nothing until a storage plugin boots. Which snapshots are
 * still needed is the images/containers maintainers' business; this one only removes leftovers
 * of interrupted operations.
 */
import type { Engine } from '../../../core/engine';
import { registerMaintainer } from '../../../core/maintenance';
import { PluginType } from '../../../core/plugin-types';
import { isCleaner } from '../../../core/contracts/storage';
import type { CheckIssue } from '../../../core/store/metadata';

function drivers(engine: Engine): Array<{ id: string; instance: unknown }> {
  return engine.plugins.getAll<unknown>(PluginType.Storage);
}

let registered = false;

export function registerStorageMaintainer(): void {
  if (registered) return;
  registered = true;
  registerMaintainer({
    name: 'storage',
    order: 92,
    async check(engine) {
      const out: CheckIssue[] = [];
      for (const d of drivers(engine)) {
        const c = (d.instance as { check?: () => Promise<CheckIssue[]> }).check;
        if (typeof c === 'function') for (const i of await c.call(d.instance)) out.push({ ...i, message: `${d.id}: ${i.message}` });
      }
      return out;
    },
    async prune(engine) {
      const removed: string[] = [];
      for (const d of drivers(engine)) {
        if (!isCleaner(d.instance)) continue;
        const n = await d.instance.cleanup();
        if (n) removed.push(`${n} leftover snapshot dir(s) of ${d.id}`);
      }
      return { removed, reclaimed: 0 };
    },
  });
}
