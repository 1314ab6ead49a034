/** Registration of the vfs storage driver (`berth.storage.v1.vfs`). Registration only. */
import type { PluginRegistration } from '../../../core/plugin';
import { PluginType } from '../../../core/plugin-types';
import type { StorageDriver } from '../../../core/contracts/storage';

export const vfsStoragePlugin: PluginRegistration<StorageDriver> = {
  type: PluginType.Storage,
  id: 'vfs',
  description: 'plain full copies per snapshot; works on any filesystem',
  init(ctx) {
    const { VfsDriver } = require('./vfs') as typeof import('./vfs');
    ctx.meta.exports.root = `${ctx.dataDir}/snapshots`;
    (require('../common/maintainer') as typeof import('../common/maintainer')).registerStorageMaintainer();
    return new VfsDriver(ctx.dataDir);
  },
};
