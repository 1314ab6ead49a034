/**
 * The stock composition: every plugin berth ships, as registration records. A custom runtime
 * build is a different list (see docs/custom-build.md). The core never imports this file; the
 * CLI and the API server hand it to `Engine.open`.
 *
 * Registration modules must stay light (no heavy imports at top level): implementations are
 * loaded inside `init`, so a command that boots only some plugin types pays only for those.
 * Each kind keeps its own list in `plugins/<kind>/index.ts`.
 */
import type { PluginRegistration } from '../core/plugin';
import { linuxHostPlugin } from './host/linux/plugin';
import { storagePlugins } from './storage';
import { transportPlugins } from './transport';
import { isolationPlugins } from './isolation';
import { networkPlugins } from './network';
import { volumePlugins } from './volume';
import { ipamPlugins } from './ipam';

export const builtins: PluginRegistration[] = [
  linuxHostPlugin,
  ...storagePlugins,
  ...transportPlugins,
  ...isolationPlugins,
  ...ipamPlugins,
  ...networkPlugins,
  ...volumePlugins,
];
