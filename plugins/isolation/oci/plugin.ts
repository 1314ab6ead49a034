/**
 * Registration of the `oci` isolation plugin (`berth.isolation.v1.oci`): picks an OCI runtime
 * (config `runtime`, else crun, runc, youki on PATH), checks it can work on this host's cgroup
 * layout, makes sure the C monitor is built, and hands back an OciBackend.
 */
import type { PluginRegistration } from '../../../core/plugin';
import { PluginSkipError } from '../../../core/plugin';
import { PluginType } from '../../../core/plugin-types';
import type { HostPlugin } from '../../../core/contracts/host';
import type { IsolationBackend } from '../../../core/contracts/isolation';

/** Finds the monitor binary next to its source, whether we run from TS sources or from dist/. */
export function findMonitor(): string | undefined {
  const { existsSync } = require('node:fs') as typeof import('node:fs');
  const { join } = require('node:path') as typeof import('node:path');
  const { packageFile } = require('../../../core/paths') as typeof import('../../../core/paths');
  const candidates = [
    packageFile('plugins', 'isolation', 'monitor', 'bin', 'berth-monitor'),
    join(__dirname, '..', 'monitor', 'bin', 'berth-monitor'),
  ];
  return candidates.find((c) => existsSync(c));
}

/** Builds the monitor with `cc` when it is missing (a fresh checkout after `tsc` only). */
export function ensureMonitor(): string {
  const found = findMonitor();
  if (found) return found;
  const { join } = require('node:path') as typeof import('node:path');
  const { existsSync } = require('node:fs') as typeof import('node:fs');
  const { packageFile } = require('../../../core/paths') as typeof import('../../../core/paths');
  for (const dir of [packageFile('plugins', 'isolation', 'monitor'), join(__dirname, '..', 'monitor')]) {
    const script = join(dir, 'build.js');
    if (!existsSync(script)) continue;
    try {
      return (require(script) as { build(): string }).build();
    } catch (e) {
      throw new PluginSkipError(`cannot build the container monitor: ${(e as Error).message}`, 'apt-get install gcc && npm run build:native');
    }
  }
  throw new PluginSkipError('the container monitor (berth-monitor) is not built', 'npm run build:native');
}

/**
 * Decides which runtime can work here. crun 1.8 refuses hybrid cgroup hosts whose cgroup2 mount
 * still holds a controller ("cgroups in hybrid mode not supported, drop all controllers from
 * cgroupv2"); runc does not mind. Returns the chosen path or a skip with reason and fix.
 */
export function chooseRuntime(
  features: HostPlugin['features'],
  want: string | undefined,
  which: (name: string) => string | undefined,
  bindV2Controllers: boolean,
): { path: string; name: string; note?: string } {
  const hybridBlocked = features.cgroup.mode === 'hybrid' && features.cgroup.v2Controllers.length > 0 && !bindV2Controllers;
  const crunProblem = `crun refuses this hybrid cgroup host: the cgroup2 mount ${features.cgroup.v2Mount ?? ''} holds controller(s) ${features.cgroup.v2Controllers.join(',')}`;
  const fixBind = features.cgroup.v2Controllers.map((c) => `mkdir -p /sys/fs/cgroup/${c} && mount -t cgroup -o ${c} cgroup /sys/fs/cgroup/${c}`).join(' && ');
  const resolve = (n: string): string | undefined => (n.includes('/') ? n : which(n));
  if (want) {
    const path = resolve(want);
    if (!path) throw new PluginSkipError(`the configured runtime ${want} is not installed`, `apt-get install ${want.split('/').pop()}`);
    const name = want.split('/').pop()!;
    if (name.startsWith('crun') && hybridBlocked) throw new PluginSkipError(crunProblem, `${fixBind} (or set plugins.oci.bind-v2-controllers: true, or runtime: runc)`);
    return { path, name };
  }
  for (const name of ['crun', 'runc', 'youki']) {
    const path = which(name);
    if (!path) continue;
    if (name === 'crun' && hybridBlocked) continue;
    const note = name !== 'crun' && hybridBlocked && which('crun') ? `${crunProblem}; using ${name} (fix for crun: ${fixBind}, or plugins.oci.bind-v2-controllers: true)` : undefined;
    return { path, name, ...(note ? { note } : {}) };
  }
  if (hybridBlocked && which('crun')) throw new PluginSkipError(`${crunProblem}, and no other runtime is installed`, `apt-get install runc  (or: ${fixBind})`);
  throw new PluginSkipError('no OCI runtime (crun, runc, youki) on PATH', 'apt-get install crun');
}

export const ociIsolationPlugin: PluginRegistration<IsolationBackend> = {
  type: PluginType.Isolation,
  id: 'oci',
  requires: [PluginType.Host],
  description: 'containers through an OCI runtime (crun, runc, youki) and a C monitor per container',
  configSchema: {
    runtime: { type: 'string', description: 'runtime name on PATH or absolute path (default: crun, runc, youki — the first that works here)' },
    exec: {
      type: 'string', default: 'auto', enum: ['auto', 'runtime'],
      description: "what enters a running container for `exec`: 'runtime' (RUNTIME exec) or 'auto' (berth's own berth-nsrun when it is built: same namespaces, cgroups, process spec and seccomp, ≈ 25 ms faster)",
    },
    'bind-v2-controllers': {
      type: 'boolean', default: false,
      description: 'on hybrid cgroup hosts, move the controllers the cgroup2 mount holds to their own v1 hierarchies (lets crun work)',
    },
  },
  async init(ctx) {
    const host = ctx.get<HostPlugin>(PluginType.Host);
    if (!host.features.isRoot) throw new PluginSkipError('the oci backend needs root (rootless mode is not implemented)', 'run berth as root (sudo)');
    const { which } = require('../../host/linux/probe') as typeof import('../../host/linux/probe');
    const bind = ctx.config['bind-v2-controllers'] === true;
    if (bind && host.features.cgroup.mode === 'hybrid' && host.features.cgroup.v2Controllers.length) {
      for (const c of host.features.cgroup.v2Controllers) {
        await host.ops.exec('sh', ['-c', `grep -q ' /sys/fs/cgroup/${c} cgroup ' /proc/mounts || { mkdir -p /sys/fs/cgroup/${c} && mount -t cgroup -o ${c} cgroup /sys/fs/cgroup/${c}; }`]);
      }
    }
    const rt = chooseRuntime(host.features, ctx.config.runtime as string | undefined, which, bind);
    const monitorPath = ensureMonitor();
    const { OciBackend } = require('./backend') as typeof import('./backend');
    const execHelper = ctx.config.exec !== 'runtime' ? (require('../ns/plugin') as typeof import('../ns/plugin')).findNsrun() : undefined;
    if (execHelper) ctx.meta.exports.exec = execHelper;
    ctx.meta.exports.runtime = rt.path;
    ctx.meta.exports.monitor = monitorPath;
    if (rt.note) ctx.meta.exports.note = rt.note;
    ctx.meta.capabilities.push('tty', 'pause', 'restart-policies', 'oom-detect', 'userns-remap');
    if (rt.note) ctx.logger.info?.(rt.note);
    return new OciBackend({
      name: 'oci',
      runtimePath: rt.path,
      stateDir: ctx.dataDir,
      monitorPath,
      cgroupMode: host.features.cgroup.mode,
      ...(host.features.cgroup.v2Mount ? { cgroupV2Mount: host.features.cgroup.v2Mount } : {}),
      ...(execHelper ? { execHelper } : {}),
    });
  },
};
