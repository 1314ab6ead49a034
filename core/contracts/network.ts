/**
 * Contract: network drivers (`berth.network.v1`), after libnetwork's CNM.
 *
 * Vocabulary
 * - *network* (nid): a named broadcast domain created by a driver (a Linux bridge, a macvlan
 *   parent, nothing at all for `none`). Created once, joined by many endpoints.
 * - *endpoint* (eid): one container's attachment to one network: an interface, addresses from
 *   IPAM, a MAC. Created before the container starts, deleted after it stops.
 * - *sandbox* (sboxKey): the container's network namespace, named by a path (`/run/netns/…`).
 *   `join` moves the endpoint's interface into it and configures routes and DNS; `leave` undoes it.
 *
 * Lifecycle
 *   createNetwork(nid, opts, ipv4Data) → createEndpoint(nid, eid, iface) → join(nid, eid, sboxKey, joinInfo)
 *   … container runs … → leave(nid, eid) → deleteEndpoint(nid, eid) → deleteNetwork(nid)
 *
 * Drivers report results through the narrow setter objects they are handed (`iface.setIPAddress`,
 * `join.setGateway`) instead of returning large structs. Every delete is idempotent: deleting
 * what is not there succeeds. Namespace work happens in child processes (see HostOps).
 * Optional capabilities (port publishing, external connectivity) are separate interfaces with
 * type guards below.
 */
export interface InterfaceInfo {
  setMacAddress(mac: string): void;
  setIPAddress(cidr: string): void;
  readonly address?: string;
  readonly macAddress?: string;
}

export interface JoinInfo {
  setGateway(ip: string): void;
  addStaticRoute(destination: string, nextHop: string): void;
  setNames(srcName: string, dstPrefix: string): void;
  /** Extra /etc/hosts and resolv.conf facts. */
  setDns?(servers: string[], search: string[]): void;
}

export interface NetworkCreateOptions {
  name: string;
  options: Record<string, string>;
  labels: Record<string, string>;
  internal: boolean;
  ipv4?: { pool: string; gateway: string };
}

export interface EndpointOperInfo { [key: string]: unknown }

export interface NetworkDriver {
  /** The driver name users type (`bridge`, `host`, `none`, `macvlan`). */
  type(): string;
  isBuiltIn(): boolean;
  createNetwork(nid: string, opts: NetworkCreateOptions): Promise<void>;
  deleteNetwork(nid: string): Promise<void>;
  createEndpoint(nid: string, eid: string, iface: InterfaceInfo, options: Record<string, unknown>): Promise<void>;
  deleteEndpoint(nid: string, eid: string): Promise<void>;
  endpointInfo(nid: string, eid: string): Promise<EndpointOperInfo>;
  join(nid: string, eid: string, sboxKey: string, info: JoinInfo, options: Record<string, unknown>): Promise<void>;
  leave(nid: string, eid: string): Promise<void>;
}

export interface PortBinding { hostIp: string; hostPort: number; containerPort: number; proto: 'tcp' | 'udp' | 'sctp' }

/** Optional: the driver publishes ports (`-p`). */
export interface PortPublisher {
  publishPorts(nid: string, eid: string, bindings: PortBinding[]): Promise<PortBinding[]>;
  unpublishPorts(nid: string, eid: string): Promise<void>;
}

export function isPortPublisher(d: unknown): d is PortPublisher {
  return typeof (d as PortPublisher | undefined)?.publishPorts === 'function' && typeof (d as PortPublisher).unpublishPorts === 'function';
}
