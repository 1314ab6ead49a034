/** The transport plugins berth ships, in preference order. */
import type { PluginRegistration } from '../../core/plugin';
import { registryTransportPlugin } from './registry/plugin';

export const transportPlugins: PluginRegistration[] = [registryTransportPlugin as PluginRegistration];
