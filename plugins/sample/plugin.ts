/**
 * Registration of the sample plugin. A registration is data: the kernel validates it when it is
 * registered and decides when `init` runs (after every type in `requires`).
 */
import type { PluginRegistration } from '../../core/plugin';
import type { VolumeDriver } from '../../core/contracts/volume';

export const samplePlugin: PluginRegistration<VolumeDriver> = {
  // Copy the type string; do not import core/plugin-types.ts from a third-party package.
  type: 'berth.volume.v1',
  id: 'sample',
  description: 'in-memory volumes (a template to copy)',
  configSchema: { prefix: { type: 'string', default: '', description: 'prepended to every volume path' } },
  init(ctx) {
    // START: probe what you need and throw PluginSkipError(reason, fix) when the host lacks it.
    const { SampleDriver } = require('./sample') as typeof import('./sample');
    return new SampleDriver(`${ctx.dataDir}${ctx.config.prefix as string}`);
    // END
  },
};
