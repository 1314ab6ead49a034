/** The network plugins berth ships, in preference order. */
import type { PluginRegistration } from '../../core/plugin';

export const networkPlugins: PluginRegistration[] = [];
