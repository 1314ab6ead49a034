/**
 * Registration of the `ns` isolation plugin (`berth.isolation.v1.ns`): containers without any
 * installed OCI runtime. berth ships its own runtime, `berth-nsrun` (C sources next to this file,
 * built by build.js / `npm run build:native`), which speaks the runc CLI subset the oci backend
 * drives; so this plugin is the oci backend class (plugins/isolation/oci/backend.ts) and the same
 * C monitor, pointed at berth-nsrun. Registration only: nothing heavy is imported at top level.
 *
 * Skips (with the reason and the fix) when: not root; the kernel lacks a namespace kind the
 * Docker default spec needs; no cgroup filesystem; berth-nsrun cannot be found or built; the oci
 * backend class or the monitor is missing.
 */
import type { PluginRegistration } from '../../../core/plugin';
import { PluginSkipError } from '../../../core/plugin';
import { PluginType } from '../../../core/plugin-types';
import type { HostPlugin } from '../../../core/contracts/host';
import type { IsolationBackend } from '../../../core/contracts/isolation';

/** berth-nsrun next to its sources, whether we run from TS sources or from dist/. */
export function findNsrun(): string | undefined {
  const { existsSync } = require('node:fs') as typeof import('node:fs');
  const { join } = require('node:path') as typeof import('node:path');
  return nsrunDirs().map((d) => join(d, 'bin', 'berth-nsrun')).find((c) => existsSync(c));
}

function nsrunDirs(): string[] {
  const { packageFile } = require('../../../core/paths') as typeof import('../../../core/paths');
  return [packageFile('plugins', 'isolation', 'ns'), __dirname];
}

/** Finds berth-nsrun, building it with `cc` when it is missing (a checkout after `tsc` only). */
export function ensureNsrun(): string {
  const found = findNsrun();
  if (found) return found;
  const { existsSync } = require('node:fs') as typeof import('node:fs');
  const { join } = require('node:path') as typeof import('node:path');
  for (const dir of nsrunDirs()) {
    const script = join(dir, 'build.js');
    if (!existsSync(script)) continue;
    try {
      return (require(script) as { build(): string }).build();
    } catch (e) {
      throw new PluginSkipError(`cannot build berth-nsrun: ${(e as Error).message}`, 'apt-get install -y gcc libc6-dev && npm run build:native');
    }
  }
  throw new PluginSkipError('berth-nsrun is not built and its sources are missing', 'npm run build:native');
}

/** Namespace kinds (as /proc/self/ns names them) the default container spec needs. */
export const NEEDED_NAMESPACES = ['pid', 'mnt', 'uts', 'ipc', 'net'];

export const nsIsolationPlugin: PluginRegistration<IsolationBackend> = {
  type: PluginType.Isolation,
  id: 'ns',
  requires: [PluginType.Host],
  description: "containers without an installed OCI runtime: berth's own berth-nsrun (namespaces, pivot_root, caps, cgroups) and the C monitor",
  configSchema: {
    binary: { type: 'string', description: 'path of a berth-nsrun binary to use instead of the bundled one' },
  },
  async init(ctx) {
    const host = ctx.get<HostPlugin>(PluginType.Host);
    const f = host.features;
    if (!f.isRoot) throw new PluginSkipError('the ns backend needs root (rootless mode is not implemented)', 'run berth as root (sudo)');
    const missing = NEEDED_NAMESPACES.filter((n) => !f.namespaces.includes(n));
    if (missing.length) throw new PluginSkipError(`the kernel lacks namespace(s) ${missing.join(', ')}`, 'use a kernel built with CONFIG_NAMESPACES (PID_NS, UTS_NS, IPC_NS, NET_NS)');
    if (f.cgroup.mode === 'none') throw new PluginSkipError('no cgroup filesystem is mounted: limits and pause cannot be enforced', 'mount -t cgroup2 none /sys/fs/cgroup');
    const configured = ctx.config.binary as string | undefined;
    let binary: string;
    if (configured) {
      const { existsSync } = require('node:fs') as typeof import('node:fs');
      if (!existsSync(configured)) throw new PluginSkipError(`the configured berth-nsrun ${configured} does not exist`, 'npm run build:native, or remove plugins.ns.binary');
      binary = configured;
    } else {
      binary = ensureNsrun();
    }
    let backendMod: typeof import('../oci/backend');
    let ociPlugin: typeof import('../oci/plugin');
    try {
      backendMod = require('../oci/backend') as typeof import('../oci/backend');
      ociPlugin = require('../oci/plugin') as typeof import('../oci/plugin');
    } catch (e) {
      throw new PluginSkipError(`the oci backend class (plugins/isolation/oci/backend), which drives berth-nsrun, is missing: ${(e as Error).message}`, 'reinstall berth');
    }
    const monitorPath = ociPlugin.ensureMonitor();
    ctx.meta.exports.runtime = binary;
    ctx.meta.exports.monitor = monitorPath;
    ctx.meta.capabilities.push('tty', 'pause', 'restart-policies', 'oom-detect', 'userns-remap');
    return new backendMod.OciBackend({
      name: 'ns',
      runtimePath: binary,
      stateDir: ctx.dataDir,
      monitorPath,
      cgroupMode: f.cgroup.mode,
      ...(f.cgroup.v2Mount ? { cgroupV2Mount: f.cgroup.v2Mount } : {}),
    });
  },
};
