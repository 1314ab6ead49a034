/** Registration of the default IPAM (`berth.ipam.v1.default`). */
import type { PluginRegistration } from '../../../core/plugin';
import { PluginType } from '../../../core/plugin-types';
import type { Ipam } from '../../../core/contracts/ipam';

export const defaultIpamPlugin: PluginRegistration<Ipam> = {
  type: PluginType.Ipam,
  id: 'default',
  description: 'built-in IP address management with persistent leases (Docker default pools)',
  configSchema: {
    'default-address-pools': { type: 'string[]', default: [], description: 'CIDRs to carve networks from, in order (default: 172.17-31.0.0/16, then 192.168.x.0/20)' },
  },
  init(ctx) {
    const { MetadataStore } = require('../../../core/store/metadata') as typeof import('../../../core/store/metadata');
    const { DefaultIpam, defaultPools } = require('./ipam') as typeof import('./ipam');
    const pools = ctx.config['default-address-pools'] as string[];
    return new DefaultIpam(new MetadataStore(`${ctx.dataDir}/meta`), pools.length ? pools : defaultPools());
  },
};
