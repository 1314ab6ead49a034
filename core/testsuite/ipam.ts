/**
 * Conformance suite for IPAM plugins (contracts/ipam.ts). Every IPAM implementation runs it:
 *
 *   runIpamSuite(t, 'default', async (dir) => new DefaultIpam(new MetadataStore(dir)));
 *
 * `factory(dir)` must return a fresh instance whose persistent state lives in `dir`; calling it
 * twice with the same dir must give two instances that share state (two berth processes).
 */
import type { Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { Ipam } from '../contracts/ipam';
import { expectClass } from './expect';

/** The tap test object (type only: the suite runs under tap). */
type T = Test;


export function runIpamSuite(t: T, name: string, factory: (dir: string) => Promise<Ipam>): void {
  const fresh = async (t: T) => {
    const dir = await mkdtemp(`${tmpdir()}/berth-ipam-suite-`);
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    return { dir, ipam: await factory(dir) };
  };

  t.test(`${name}: explicit pool, gateway and sequential leases`, async (t) => {
    const { ipam } = await fresh(t);
    const space = ipam.defaultAddressSpaces().local;
    const pool = await ipam.requestPool({ addressSpace: space, pool: '10.77.0.0/24' });
    t.equal(pool.pool, '10.77.0.0/24');
    t.equal(pool.gateway, '10.77.0.1/24');
    t.equal(await ipam.requestAddress(pool.poolId), '10.77.0.2/24');
    t.equal(await ipam.requestAddress(pool.poolId), '10.77.0.3/24');
    t.equal(await ipam.requestAddress(pool.poolId, '10.77.0.9'), '10.77.0.9/24');
    await expectClass(t, ipam.requestAddress(pool.poolId, '10.77.0.9'), 'conflict', 'a leased address twice');
    await expectClass(t, ipam.requestAddress(pool.poolId, '10.78.0.9'), 'invalidArgument', 'an address outside the pool');
    await expectClass(t, ipam.requestAddress(pool.poolId, '10.77.0.255'), 'invalidArgument', 'the broadcast address');
  });

  t.test(`${name}: overlapping pools are forbidden`, async (t) => {
    const { ipam } = await fresh(t);
    const space = ipam.defaultAddressSpaces().local;
    await ipam.requestPool({ addressSpace: space, pool: '10.88.0.0/16' });
    await expectClass(t, ipam.requestPool({ addressSpace: space, pool: '10.88.4.0/24' }), 'forbidden', 'a pool inside another');
    await expectClass(t, ipam.requestPool({ addressSpace: space, pool: '10.0.0.0/8' }), 'forbidden', 'a pool around another');
  });

  t.test(`${name}: automatic pools do not overlap`, async (t) => {
    const { ipam } = await fresh(t);
    const space = ipam.defaultAddressSpaces().local;
    const a = await ipam.requestPool({ addressSpace: space });
    const b = await ipam.requestPool({ addressSpace: space });
    t.not(a.pool, b.pool);
    t.match(a.pool, /^\d+\.\d+\.\d+\.\d+\/\d+$/);
  });

  t.test(`${name}: exhaustion is unavailable; release makes room`, async (t) => {
    const { ipam } = await fresh(t);
    const space = ipam.defaultAddressSpaces().local;
    const pool = await ipam.requestPool({ addressSpace: space, pool: '10.99.0.0/29' }); // 8 addresses: net, gw, 5 hosts, broadcast
    const got: string[] = [];
    for (let i = 0; i < 5; i++) got.push(await ipam.requestAddress(pool.poolId));
    t.equal(new Set(got).size, 5, 'five distinct leases');
    await expectClass(t, ipam.requestAddress(pool.poolId), 'unavailable', 'a sixth address in a /29');
    await ipam.releaseAddress(pool.poolId, got[2]!);
    t.equal(await ipam.requestAddress(pool.poolId), got[2], 'a released address is leased again');
  });

  t.test(`${name}: leases persist and are shared between instances`, async (t) => {
    const { dir, ipam } = await fresh(t);
    const space = ipam.defaultAddressSpaces().local;
    const pool = await ipam.requestPool({ addressSpace: space, pool: '10.66.0.0/24' });
    const other = await factory(dir);
    const results = await Promise.all([...Array(10).keys()].map((i) => (i % 2 ? ipam : other).requestAddress(pool.poolId)));
    t.equal(new Set(results).size, 10, 'concurrent requests from two instances never share an address');
    await ipam.releasePool(pool.poolId);
    await other.requestPool({ addressSpace: space, pool: '10.66.0.0/24' });
  });
}
