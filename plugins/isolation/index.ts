/** The isolation plugins berth ships, in preference order. */
import type { PluginRegistration } from '../../core/plugin';
import { ociIsolationPlugin } from './oci/plugin';
import { nsIsolationPlugin } from './ns/plugin';

export const isolationPlugins: PluginRegistration[] = [ociIsolationPlugin, nsIsolationPlugin];
