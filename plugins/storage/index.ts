/** The storage plugins berth ships, in preference order. */
import type { PluginRegistration } from '../../core/plugin';

export const storagePlugins: PluginRegistration[] = [];
