/** The volume plugins berth ships, in preference order. */
import type { PluginRegistration } from '../../core/plugin';
import { localVolumePlugin } from './local/plugin';

export const volumePlugins: PluginRegistration[] = [localVolumePlugin];
