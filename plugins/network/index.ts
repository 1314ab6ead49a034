/** The network plugins berth ships, in preference order. */
import type { PluginRegistration } from '../../core/plugin';
import { nullNetworkPlugin } from './null/plugin';
import { hostNetworkPlugin } from './host/plugin';

export const networkPlugins: PluginRegistration[] = [nullNetworkPlugin, hostNetworkPlugin];
