/**
 * Docker run options → an OCI runtime `config.json`, with Docker's defaults.
 *
 * Vocabulary
 * - *ContainerConfig* / *HostConfig*: the Docker Engine API shapes (`Config`, `HostConfig` of
 *   `POST /containers/create`), which `berth run` flags are parsed into and `inspect` shows.
 * - *image config*: the OCI image config's `config` object (Env, Cmd, Entrypoint, WorkingDir,
 *   User, StopSignal, Labels…), merged under the user's options as Docker does.
 * - *OCI spec*: the runtime config, limited to the fields listed in
 *   plugins/isolation/oci/README.md so that every backend (crun, runc, berth-nsrun) honours it.
 *
 * Docker's defaults reproduced here (moby oci/defaults.go, daemon/oci_linux.go): namespaces
 * mount, network, uts, pid, ipc (+cgroup on v2); the 14 default capabilities; masked and
 * read-only /proc and /sys paths; /proc /dev /dev/pts /dev/shm (64 MiB) /dev/mqueue /sys
 * /sys/fs/cgroup mounts; the device cgroup allow-list; /etc/hostname, /etc/hosts and
 * /etc/resolv.conf bind-mounted from the container directory; no rlimits unless --ulimit;
 * noNewPrivileges only with --security-opt no-new-privileges. Not reproduced: the default
 * seccomp profile (see docs/decisions/042-container-spec.md).
 *
 * Everything here is pure (no I/O except `statDevice` and `lookupUser`, which take their
 * readers as arguments), so it is unit-tested without root.
 */
import { defineError } from '../errors';

export const ERR_CONTAINER_NO_COMMAND = defineError('ERR_CONTAINER_NO_COMMAND', 'invalidArgument', 'no command specified');
export const ERR_CONTAINER_BAD_OPTION = defineError('ERR_CONTAINER_INVALID_OPTION', 'invalidArgument', 'invalid %s: %s');
export const ERR_CONTAINER_PORTS = defineError('ERR_CONTAINER_PORTS_UNSUPPORTED', 'notImplemented', 'publishing ports (%s) needs a network plugin (bridge), which this build does not have yet; use --network host');
export const ERR_CONTAINER_NETWORK = defineError('ERR_CONTAINER_NETWORK_UNSUPPORTED', 'notImplemented', 'network mode %s is not available yet: use --network none or --network host');
export const ERR_CONTAINER_USER = defineError('ERR_CONTAINER_USER_NOT_FOUND', 'invalidArgument', 'unable to find user %s: no matching entries in passwd file');

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Docker's default capability set (moby oci/caps/defaults.go). */
export const DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** Every capability by number (linux/capability.h), for --privileged and --cap-add ALL. */
export const ALL_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW',
  'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD',
  'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

export const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const SIGNALS: Record<string, number> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, IOT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11, USR2: 12, PIPE: 13, ALRM: 14,
  TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22, URG: 23, XCPU: 24, XFSZ: 25, VTALRM: 26,
  PROF: 27, WINCH: 28, IO: 29, POLL: 29, PWR: 30, SYS: 31,
};

/** Normalises `TERM`, `SIGTERM`, `15`, `RTMIN+3` → `SIGTERM`/number form; throws on nonsense. */
export function parseSignal(s: string): { name: string; num: number } {
  const t = s.trim().toUpperCase().replace(/^SIG/, '');
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n < 1 || n > 64) throw ERR_CONTAINER_BAD_OPTION('signal', s);
    const name = Object.entries(SIGNALS).find(([, v]) => v === n)?.[0];
    return { name: name ? `SIG${name}` : String(n), num: n };
  }
  const rt = /^RTMIN(?:\+(\d+))?$/.exec(t) ?? /^RTMAX(?:-(\d+))?$/.exec(t);
  if (rt) {
    const n = t.startsWith('RTMIN') ? 34 + Number(rt[1] ?? 0) : 64 - Number(rt[1] ?? 0);
    return { name: `SIG${t}`, num: n };
  }
  const num = SIGNALS[t];
  if (num === undefined) throw ERR_CONTAINER_BAD_OPTION('signal', s);
  return { name: `SIG${t}`, num };
}

