/** Registration of the `local` volume driver (`berth.volume.v1.local`). */
import type { PluginRegistration } from '../../../core/plugin';
import { PluginType } from '../../../core/plugin-types';
import type { VolumeDriver } from '../../../core/contracts/volume';
import { ERR_PLUGIN_INVALID } from '../../../core/plugin';

export const localVolumePlugin: PluginRegistration<VolumeDriver> = {
  type: PluginType.Volume,
  id: 'local',
  requires: [PluginType.Host],
  description: 'directories in the state root, or tmpfs/bind/device mounts with type/device/o options',
  // Wired by its container module (di.ts), loaded only when the plugin boots.
  module: () => (require('./di') as typeof import('./di')).localVolumeModule(),
  init() {
    throw ERR_PLUGIN_INVALID('berth.volume.v1.local is built by its container module');
  },
};
