import t from 'tap';
import { runVolumeSuite } from '../../core/testsuite/volume';
import { SampleDriver } from '../../plugins/sample/sample';

// The sample keeps state in memory, so "two instances on one dir" share an instance here.
const byDir = new Map<string, SampleDriver>();
runVolumeSuite(t, 'sample', async (dir) => {
  let d = byDir.get(dir);
  if (!d) byDir.set(dir, (d = new SampleDriver(dir)));
  return d;
});
