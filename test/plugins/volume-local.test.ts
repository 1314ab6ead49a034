import t from 'tap';
import { runVolumeSuite } from '../../core/testsuite/volume';
import { LocalDriver } from '../../plugins/volume/local/local';
import { MetadataStore } from '../../core/store/metadata';
import { LinuxHostOps } from '../../plugins/host/linux/ops';
import { RecordingHost } from '../../core/testsuite/fake-host';

const isRoot = process.getuid?.() === 0;
// Integration: the real host seam (tmpfs volumes need root to mount).
runVolumeSuite(t, 'local', async (dir) => new LocalDriver(dir, new MetadataStore(`${dir}/meta`), new LinuxHostOps()), isRoot ? { tmpfsOptions: { type: 'tmpfs', device: 'tmpfs', o: 'size=4m' } } : {});

t.test('local: option volumes call mount/umount once (recording host)', async (t) => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const dir = await mkdtemp('/tmp/berth-vol-unit-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const host = new RecordingHost();
  const d = new LocalDriver(dir, new MetadataStore(`${dir}/meta`), host);
  const v = await d.create('opt', { size: '8m' });
  await v.mount('a');
  await v.mount('b');
  t.same(host.calls('mount').map((c) => c.args), [['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', d.dataPath('opt')]]);
  await v.unmount('a');
  await v.unmount('b');
  // The fake never mounted anything, so the driver sees no mount point and skips umount.
  t.same(host.calls('umount'), []);
});
