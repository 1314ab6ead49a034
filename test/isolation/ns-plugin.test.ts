/**
 * The `ns` plugin registration: it skips with a reason and a fix when the host cannot run it
 * (not root, a namespace kind missing, no cgroups, a configured binary that does not exist),
 * and otherwise hands back the oci backend class pointed at berth-nsrun. Host facts come from
 * a hand-made HostFeatures (no probing); the binary and the monitor are the real ones.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import type { HostFeatures, HostPlugin } from '../../core/contracts/host';
import type { IsolationBackend } from '../../core/contracts/isolation';
import { isPluginSkipError, type InitContext } from '../../core/plugin';
import { RecordingHost } from '../../core/testsuite/fake-host';
import { nsIsolationPlugin } from '../../plugins/isolation/ns/plugin';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ns-plugin-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

function features(over: Partial<HostFeatures> = {}): HostFeatures {
  return {
    kernel: '6.1.0', arch: 'amd64', os: 'linux',
    namespaces: ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'time', 'user', 'uts'],
    cgroup: { mode: 'hybrid', v1Controllers: ['cpu', 'memory', 'pids'], v2Controllers: ['hugetlb'], v2Mount: '/sys/fs/cgroup/unified' },
    overlayfs: true, firewall: {}, linkTypes: {}, runtimes: {}, tools: {},
    userns: { maxUserNamespaces: 1000, subuid: false }, isRoot: true,
    ...over,
  };
}

function ctx(f: HostFeatures, config: Record<string, unknown> = {}): InitContext {
  const host: HostPlugin = { features: f, ops: new RecordingHost() } as unknown as HostPlugin;
  const dataDir = fs.mkdtempSync(path.join(tmp, 'data-'));
  return {
    uri: 'berth.isolation.v1.ns', type: 'berth.isolation.v1', id: 'ns', root: tmp, dataDir, config, engineConfig: {},
    logger: console as unknown as InitContext['logger'], container: undefined as unknown as InitContext['container'],
    meta: { capabilities: [], exports: {} },
    get: <T>() => host as unknown as T,
    getAll: () => [],
    getById: <T>() => host as unknown as T,
  };
}

async function skipOf(c: InitContext): Promise<{ reason: string; fix?: string }> {
  try {
    await nsIsolationPlugin.init(c);
  } catch (e) {
    if (isPluginSkipError(e)) return { reason: e.message, ...((e as { fix?: string }).fix ? { fix: (e as { fix?: string }).fix } : {}) };
    throw e;
  }
  throw new Error('init did not skip');
}

t.test('skips with reasons and fixes', async (t) => {
  t.match((await skipOf(ctx(features({ isRoot: false })))).reason, /needs root/);
  const noNet = await skipOf(ctx(features({ namespaces: ['ipc', 'mnt', 'pid', 'uts'] })));
  t.match(noNet.reason, /lacks namespace\(s\) net/);
  t.ok(noNet.fix, 'names a fix');
  t.match((await skipOf(ctx(features({ cgroup: { mode: 'none', v1Controllers: [], v2Controllers: [] } })))).reason, /no cgroup filesystem/);
  t.match((await skipOf(ctx(features(), { binary: path.join(tmp, 'nope') }))).reason, /does not exist/);
});

t.test('boots the oci backend class on berth-nsrun', async (t) => {
  const c = ctx(features());
  const backend = (await nsIsolationPlugin.init(c)) as IsolationBackend;
  t.equal(backend.name, 'ns');
  t.match(backend.runtimePath, /plugins\/isolation\/ns\/bin\/berth-nsrun$/);
  t.ok(fs.statSync(backend.runtimePath).mode & 0o111, 'the binary is executable');
  t.equal(c.meta.exports.runtime, backend.runtimePath);
  t.ok(c.meta.exports.monitor, 'the monitor is published');
  t.ok(c.meta.capabilities.includes('pause'));
});
