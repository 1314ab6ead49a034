/**
 * The one token table for dependency injection (inversify). Kernel services are bound under
 * these tokens in the engine's root container; every plugin gets a child container whose
 * `PluginContext` token holds its init context, and the instance it returns from `init` is bound
 * in the root container under `pluginToken(type)` named by its id.
 */
export const TOKENS = {
  EngineConfig: Symbol.for('berth.EngineConfig'),
  StateRoot: Symbol.for('berth.StateRoot'),
  MetadataStore: Symbol.for('berth.MetadataStore'),
  ContentStore: Symbol.for('berth.ContentStore'),
  Events: Symbol.for('berth.Events'),
  Logger: Symbol.for('berth.Logger'),
  PluginContext: Symbol.for('berth.PluginContext'),
  PluginConfig: Symbol.for('berth.PluginConfig'),
  /** What a plugin's container module binds: the instance the plugin provides. */
  PluginInstance: Symbol.for('berth.PluginInstance'),
} as const;

const pluginTokens = new Map<string, symbol>();

/** The token under which instances of plugins of `type` are bound (named by plugin id). */
export function pluginToken(type: string): symbol {
  let s = pluginTokens.get(type);
  if (s === undefined) {
    s = Symbol.for(`berth.plugin:${type}`);
    pluginTokens.set(type, s);
  }
  return s;
}
