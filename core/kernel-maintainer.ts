/**
 * The kernel's own maintenance: the metadata store's records and the content store's blobs
 * and partial ingests. Unreferenced blobs are pruned by the images maintainer, which knows what
 * references them; the kernel only clears leftovers of interrupted operations.
 */
import { registerMaintainer } from './maintenance';

registerMaintainer({
  name: 'kernel stores',
  order: 95,
  async check(engine) {
    return [...(await engine.metadata.check()), ...(await engine.content.check())];
  },
  async prune(engine) {
    const removed: string[] = [];
    const temps = await engine.metadata.repair();
    if (temps) removed.push(`${temps} temp record file(s)`);
    // Partial ingests untouched for an hour belong to dead or abandoned writers.
    const ingests = await engine.content.cleanupIngests(60 * 60 * 1000);
    if (ingests) removed.push(`${ingests} partial ingest(s)`);
    return { removed, reclaimed: 0 };
  },
});
