/** The transport plugins berth ships, in preference order. */
import type { PluginRegistration } from '../../core/plugin';

export const transportPlugins: PluginRegistration[] = [];
