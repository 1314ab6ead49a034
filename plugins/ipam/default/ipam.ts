/**
 * The default IPAM: pools and leases kept in a metadata store inside the plugin's data dir, so
 * they survive restarts and concurrent berth processes (every change is a locked
 * read-modify-write of the pool's record).
 *
 * Pools without an explicit subnet come from Docker's default address pools: 172.17.0.0/16 …
 * 172.31.0.0/16, then 192.168.0.0/20 … 192.168.240.0/20. In a pool the network address, the
 * broadcast address and the gateway (the first host address unless given) are never leased.
 */
import type { Ipam, Pool, PoolRequest } from '../../../core/contracts/ipam';
import { ERR_IPAM_NO_ADDRESS, ERR_IPAM_OUT_OF_RANGE, ERR_IPAM_POOL_OVERLAP } from '../../../core/contracts/ipam';
import { defineError } from '../../../core/errors';
import type { MetadataStore } from '../../../core/store/metadata';
import { Cidr, contains, formatCidr, intToIp, ipToInt, overlaps, parseCidr, size } from './ipv4';

export const ERR_IPAM_POOL_NOT_FOUND = defineError('ERR_IPAM_POOL_NOT_FOUND', 'notFound', 'no IPAM pool %s');
export const ERR_IPAM_NO_POOL = defineError('ERR_IPAM_NO_POOL', 'unavailable', 'all predefined address pools have been fully subnetted');
export const ERR_IPAM_ADDRESS_IN_USE = defineError('ERR_IPAM_ADDRESS_IN_USE', 'conflict', 'address %s is already in use in pool %s');

interface PoolRecord { poolId: string; space: string; pool: string; subPool?: string; gateway: string; leases: string[] }

const BUCKET = 'pools';

export function defaultPools(): string[] {
  const out: string[] = [];
  for (let i = 17; i <= 31; i++) out.push(`172.${i}.0.0/16`);
  for (let i = 0; i < 256; i += 16) out.push(`192.168.${i}.0/20`);
  return out;
}

export class DefaultIpam implements Ipam {
  constructor(private readonly store: MetadataStore, private readonly predefined: string[] = defaultPools()) {}

  defaultAddressSpaces() {
    return { local: 'LocalDefault', global: 'GlobalDefault' };
  }

  isBuiltIn(): boolean {
    return true;
  }

  private static idOf(space: string, cidr: Cidr): string {
    return `${space}:${intToIp(cidr.base)}-${cidr.prefix}`;
  }

  async requestPool(req: PoolRequest): Promise<Pool> {
    return this.store.withBucketLock(BUCKET, async () => {
      const existing = (await this.store.list<PoolRecord>(BUCKET)).map((r) => r.value).filter((r) => r.space === req.addressSpace);
      let cidr: Cidr;
      if (req.pool) {
        cidr = parseCidr(req.pool);
        if (existing.some((e) => overlaps(parseCidr(e.pool), cidr))) throw ERR_IPAM_POOL_OVERLAP(formatCidr(cidr));
      } else {
        const free = this.predefined.map(parseCidr).find((c) => !existing.some((e) => overlaps(parseCidr(e.pool), c)));
        if (!free) throw ERR_IPAM_NO_POOL();
        cidr = free;
      }
      if (req.subPool) {
        const sub = parseCidr(req.subPool);
        if (!contains(cidr, sub.base) || !contains(cidr, sub.base + size(sub) - 1)) throw ERR_IPAM_OUT_OF_RANGE(req.subPool, formatCidr(cidr));
      }
      const gatewayOpt = req.options?.gateway;
      const gateway = gatewayOpt ?? intToIp(cidr.base + 1);
      if (!contains(cidr, ipToInt(gateway))) throw ERR_IPAM_OUT_OF_RANGE(gateway, formatCidr(cidr));
      const rec: PoolRecord = { poolId: DefaultIpam.idOf(req.addressSpace, cidr), space: req.addressSpace, pool: formatCidr(cidr), gateway, leases: [], ...(req.subPool ? { subPool: req.subPool } : {}) };
      await this.store.put(BUCKET, rec.poolId, rec);
      return { poolId: rec.poolId, pool: rec.pool, gateway: `${gateway}/${cidr.prefix}` };
    });
  }

  async releasePool(poolId: string): Promise<void> {
    await this.store.delete(BUCKET, poolId);
  }

  async requestAddress(poolId: string, preferred?: string): Promise<string> {
    let leased = '';
    await this.store.update<PoolRecord>(BUCKET, poolId, (rec) => {
      if (!rec) throw ERR_IPAM_POOL_NOT_FOUND(poolId);
      const cidr = parseCidr(rec.pool);
      const range = rec.subPool ? parseCidr(rec.subPool) : cidr;
      const taken = new Set([...rec.leases, rec.gateway].map(ipToInt));
      const network = cidr.base;
      const broadcast = cidr.base + size(cidr) - 1;
      const usable = (n: number) => cidr.prefix >= 31 || (n !== network && n !== broadcast);
      if (preferred !== undefined) {
        const n = ipToInt(preferred.split('/')[0]!);
        if (!contains(range, n) || !usable(n)) throw ERR_IPAM_OUT_OF_RANGE(preferred, rec.pool);
        if (taken.has(n)) throw ERR_IPAM_ADDRESS_IN_USE(preferred, rec.pool);
        leased = intToIp(n);
      } else {
        for (let n = range.base; n < range.base + size(range); n++) {
          if (usable(n) && !taken.has(n)) {
            leased = intToIp(n);
            break;
          }
        }
        if (!leased) throw ERR_IPAM_NO_ADDRESS(rec.pool);
      }
      return { ...rec, leases: [...rec.leases, leased] };
    });
    return `${leased}/${parseCidr((await this.store.get<PoolRecord>(BUCKET, poolId))!.pool).prefix}`;
  }

  async releaseAddress(poolId: string, address: string): Promise<void> {
    const ip = address.split('/')[0]!;
    await this.store.update<PoolRecord>(BUCKET, poolId, (rec) => (rec ? { ...rec, leases: rec.leases.filter((l) => l !== ip) } : undefined));
  }
}