export interface RestartPolicy { Name: '' | 'no' | 'always' | 'unless-stopped' | 'on-failure'; MaximumRetryCount: number }

export function parseRestart(s: string | undefined): RestartPolicy {
  if (!s || s === 'no') return { Name: 'no', MaximumRetryCount: 0 };
  const [name, max] = s.split(':');
  if (name === 'always' || name === 'unless-stopped') {
    if (max !== undefined) throw ERR_CONTAINER_BAD_OPTION('restart policy', `maximum retry count cannot be used with restart policy '${name}'`);
    return { Name: name, MaximumRetryCount: 0 };
  }
  if (name === 'on-failure') {
    const n = max === undefined ? 0 : Number(max);
    if (!Number.isInteger(n) || n < 0) throw ERR_CONTAINER_BAD_OPTION('restart policy', s);
    return { Name: 'on-failure', MaximumRetryCount: n };
  }
  throw ERR_CONTAINER_BAD_OPTION('restart policy', s);
}

export function restartString(p: RestartPolicy): string {
  if (p.Name === 'on-failure') return p.MaximumRetryCount > 0 ? `on-failure:${p.MaximumRetryCount}` : 'on-failure';
  return p.Name || 'no';
}

const UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Docker's RAMInBytes: `64m`, `1g`, `512k`, `1024` (bytes). */
export function parseBytes(s: string, what = 'size'): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt])?b?$/i.exec(s.trim());
  if (!m) throw ERR_CONTAINER_BAD_OPTION(what, s);
  return Math.round(Number(m[1]) * UNITS[(m[2] ?? 'b').toLowerCase()]!);
}

export interface Ulimit { Name: string; Soft: number; Hard: number }

export function parseUlimit(s: string): Ulimit {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(s);
  const known = ['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack', 'as'];
  if (!m || !known.includes(m[1]!)) throw ERR_CONTAINER_BAD_OPTION('ulimit', s);
  const soft = Number(m[2]);
  const hard = m[3] === undefined ? soft : Number(m[3]);
  if (soft > hard && hard !== -1) throw ERR_CONTAINER_BAD_OPTION('ulimit', `${s}: soft limit must be less than or equal to hard limit`);
  return { Name: m[1]!, Soft: soft, Hard: hard };
}

export interface DeviceMapping { PathOnHost: string; PathInContainer: string; CgroupPermissions: string }

export function parseDevice(s: string): DeviceMapping {
  const parts = s.split(':');
  const host = parts[0]!;
  let inCtr = host;
  let perms = 'rwm';
  if (parts.length === 2) {
    if (/^[rwm]+$/.test(parts[1]!)) perms = parts[1]!;
    else inCtr = parts[1]!;
  } else if (parts.length === 3) {
    inCtr = parts[1]!;
    perms = parts[2]!;
  } else if (parts.length > 3) throw ERR_CONTAINER_BAD_OPTION('device', s);
  if (!host.startsWith('/') || !inCtr.startsWith('/') || !/^[rwm]+$/.test(perms)) throw ERR_CONTAINER_BAD_OPTION('device', s);
  return { PathOnHost: host, PathInContainer: inCtr, CgroupPermissions: perms };
}

/** The Docker Engine API `Config` object (the part berth uses). */
export interface ContainerConfig {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  ExposedPorts?: Record<string, object>;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[];
  Cmd: string[] | null;
  Image: string;
  Volumes: Record<string, object> | null;
  WorkingDir: string;
  Entrypoint: string[] | null;
  OnBuild: null;
  Labels: Record<string, string>;
  StopSignal?: string;
  StopTimeout?: number;
}

