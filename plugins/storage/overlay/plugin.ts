/** Registration of the overlay storage driver (`berth.storage.v1.overlay`). Registration only. */
import { statfsSync } from 'node:fs';
import type { PluginRegistration } from '../../../core/plugin';
import { PluginType } from '../../../core/plugin-types';
import type { HostPlugin } from '../../../core/contracts/host';
import type { StorageDriver } from '../../../core/contracts/storage';

const OVERLAYFS_SUPER_MAGIC = 0x794c7630;

export const overlayStoragePlugin: PluginRegistration<StorageDriver> = {
  type: PluginType.Storage,
  id: 'overlay',
  requires: [PluginType.Host],
  description: 'overlayfs snapshots, one per layer, shared between images',
  init(ctx) {
    const { PluginSkipError } = require('../../../core/plugin') as typeof import('../../../core/plugin');
    const host = ctx.get<HostPlugin>(PluginType.Host);
    if (!host.features.overlayfs) throw new PluginSkipError('overlayfs is not available in this kernel', 'modprobe overlay');
    if (!host.features.isRoot) throw new PluginSkipError('overlay needs root (mknod of whiteouts, trusted.* xattrs, mounts)', 'run berth as root');
    // overlayfs cannot use an overlayfs upper dir (berth itself running inside a container).
    if (statfsSync(ctx.dataDir).type === OVERLAYFS_SUPER_MAGIC) {
      throw new PluginSkipError(`the state root ${ctx.root} is itself on overlayfs, which cannot hold overlay upper dirs`, 'use --root on ext4/xfs/tmpfs (a volume), or storage-driver: vfs');
    }
    const { OverlayDriver } = require('./overlay') as typeof import('./overlay');
    ctx.meta.capabilities.push('shared-layers', 'whiteout-devices');
    ctx.meta.exports.root = `${ctx.dataDir}/snapshots`;
    (require('../common/maintainer') as typeof import('../common/maintainer')).registerStorageMaintainer();
    return new OverlayDriver(ctx.dataDir);
  },
};
