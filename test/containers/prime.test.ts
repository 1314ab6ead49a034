/**
 * primeCgroupMigration: a migration of this process into its own cgroup, asynchronously — it must
 * change nothing (same cgroups after it), create nothing, and never throw.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { primeCgroupMigration } from '../../core/containers/service';

t.test('priming leaves this process where it was', async (t) => {
  const before = readFileSync('/proc/self/cgroup', 'utf8');
  t.doesNotThrow(() => primeCgroupMigration());
  await new Promise((r) => setTimeout(r, 100)); // the write completes after a grace period
  t.equal(readFileSync('/proc/self/cgroup', 'utf8'), before, 'same cgroups in every hierarchy');
  t.doesNotThrow(() => primeCgroupMigration(), 'again, at once');
});