/** The Docker Engine API `HostConfig` object (the part berth uses). */
export interface HostConfig {
  Binds: string[] | null;
  NetworkMode: string;
  PortBindings: Record<string, Array<{ HostIp: string; HostPort: string }>>;
  RestartPolicy: RestartPolicy;
  AutoRemove: boolean;
  CapAdd: string[] | null;
  CapDrop: string[] | null;
  Privileged: boolean;
  ReadonlyRootfs: boolean;
  SecurityOpt: string[] | null;
  Tmpfs: Record<string, string>;
  UsernsMode: string;
  ShmSize: number;
  Init: boolean | null;
  Memory: number;
  MemorySwap: number;
  NanoCpus: number;
  CpuShares: number;
  CpusetCpus: string;
  PidsLimit: number | null;
  Devices: DeviceMapping[];
  Ulimits: Ulimit[];
  ConsoleSize: [number, number];
}

export function defaultHostConfig(): HostConfig {
  return {
    Binds: null, NetworkMode: 'none', PortBindings: {}, RestartPolicy: { Name: 'no', MaximumRetryCount: 0 }, AutoRemove: false,
    CapAdd: null, CapDrop: null, Privileged: false, ReadonlyRootfs: false, SecurityOpt: null, Tmpfs: {}, UsernsMode: '',
    ShmSize: 64 * 1024 * 1024, Init: null, Memory: 0, MemorySwap: 0, NanoCpus: 0, CpuShares: 0, CpusetCpus: '', PidsLimit: null,
    Devices: [], Ulimits: [], ConsoleSize: [0, 0],
  };
}

/** The OCI image config's `config` part. */
export interface ImageRuntimeConfig {
  Env?: string[];
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  WorkingDir?: string;
  User?: string;
  StopSignal?: string;
  Labels?: Record<string, string> | null;
  ExposedPorts?: Record<string, object>;
  Volumes?: Record<string, object> | null;
}

/** Merges env lists: later entries replace earlier ones with the same name. */
export function mergeEnv(...lists: string[][]): string[] {
  const m = new Map<string, string>();
  for (const list of lists) for (const e of list) {
    const i = e.indexOf('=');
    m.set(i < 0 ? e : e.slice(0, i), e);
  }
  return [...m.values()];
}

/** Docker's rule: args = (--entrypoint or image Entrypoint) + (user cmd, or image Cmd unless --entrypoint). */
export function resolveCommand(img: ImageRuntimeConfig, entrypoint: string[] | null | undefined, cmd: string[]): { entrypoint: string[] | null; cmd: string[] | null; args: string[] } {
  const ep = entrypoint !== undefined ? (entrypoint && entrypoint.length ? entrypoint : null) : (img.Entrypoint ?? null);
  const c = cmd.length ? cmd : entrypoint !== undefined ? null : (img.Cmd ?? null);
  const args = [...(ep ?? []), ...(c ?? [])];
  if (!args.length) throw ERR_CONTAINER_NO_COMMAND();
  return { entrypoint: ep, cmd: c, args };
}

/** Normalises a capability name: `net_admin` → `CAP_NET_ADMIN`; `ALL` stays. */
export function normCap(c: string): string {
  const u = c.trim().toUpperCase();
  if (u === 'ALL') return u;
  const n = u.startsWith('CAP_') ? u : `CAP_${u}`;
  if (!ALL_CAPS.includes(n)) throw ERR_CONTAINER_BAD_OPTION('capability', c);
  return n;
}

/**
 * The container's capability set. `hostBounding` (bit mask of the engine's own bounding set, from
 * /proc/self/status) limits --privileged and --cap-add ALL to what the host can grant, as
 * Docker does inside a restricted host.
 */
export function capabilitySet(hc: Pick<HostConfig, 'Privileged' | 'CapAdd' | 'CapDrop'>, hostBounding?: bigint): string[] {
  const all = hostBounding === undefined ? ALL_CAPS : ALL_CAPS.filter((_, i) => (hostBounding >> BigInt(i)) & 1n);
  if (hc.Privileged) return [...all];
  const add = (hc.CapAdd ?? []).map(normCap);
  const drop = (hc.CapDrop ?? []).map(normCap);
  let caps = add.includes('ALL') ? [...all] : [...DEFAULT_CAPS, ...add.filter((c) => !DEFAULT_CAPS.includes(c))];
  if (drop.includes('ALL')) caps = add.filter((c) => c !== 'ALL');
  else caps = caps.filter((c) => !drop.includes(c));
  return [...new Set(caps)];
}

