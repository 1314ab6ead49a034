/**
 * Conformance suite for network drivers (contracts/network.ts): the CNM lifecycle in order and
 * out of order. Drivers that need a real sandbox get one from `opts.sandbox` (a netns path the
 * test created) — drivers such as `host` accept only their own.
 *
 *   runNetworkSuite(t, 'null', async () => new NullDriver(), { sandbox: async () => '/run/netns/x' });
 */
import type { Test } from 'tap';
import type { NetworkDriver, InterfaceInfo, JoinInfo } from '../contracts/network';
import { classOf } from '../errors';

/** The tap test object (type only: the suite runs under tap). */
type T = Test;

export function recordingInterface(): InterfaceInfo & { ips: string[]; macs: string[] } {
  const ips: string[] = [];
  const macs: string[] = [];
  return { ips, macs, setIPAddress: (c) => void ips.push(c), setMacAddress: (m) => void macs.push(m) };
}

export function recordingJoin(): JoinInfo & { gateways: string[]; routes: string[][]; names: string[][] } {
  const gateways: string[] = [];
  const routes: string[][] = [];
  const names: string[][] = [];
  return { gateways, routes, names, setGateway: (g) => void gateways.push(g), addStaticRoute: (d, n) => void routes.push([d, n]), setNames: (s, d) => void names.push([s, d]) };
}

export function runNetworkSuite(t: T, name: string, factory: () => Promise<NetworkDriver>, opts: { sandbox: (t: T) => Promise<string>; singleInstance?: boolean }): void {
  const createOpts = (n: string) => ({ name: n, options: {}, labels: {}, internal: false });

  t.test(`${name}: full lifecycle`, async (t) => {
    const d = await factory();
    t.ok(typeof d.type() === 'string' && d.type().length > 0, 'has a type');
    await d.createNetwork('n1', createOpts('net1'));
    await d.createEndpoint('n1', 'e1', recordingInterface(), {});
    const sbox = await opts.sandbox(t);
    await d.join('n1', 'e1', sbox, recordingJoin(), {});
    t.ok(await d.endpointInfo('n1', 'e1'), 'endpoint info while joined');
    await d.leave('n1', 'e1');
    await d.deleteEndpoint('n1', 'e1');
    await d.deleteNetwork('n1');
  });

  t.test(`${name}: deletes are idempotent`, async (t) => {
    const d = await factory();
    await d.deleteEndpoint('nope', 'nope');
    await d.deleteNetwork('nope');
    await d.createNetwork('n2', createOpts('net2'));
    await d.deleteNetwork('n2');
    await d.deleteNetwork('n2');
    t.ok(true, 'no error deleting twice');
  });

  if (opts.singleInstance) {
    t.test(`${name}: a second network is forbidden`, async (t) => {
      const d = await factory();
      await d.createNetwork('a', createOpts('a'));
      try {
        await d.createNetwork('b', createOpts('b'));
        t.fail('second instance accepted');
      } catch (e) {
        t.equal(classOf(e), 'forbidden', (e as Error).message);
      }
    });
  }
}
