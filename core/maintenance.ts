/**
 * Maintenance hooks behind `berth system df`, `system check` and `system prune`.
 *
 * Each kind of object (images, containers, volumes, networks, build cache, the kernel's own
 * stores) registers one `Maintainer` when its service module loads. The system commands call
 * every registered maintainer in `order`: prune runs containers before images before content,
 * so that what a removed container referenced becomes unreferenced in the same run.
 */
import type { CheckIssue } from './store/metadata';
import type { Engine } from './engine';

export interface DfRow {
  /** Docker's TYPE column: Images, Containers, Local Volumes, Build Cache (and berth's own). */
  type: string;
  total: number;
  active: number;
  size: number;
  reclaimable: number;
}

export interface PruneOptions { all: boolean; volumes: boolean; filters?: Record<string, string[]> }
export interface PruneResult { removed: string[]; reclaimed: number }

export interface Maintainer {
  name: string;
  /** Lower runs first during prune (containers 10, networks 20, volumes 30, images 40, content 90). */
  order: number;
  df?(engine: Engine): Promise<DfRow[]>;
  check?(engine: Engine): Promise<CheckIssue[]>;
  prune?(engine: Engine, opts: PruneOptions): Promise<PruneResult>;
}

const maintainers = new Map<string, Maintainer>();

export function registerMaintainer(m: Maintainer): void {
  maintainers.set(m.name, m);
}

export function listMaintainers(): Maintainer[] {
  return [...maintainers.values()].sort((a, b) => a.order - b.order);
}
