/**
 * The `none` network driver: the container gets its own network namespace with only a
 * loopback interface (brought up by the runtime). There is exactly one `none` network, as in
 * Docker; endpoints carry no addresses.
 */
import type { EndpointOperInfo, InterfaceInfo, JoinInfo, NetworkCreateOptions, NetworkDriver } from '../../../core/contracts/network';
import { defineError } from '../../../core/errors';

export const ERR_NET_SINGLE_INSTANCE = defineError('ERR_NET_SINGLE_INSTANCE', 'forbidden', 'only one instance of "%s" network is allowed');

export class NullDriver implements NetworkDriver {
  private network: string | undefined;
  private readonly endpoints = new Set<string>();

  type(): string { return 'null'; }
  isBuiltIn(): boolean { return true; }

  async createNetwork(nid: string, _opts: NetworkCreateOptions): Promise<void> {
    if (this.network !== undefined && this.network !== nid) throw ERR_NET_SINGLE_INSTANCE('null');
    this.network = nid;
  }

  async deleteNetwork(nid: string): Promise<void> {
    if (this.network === nid) this.network = undefined;
  }

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
