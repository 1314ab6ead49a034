/**
 * Shared by the drivers that allow exactly one network of their kind (`none`, `host`), as
 * Docker does: creating a second one is forbidden, deleting is idempotent.
 */
import { defineError } from '../../core/errors';
import type { NetworkCreateOptions } from '../../core/contracts/network';

export const ERR_NET_SINGLE_INSTANCE = defineError('ERR_NET_SINGLE_INSTANCE', 'forbidden', 'only one instance of "%s" network is allowed');

export abstract class SingleNetworkDriver {
  private network: string | undefined;

  abstract type(): string;

  isBuiltIn(): boolean {
    return true;
  }

  async createNetwork(nid: string, _opts?: NetworkCreateOptions): Promise<void> {
    if (this.network !== undefined && this.network !== nid) throw ERR_NET_SINGLE_INSTANCE(this.type());
    this.network = nid;
  }

  async deleteNetwork(nid: string): Promise<void> {
    if (this.network === nid) this.network = undefined;
  }
}
