/** The IPAM plugins berth ships. */
import type { PluginRegistration } from '../../core/plugin';
import { defaultIpamPlugin } from './default/plugin';

export const ipamPlugins: PluginRegistration[] = [defaultIpamPlugin];
