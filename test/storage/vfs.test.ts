/** The storage conformance suite against the vfs driver (bind mounts; root). */
import t from 'tap';
import { runStorageDriverSuite } from '../../core/testsuite/storage';
import { VfsDriver } from '../../plugins/storage/vfs/vfs';

runStorageDriverSuite(t, 'vfs', async (root) => new VfsDriver(root));
