/**
 * Contract: the host — facts about the machine and the one seam for side effects.
 *
 * Vocabulary
 * - *features*: what the kernel and userland offer (namespaces, cgroup layout, overlayfs,
 *   firewall tools, link types, OCI runtimes). Probed once per engine start by the host plugin
 *   (`berth.host.v1`), cached, shown by `berth info` and explained by `berth doctor`.
 * - *host ops*: every command that changes the host (mount, ip, iptables/nft, cgroup writes,
 *   spawning helpers) goes through `HostOps.exec`. Unit tests hand plugins a recording fake
 *   (`core/testsuite/fake-host.ts`) and assert on the calls; integration tests use the real one.
 *
 * Lifecycle
 *   const host = ctx.get<HostPlugin>(PluginType.Host);
 *   if (!host.features.overlayfs) throw new PluginSkipError('overlayfs missing', 'modprobe overlay');
 *   await host.ops.exec('mount', ['-t', 'overlay', 'overlay', '-o', opts, target]);
 *
 * The core never probes Linux itself: it only knows this interface.
 */
export type CgroupMode = 'v1' | 'v2' | 'hybrid' | 'none';

export interface HostFeatures {
  kernel: string;
  arch: string;            // OCI arch name: amd64, arm64 …
  os: string;              // linux
  /** Namespace kinds the kernel offers (from /proc/self/ns). */
  namespaces: string[];
  cgroup: {
    mode: CgroupMode;
    /** v1 controllers mounted as their own hierarchies. */
    v1Controllers: string[];
    /** Controllers the cgroup2 mount holds (on hybrid hosts this breaks crun 1.8). */
    v2Controllers: string[];
    v2Mount?: string;
  };
  overlayfs: boolean;
  firewall: { iptables?: string; nft?: string };
  /** Link types the kernel offers: veth, bridge, macvlan, ipvlan, vxlan, dummy. */
  linkTypes: Record<string, boolean>;
  /** OCI runtimes found on PATH with their versions. */
  runtimes: Record<string, string>;
  /** Helper tools found on PATH (unshare, nsenter, ip, mount, …). */
  tools: Record<string, string>;
  userns: { maxUserNamespaces: number; subuid: boolean };
  isRoot: boolean;
}

export interface ExecResult { code: number; stdout: string; stderr: string; signal?: string }

export interface ExecOptions {
  input?: string | Uint8Array;
  env?: Record<string, string>;
  cwd?: string;
  /** Do not throw when the exit code is not 0. */
  allowFail?: boolean;
  timeoutMs?: number;
}

/** The side-effect seam. Implementations must not run namespace syscalls in the Node process. */
export interface HostOps {
  exec(file: string, args: string[], opts?: ExecOptions): Promise<ExecResult>;
}

export interface HostPlugin {
  readonly features: HostFeatures;
  readonly ops: HostOps;
}
