/**
 * OCI bundles for tests: a busybox rootfs built from the host's static
 * /bin/busybox (one symlink per applet) and a config.json with Docker's
 * defaults (moby `oci.DefaultLinuxSpec`: mounts, masked and read-only paths,
 * the 14 default capabilities, pid/mount/uts/ipc/network namespaces, device
 * cgroup rules). Every test shapes its probe through {@link BundleOptions}
 * and gets a directory it owns; removing the directory removes everything.
 *
 * The rootfs is world-readable (0755 all the way down from the bundle) so a
 * container whose root is an unprivileged host uid (user namespaces) can
 * still reach it.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Docker's default capability set (bounding = effective = permitted). */
export const DOCKER_DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL',
  'CAP_AUDIT_WRITE',
];
/** The same set as /proc/self/status prints it. */
export const DOCKER_DEFAULT_CAP_MASK = '00000000a80425fb';

export const DOCKER_MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats',
  '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware',
  '/sys/devices/virtual/powercap',
];
export const DOCKER_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

export interface BundleOptions {
  /** process.args; default ['sh']. */
  args?: string[];
  env?: string[];
  cwd?: string;
  hostname?: string;
  terminal?: boolean;
  readonlyRoot?: boolean;
  /** linux.cgroupsPath; default none (the runtime chooses). */
  cgroupsPath?: string;
  resources?: Record<string, unknown>;
  /** Map container 0..size-1 to host uid/gid start.. (adds a user namespace). */
  userns?: { hostId: number; size: number };
  /** Extra mounts appended after Docker's defaults. */
  mounts?: OciMount[];
  /** Remove the network namespace (use the host's). */
  hostNetwork?: boolean;
  /** Add a cgroup namespace. */
  cgroupns?: boolean;
  /** Last word on the config before it is written. */
  edit?: (config: Record<string, any>) => void;
}

export interface Bundle {
  dir: string;
  rootfs: string;
  config: Record<string, any>;
  /** Rewrites config.json after changing `config`. */
  save(): void;
}

let appletCache: string[] | undefined;
function applets(): string[] {
  if (!appletCache) {
    const out = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' });
    appletCache = out.split('\n').map((s) => s.trim()).filter((s) => /^[a-z0-9_.[-]+$/i.test(s) && s !== 'busybox');
  }
  return appletCache;
}

/** Builds the busybox rootfs in `rootfs` (created). */
export function makeBusyboxRootfs(rootfs: string): void {
  for (const d of ['bin', 'dev', 'proc', 'sys', 'etc', 'tmp', 'root', 'var', 'usr', 'data']) {
    fs.mkdirSync(path.join(rootfs, d), { recursive: true, mode: 0o755 });
  }
  fs.chmodSync(path.join(rootfs, 'tmp'), 0o1777);
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const a of applets()) {
    const p = path.join(rootfs, 'bin', a);
    if (!fs.existsSync(p)) fs.symlinkSync('busybox', p);
  }
  fs.writeFileSync(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  fs.writeFileSync(path.join(rootfs, 'etc', 'group'), 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n');
}

/** Docker's default Linux spec for `args`, as moby builds it. */
export function dockerDefaultConfig(args: string[]): Record<string, any> {
  return {
    ociVersion: '1.0.2',
    root: { path: 'rootfs', readonly: false },
    hostname: 'berth-test',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root'],
      cwd: '/',
      capabilities: {
        bounding: [...DOCKER_DEFAULT_CAPS],
        effective: [...DOCKER_DEFAULT_CAPS],
        permitted: [...DOCKER_DEFAULT_CAPS],
      },
      noNewPrivileges: false,
    },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=67108864'] },
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [...DOCKER_MASKED_PATHS],
      readonlyPaths: [...DOCKER_READONLY_PATHS],
      resources: {
        devices: [
          { allow: false, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' },
          { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
          { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
          { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
          { allow: true, type: 'c', major: 136, minor: -1, access: 'rwm' },
          { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' },
        ],
      },
    },
  };
}

/** Creates `dir` (mode 0755) holding rootfs/ and config.json. */
export function makeBundle(dir: string, opts: BundleOptions = {}): Bundle {
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, 0o755);
  const rootfs = path.join(dir, 'rootfs');
  makeBusyboxRootfs(rootfs);
  const config = dockerDefaultConfig(opts.args ?? ['sh']);
  if (opts.env) config.process.env.push(...opts.env);
  if (opts.cwd) config.process.cwd = opts.cwd;
  if (opts.hostname) config.hostname = opts.hostname;
  if (opts.terminal) config.process.terminal = true;
  if (opts.readonlyRoot) config.root.readonly = true;
  if (opts.cgroupsPath) config.linux.cgroupsPath = opts.cgroupsPath;
  if (opts.resources) Object.assign(config.linux.resources, opts.resources);
  if (opts.hostNetwork) config.linux.namespaces = config.linux.namespaces.filter((n: { type: string }) => n.type !== 'network');
  if (opts.cgroupns) config.linux.namespaces.push({ type: 'cgroup' });
  if (opts.userns) {
    config.linux.namespaces.push({ type: 'user' });
    config.linux.uidMappings = [{ containerID: 0, hostID: opts.userns.hostId, size: opts.userns.size }];
    config.linux.gidMappings = [{ containerID: 0, hostID: opts.userns.hostId, size: opts.userns.size }];
  }
  if (opts.mounts) config.mounts.push(...opts.mounts);
  opts.edit?.(config);
  const b: Bundle = {
    dir,
    rootfs,
    config,
    save() {
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
    },
  };
  b.save();
  return b;
}
