/** Registration of the `none` network driver (`berth.network.v1.null`). */
import type { PluginRegistration } from '../../../core/plugin';
import { PluginType } from '../../../core/plugin-types';
import type { NetworkDriver } from '../../../core/contracts/network';

export const nullNetworkPlugin: PluginRegistration<NetworkDriver> = {
  type: PluginType.Network,
  id: 'null',
  description: 'no networking: a private namespace with loopback only (--network none)',
  init() {
    const { NullDriver } = require('./null') as typeof import('./null');
    return new NullDriver();
  },
};
