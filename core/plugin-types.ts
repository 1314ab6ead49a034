/**
 * The plugin types berth knows, as versioned reverse-DNS-like strings.
 *
 * A plugin's *type* says which contract it implements; its *id* names the implementation
 * (`overlay`, `bridge`, `oci`). `uri = type + '.' + id` is unique in a running engine.
 * Third-party plugins should copy these strings rather than import this module: the strings are
 * the contract, and a new major version of a contract gets a new string (`…v2`).
 */
export const PluginType = {
  /** Host facts and the side-effect seam (mount/ip/iptables/spawn). See contracts/host.ts. */
  Host: 'berth.host.v1',
  /** Snapshot-based storage drivers (overlay, vfs). See contracts/storage.ts. */
  Storage: 'berth.storage.v1',
  /** Registry transports (resolve/fetch/push). See contracts/image-transport.ts. */
  ImageTransport: 'berth.transport.v1',
  /** Isolation backends (oci runtime, built-in ns). See contracts/isolation.ts. */
  Isolation: 'berth.isolation.v1',
  /** Network drivers (bridge, host, none, macvlan, …). See contracts/network.ts. */
  Network: 'berth.network.v1',
  /** IP address management. See contracts/ipam.ts. */
  Ipam: 'berth.ipam.v1',
  /** Volume drivers (local, remote). See contracts/volume.ts. */
  Volume: 'berth.volume.v1',
  /** Codecs for hashing and decompression (wasm, native). */
  Codec: 'berth.codec.v1',
} as const;

export type PluginTypeName = (typeof PluginType)[keyof typeof PluginType];

export const ALL_PLUGIN_TYPES: readonly PluginTypeName[] = Object.values(PluginType);

export function isKnownPluginType(t: string): t is PluginTypeName {
  return (ALL_PLUGIN_TYPES as readonly string[]).includes(t);
}
