/** The storage plugins berth ships, in preference order: overlay first, then vfs. */
import type { PluginRegistration } from '../../core/plugin';
import { overlayStoragePlugin } from './overlay/plugin';
import { vfsStoragePlugin } from './vfs/plugin';

export const storagePlugins: PluginRegistration[] = [overlayStoragePlugin, vfsStoragePlugin];
