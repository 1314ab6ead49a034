/**
 * Contract: IP address management (`berth.ipam.v1`), after libnetwork's ipamapi.
 *
 * Vocabulary
 * - *address space*: an independent set of pools (`local`, `global`).
 * - *pool* (poolId): a subnet handed to one network, optionally a sub-range for allocation.
 * - *address*: one IP leased from a pool to one endpoint; released when the endpoint goes.
 *
 * Lifecycle
 *   requestPool(space, '172.18.0.0/16') → requestAddress(poolId) … → releaseAddress(poolId, ip) → releasePool(poolId)
 *
 * Leases are persistent (they survive engine restarts) and safe against concurrent berth
 * processes. Predeclared errors carry their class: no free address is `unavailable`, an
 * overlapping pool is `forbidden`, an address outside the pool is `invalidArgument`.
 */
import { defineError } from '../errors';

export const ERR_IPAM_NO_ADDRESS = defineError('ERR_IPAM_NO_ADDRESS', 'unavailable', 'no available IPv4 addresses in pool %s');
export const ERR_IPAM_POOL_OVERLAP = defineError('ERR_IPAM_POOL_OVERLAP', 'forbidden', 'pool %s overlaps with another pool');
export const ERR_IPAM_OUT_OF_RANGE = defineError('ERR_IPAM_OUT_OF_RANGE', 'invalidArgument', 'address %s is outside pool %s');

export interface PoolRequest { addressSpace: string; pool?: string; subPool?: string; options?: Record<string, string> }
export interface Pool { poolId: string; pool: string; gateway?: string }

export interface Ipam {
  defaultAddressSpaces(): { local: string; global: string };
  requestPool(req: PoolRequest): Promise<Pool>;
  releasePool(poolId: string): Promise<void>;
  /** Leases `preferred` when given and free, else the next free address. Returns CIDR form. */
  requestAddress(poolId: string, preferred?: string): Promise<string>;
  releaseAddress(poolId: string, address: string): Promise<void>;
  isBuiltIn(): boolean;
}
