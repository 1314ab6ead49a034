/**
 * The container module of the local volume driver: how its objects are wired. Loaded into the
 * plugin's own child container at boot (see core/plugin.ts, "Wiring").
 */
import { ContainerModule } from 'inversify';
import { TOKENS } from '../../../core/tokens';
import { PluginType } from '../../../core/plugin-types';
import type { InitContext } from '../../../core/plugin';
import type { HostPlugin } from '../../../core/contracts/host';
import { MetadataStore } from '../../../core/store/metadata';
import { LocalDriver } from './local';

/** The driver's own record store, inside the plugin's data dir. */
export const LOCAL_VOLUME_STORE = Symbol.for('berth.volume.local.Store');

export function localVolumeModule(): ContainerModule {
  return new ContainerModule((o) => {
    o.bind(LOCAL_VOLUME_STORE).toDynamicValue((c) => new MetadataStore(`${c.get<InitContext>(TOKENS.PluginContext).dataDir}/meta`)).inSingletonScope();
    o.bind(TOKENS.PluginInstance).toDynamicValue((c) => {
      const ctx = c.get<InitContext>(TOKENS.PluginContext);
      ctx.meta.capabilities.push('refcount', 'tmpfs');
      ctx.meta.exports.root = `${ctx.dataDir}/volumes`;
      return new LocalDriver(ctx.dataDir, c.get<MetadataStore>(LOCAL_VOLUME_STORE), ctx.get<HostPlugin>(PluginType.Host).ops);
    }).inSingletonScope();
  });
}
