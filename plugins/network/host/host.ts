/**
 * The `host` network driver: the container shares the host's network namespace. The driver
 * configures nothing; the container service reads the network mode and does not create a
 * network namespace for such containers (the sandbox key is the host's, `/proc/1/ns/net`).
 * One `host` network only, as in Docker.
 */
import type { EndpointOperInfo, InterfaceInfo, JoinInfo, NetworkDriver } from '../../../core/contracts/network';
import { SingleNetworkDriver } from '../single';
import { defineError } from '../../../core/errors';

export const ERR_NET_HOST_SANDBOX = defineError('ERR_NET_HOST_SANDBOX', 'invalidArgument', 'the host network can only join the host namespace, not %s');
export const HOST_SANDBOX = '/proc/1/ns/net';

export class HostDriver extends SingleNetworkDriver implements NetworkDriver {
  type(): string { return 'host'; }

  async createEndpoint(_nid: string, _eid: string, _iface: InterfaceInfo): Promise<void> {
    // Host endpoints have no interface of their own.
  }

  async deleteEndpoint(): Promise<void> {
    // Nothing was created.
  }

  async endpointInfo(_nid: string, eid: string): Promise<EndpointOperInfo> {
    return { eid, sandbox: HOST_SANDBOX };
  }

  async join(_nid: string, _eid: string, sboxKey: string, _info: JoinInfo): Promise<void> {
    if (sboxKey !== HOST_SANDBOX) throw ERR_NET_HOST_SANDBOX(sboxKey);
  }

  async leave(): Promise<void> {
    // Nothing was configured.
  }
}