export interface PasswdReader { (file: 'etc/passwd' | 'etc/group'): string | undefined }

/** Resolves Docker's `-u` forms (`name`, `uid`, `uid:gid`, `name:group`) against the image's files. */
export function lookupUser(spec: string, read: PasswdReader): { uid: number; gid: number; additionalGids: number[] } {
  if (!spec) return { uid: 0, gid: 0, additionalGids: [] };
  const [u, g] = spec.split(':') as [string, string | undefined];
  const passwd = (read('etc/passwd') ?? '').split('\n').map((l) => l.split(':'));
  const group = (read('etc/group') ?? '').split('\n').map((l) => l.split(':'));
  let uid: number;
  let gid = 0;
  let name: string | undefined;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    const ent = passwd.find((p) => p[2] === u);
    if (ent) { gid = Number(ent[3]); name = ent[0]; }
  } else {
    const ent = passwd.find((p) => p[0] === u);
    if (!ent) throw ERR_CONTAINER_USER(u);
    uid = Number(ent[2]);
    gid = Number(ent[3]);
    name = u;
  }
  if (g !== undefined) {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const ent = group.find((x) => x[0] === g);
      if (!ent) throw ERR_CONTAINER_BAD_OPTION('group', `unable to find group ${g}: no matching entries in group file`);
      gid = Number(ent[2]);
    }
  }
  const additionalGids = name ? group.filter((x) => (x[3] ?? '').split(',').includes(name!)).map((x) => Number(x[2])).filter((x) => x !== gid) : [];
  if (additionalGids.length) additionalGids.unshift(gid);
  return { uid, gid, additionalGids };
}

export interface SpecInput {
  id: string;
  config: ContainerConfig;
  hostConfig: HostConfig;
  /** Resolved process args. */
  args: string[];
  /** `bundle/rootfs` (relative) or an absolute directory (`--rootfs`). */
  rootPath: string;
  /** `/berth-<hash>/<id>`. */
  cgroupsPath: string;
  cgroupMode: 'v1' | 'v2' | 'hybrid' | 'none';
  user: { uid: number; gid: number; additionalGids: number[] };
  /** Container directory: hostname, hosts, resolv.conf live there. */
  dir: string;
  /** Absolute path of the init binary for --init (tini-static or catatonit). */
  initPath?: string;
  /** Host devices resolved by the caller (path = path in the container) for each --device. */
  devices: Array<{ path: string; type: 'c' | 'b'; major: number; minor: number; fileMode: number; uid: number; gid: number; permissions: string }>;
  /** Whether memory.memsw (swap accounting) exists on this host. */
  swapAccounting: boolean;
  /** false: the runtime cannot filter syscalls (no seccomp support); no profile is set. */
  seccomp?: boolean;
  /** The engine's capability bounding set (bit mask); --privileged gets no more than this. */
  hostBounding?: bigint;
  /** Host uid/gid range for --userns remap. */
  usernsRange?: { hostId: number; size: number };
}

/**
 * berth's default seccomp profile: Docker's default expressed as a block list (default allow;
 * EPERM for what Docker's profile does not allow an unprivileged container), keeping Docker's
 * capability exceptions (a container granted CAP_SYS_ADMIN may mount, and so on). Docker's own
 * profile is an allow list of ~350 syscalls; the effect on a default container is the same set of
 * refused calls (docs/decisions/042-container-spec.md). `--security-opt seccomp=unconfined` and
 * --privileged turn it off.
 */
