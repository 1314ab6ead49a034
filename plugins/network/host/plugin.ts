/** Registration of the `host` network driver (`berth.network.v1.host`). */
import type { PluginRegistration } from '../../../core/plugin';
import { PluginType } from '../../../core/plugin-types';
import type { NetworkDriver } from '../../../core/contracts/network';

export const hostNetworkPlugin: PluginRegistration<NetworkDriver> = {
  type: PluginType.Network,
  id: 'host',
  description: "the host's network namespace (--network host)",
  init() {
    const { HostDriver } = require('./host') as typeof import('./host');
    return new HostDriver();
  },
};
