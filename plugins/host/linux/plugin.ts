/**
 * Registration of the Linux host plugin (`berth.host.v1.linux`): host facts for every other
 * plugin and `berth info`, and the side-effect seam (`HostOps`).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import type { PluginRegistration } from '../../../core/plugin';
import { PluginType } from '../../../core/plugin-types';
import type { HostFeatures, HostPlugin } from '../../../core/contracts/host';
import { writeFileAtomic } from '../../../core/store/atomic';

const CACHE_VERSION = 1;

export const linuxHostPlugin: PluginRegistration<HostPlugin> = {
  type: PluginType.Host,
  id: 'linux',
  description: 'host facts (namespaces, cgroups, overlayfs, firewall, link types) and the exec seam',
  configSchema: {
    'probe-cache': { type: 'boolean', default: true, description: 'cache probe results until the next reboot' },
  },
  async init(ctx) {
    // Loaded on init, not at registration, so commands that skip this plugin pay nothing.
    const { probeHost, bootId } = require('./probe') as typeof import('./probe');
    const { LinuxHostOps } = require('./ops') as typeof import('./ops');
    const cacheFile = `${ctx.dataDir}/features.json`;
    const key = `${CACHE_VERSION}:${bootId()}:${process.env.PATH ?? ''}`;
    let features: HostFeatures | undefined;
    if (ctx.config['probe-cache'] !== false) {
      try {
        // read on every command: synchronous (one call, not four thread-pool round trips)
        const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as { key: string; features: HostFeatures };
        if (cached.key === key) features = cached.features;
      } catch {
        /* no cache yet */
      }
    }
    if (!features) {
      features = await probeHost();
      mkdirSync(ctx.dataDir, { recursive: true });
      await writeFileAtomic(cacheFile, JSON.stringify({ key, features }));
    }
    const found: HostFeatures = features;
    ctx.meta.exports.kernel = found.kernel;
    ctx.meta.exports.cgroup = found.cgroup.mode;
    return { features: found, ops: new LinuxHostOps() };
  },
};