const SECCOMP_BLOCK: Array<{ names: string[]; unlessCap?: string }> = [
  { names: ['acct'], unlessCap: 'CAP_SYS_PACCT' },
  { names: ['add_key', 'keyctl', 'request_key'] },
  { names: ['bpf', 'fanotify_init', 'lookup_dcookie', 'mount', 'mount_setattr', 'move_mount', 'name_to_handle_at', 'open_tree', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'perf_event_open', 'quotactl', 'quotactl_fd', 'setdomainname', 'sethostname', 'setns', 'syslog', 'umount', 'umount2', 'unshare', 'pivot_root', 'swapon', 'swapoff'], unlessCap: 'CAP_SYS_ADMIN' },
  { names: ['clock_adjtime', 'clock_settime', 'settimeofday', 'stime', 'adjtimex'], unlessCap: 'CAP_SYS_TIME' },
  { names: ['create_module', 'delete_module', 'finit_module', 'init_module', 'query_module', 'get_kernel_syms'], unlessCap: 'CAP_SYS_MODULE' },
  { names: ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node', 'move_pages'], unlessCap: 'CAP_SYS_NICE' },
  { names: ['ioperm', 'iopl'], unlessCap: 'CAP_SYS_RAWIO' },
  { names: ['kcmp', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace'], unlessCap: 'CAP_SYS_PTRACE' },
  { names: ['kexec_file_load', 'kexec_load', 'reboot'], unlessCap: 'CAP_SYS_BOOT' },
  { names: ['nfsservctl', 'sysfs', '_sysctl', 'uselib', 'userfaultfd', 'ustat', 'vm86', 'vm86old', 'open_by_handle_at'] },
];

export function defaultSeccomp(caps: string[]): Record<string, unknown> {
  const names = SECCOMP_BLOCK.filter((b) => !b.unlessCap || !caps.includes(b.unlessCap)).flatMap((b) => b.names);
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [{ names, action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
  };
}

const RLIMIT: Record<string, string> = {
  core: 'RLIMIT_CORE', cpu: 'RLIMIT_CPU', data: 'RLIMIT_DATA', fsize: 'RLIMIT_FSIZE', locks: 'RLIMIT_LOCKS', memlock: 'RLIMIT_MEMLOCK',
  msgqueue: 'RLIMIT_MSGQUEUE', nice: 'RLIMIT_NICE', nofile: 'RLIMIT_NOFILE', nproc: 'RLIMIT_NPROC', rss: 'RLIMIT_RSS', rtprio: 'RLIMIT_RTPRIO',
  rttime: 'RLIMIT_RTTIME', sigpending: 'RLIMIT_SIGPENDING', stack: 'RLIMIT_STACK', as: 'RLIMIT_AS',
};

/** Docker's device cgroup allow-list (after `deny all`). */
const DEFAULT_DEVICE_RULES = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
  { allow: true, type: 'c', major: 136, access: 'rwm' },
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' },
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
];

/** Builds the OCI runtime config for a container. */
export function buildOciSpec(i: SpecInput): Record<string, unknown> {
  const { config: c, hostConfig: hc } = i;
  const caps = capabilitySet(hc, i.hostBounding);
  const nnp = (hc.SecurityOpt ?? []).some((o) => /^no-new-privileges(?:[:=]true)?$/.test(o));
  const env = mergeEnv([DEFAULT_PATH], c.Env, [`HOSTNAME=${c.Hostname}`], c.Tty ? ['TERM=xterm'] : []);
  // Docker puts PATH first only when the image has none; keep the image's order otherwise.
  const args = hc.Init && i.initPath ? ['/sbin/docker-init', '--', ...i.args] : i.args;
  const mounts: Array<Record<string, unknown>> = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...(i.usernsRange ? [] : ['gid=5'])] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', hc.Privileged ? 'rw' : 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', hc.Privileged ? 'rw' : 'ro'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${hc.ShmSize || 64 * 1024 * 1024}`] },
  ];
  if (i.usernsRange) {
    // sysfs cannot be mounted from a user namespace that does not own the network namespace
    // in older kernels; a bind of the host's /sys is what runc documents for rootless.
    mounts[3] = { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] };
    mounts.splice(4, 1);
  }
  for (const f of ['hostname', 'hosts', 'resolv.conf']) {
    mounts.push({ destination: `/etc/${f}`, type: 'bind', source: `${i.dir}/${f}`, options: ['rbind', 'rprivate'] });
  }
  for (const [dest, opts] of Object.entries(hc.Tmpfs)) {
    if (!dest.startsWith('/')) throw ERR_CONTAINER_BAD_OPTION('tmpfs', dest);
    const user = opts ? opts.split(',').filter(Boolean) : [];
    const base = ['nosuid', 'nodev', 'noexec'].filter((o) => !user.includes(o.replace(/^no/, '')) && !user.includes(o));
    mounts.push({ destination: dest, type: 'tmpfs', source: 'tmpfs', options: [...base, ...user] });
  }
  if (hc.Init && i.initPath) mounts.push({ destination: '/sbin/docker-init', type: 'bind', source: i.initPath, options: ['rbind', 'ro'] });
  const namespaces: Array<{ type: string; path?: string }> = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (hc.NetworkMode === 'host') {
    // share the host's network namespace: no entry
  } else namespaces.push({ type: 'network' });
  if (i.cgroupMode === 'v2') namespaces.push({ type: 'cgroup' });
  if (i.usernsRange) namespaces.push({ type: 'user' });
  const resources: Record<string, unknown> = {
    devices: hc.Privileged ? [{ allow: true, access: 'rwm' }] : [
      ...DEFAULT_DEVICE_RULES,
      ...i.devices.map((d) => ({ allow: true, type: d.type, major: d.major, minor: d.minor, access: d.permissions })),
    ],
  };
  if (hc.Memory > 0) {
    const mem: Record<string, number> = { limit: hc.Memory };
    if (i.swapAccounting) {
      if (hc.MemorySwap === -1) mem.swap = -1;
      else mem.swap = hc.MemorySwap > 0 ? hc.MemorySwap : hc.Memory * 2;
    }
    resources.memory = mem;
  }
  const cpu: Record<string, unknown> = {};
  if (hc.NanoCpus > 0) { cpu.period = 100000; cpu.quota = Math.round((hc.NanoCpus / 1e9) * 100000); }
  if (hc.CpuShares > 0) cpu.shares = hc.CpuShares;
  if (hc.CpusetCpus) cpu.cpus = hc.CpusetCpus;
  if (Object.keys(cpu).length) resources.cpu = cpu;
  if (hc.PidsLimit !== null && hc.PidsLimit > 0) resources.pids = { limit: hc.PidsLimit };
  const linux: Record<string, unknown> = {
    namespaces,
    resources,
    cgroupsPath: i.cgroupsPath,
    devices: i.devices.map((d) => ({ path: d.path, type: d.type, major: d.major, minor: d.minor, fileMode: d.fileMode, uid: d.uid, gid: d.gid })),
  };
  if (!hc.Privileged) {
    linux.maskedPaths = MASKED_PATHS;
    linux.readonlyPaths = READONLY_PATHS;
    const unconfined = (hc.SecurityOpt ?? []).some((o) => /^seccomp[=:]unconfined$/.test(o));
    if (!unconfined && i.seccomp !== false) linux.seccomp = defaultSeccomp(caps);
  }
  if (i.usernsRange) {
    linux.uidMappings = [{ containerID: 0, hostID: i.usernsRange.hostId, size: i.usernsRange.size }];
    linux.gidMappings = [{ containerID: 0, hostID: i.usernsRange.hostId, size: i.usernsRange.size }];
  }
  const process: Record<string, unknown> = {
    terminal: c.Tty,
    user: i.user,
    args,
    env,
    cwd: c.WorkingDir || '/',
    capabilities: { bounding: caps, effective: caps, permitted: caps },
    noNewPrivileges: nnp,
    oomScoreAdj: 0,
  };
  if (c.Tty && hc.ConsoleSize[0] > 0) process.consoleSize = { height: hc.ConsoleSize[0], width: hc.ConsoleSize[1] };
  if (hc.Ulimits.length) process.rlimits = hc.Ulimits.map((u) => ({ type: RLIMIT[u.Name], soft: u.Soft < 0 ? 2 ** 64 - 1 : u.Soft, hard: u.Hard < 0 ? 2 ** 64 - 1 : u.Hard }));
  return {
    ociVersion: '1.0.2',
    process,
    root: { path: i.rootPath, readonly: hc.ReadonlyRootfs },
    hostname: c.Hostname,
    mounts,
    linux,
  };
}
