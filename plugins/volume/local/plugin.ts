/** Registration of the `local` volume driver (`berth.volume.v1.local`). */
import type { PluginRegistration } from '../../../core/plugin';
import { PluginType } from '../../../core/plugin-types';
import type { VolumeDriver } from '../../../core/contracts/volume';
import type { HostPlugin } from '../../../core/contracts/host';

export const localVolumePlugin: PluginRegistration<VolumeDriver> = {
  type: PluginType.Volume,
  id: 'local',
  requires: [PluginType.Host],
  description: 'directories in the state root, or tmpfs/bind/device mounts with type/device/o options',
  init(ctx) {
    const { MetadataStore } = require('../../../core/store/metadata') as typeof import('../../../core/store/metadata');
    const { LocalDriver } = require('./local') as typeof import('./local');
    const host = ctx.get<HostPlugin>(PluginType.Host);
    ctx.meta.capabilities.push('refcount', 'tmpfs');
    ctx.meta.exports.root = `${ctx.dataDir}/volumes`;
    return new LocalDriver(ctx.dataDir, new MetadataStore(`${ctx.dataDir}/meta`), host.ops);
  },
};
