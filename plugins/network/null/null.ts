/**
 * The `none` network driver: the container gets its own network namespace with only a
 * loopback interface (brought up by the runtime). There is exactly one `none` network, as in
 * Docker; endpoints carry no addresses.
 */
import type { EndpointOperInfo, InterfaceInfo, JoinInfo, NetworkDriver } from '../../../core/contracts/network';
import { SingleNetworkDriver } from '../single';

export class NullDriver extends SingleNetworkDriver implements NetworkDriver {
  private readonly endpoints = new Set<string>();

  type(): string { return 'null'; }

  async createEndpoint(_nid: string, eid: string, _iface: InterfaceInfo): Promise<void> {
    this.endpoints.add(eid);
  }

  async deleteEndpoint(_nid: string, eid: string): Promise<void> {
    this.endpoints.delete(eid);
  }

  async endpointInfo(_nid: string, eid: string): Promise<EndpointOperInfo> {
    return { eid, sandbox: 'private', interfaces: ['lo'] };
  }

  async join(_nid: string, _eid: string, _sboxKey: string, _info: JoinInfo): Promise<void> {
    // Nothing to configure: the sandbox keeps only its loopback interface.
  }

  async leave(): Promise<void> {
    // Nothing was configured.
  }
}
