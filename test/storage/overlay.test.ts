/** The storage conformance suite against the overlay driver (real overlayfs mounts; root). */
import t from 'tap';
import { runStorageDriverSuite } from '../../core/testsuite/storage';
import { OverlayDriver } from '../../plugins/storage/overlay/overlay';

runStorageDriverSuite(t, 'overlay', async (root) => new OverlayDriver(root));
