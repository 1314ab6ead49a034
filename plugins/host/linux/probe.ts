/**
 * Probes what this Linux host offers. Cheap facts come from /proc and /sys; link types are
 * probed for real by creating each kind of link inside a throwaway network namespace made by a
 * child `unshare -n` (the namespace dies with the child, leaving nothing behind). Results are
 * cached per boot (keyed by /proc/sys/kernel/random/boot_id) because the probes cost ~50 ms.
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, existsSync, accessSync, constants } from 'node:fs';
import { promisify } from 'node:util';
import * as os from 'node:os';
import type { HostFeatures, CgroupMode } from '../../../core/contracts/host';

const pexec = promisify(execFile);

const OCI_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

export function ociArch(nodeArch: string = process.arch): string {
  return OCI_ARCH[nodeArch] ?? nodeArch;
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Finds an executable on PATH (plus the sbin directories root's PATH may lack). */
export function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = `${d}/${name}`;
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

export function probeCgroups(mounts = read('/proc/mounts')): HostFeatures['cgroup'] {
  const v1: string[] = [];
  let v2Mount: string | undefined;
  for (const line of mounts.split('\n')) {
    const [, target, fstype, options] = line.split(' ');
    if (fstype === 'cgroup' && options) {
      for (const o of options.split(',')) if (!['rw', 'ro', 'relatime', 'nosuid', 'nodev', 'noexec'].includes(o) && !o.startsWith('name=')) v1.push(o);
    } else if (fstype === 'cgroup2' && target) v2Mount = target;
  }
  const v2Controllers = v2Mount ? read(`${v2Mount}/cgroup.controllers`).trim().split(/\s+/).filter(Boolean) : [];
  let mode: CgroupMode = 'none';
  if (v1.length && v2Mount) mode = 'hybrid';
  else if (v1.length) mode = 'v1';
  else if (v2Mount) mode = 'v2';
  return { mode, v1Controllers: [...new Set(v1)].sort(), v2Controllers, ...(v2Mount ? { v2Mount } : {}) };
}

async function version(bin: string, args: string[] = ['--version']): Promise<string> {
  try {
    const { stdout, stderr } = await pexec(bin, args, { timeout: 3000 });
    return (stdout || stderr).split('\n')[0]!.trim();
  } catch {
    return 'unknown';
  }
}

/** Creates a link of each type in a throwaway netns; true when the kernel accepted it. */
async function probeLinkTypes(): Promise<Record<string, boolean>> {
  const unshare = which('unshare');
  const ip = which('ip');
  const types = ['veth', 'bridge', 'macvlan', 'ipvlan', 'vxlan', 'dummy'];
  const out: Record<string, boolean> = {};
  if (!unshare || !ip || process.getuid?.() !== 0) {
    for (const t of types) out[t] = false;
    return out;
  }
  // One child for all probes: each command's status is echoed so one failure does not hide others.
  const cmds: Record<string, string> = {
    veth: 'ip link add p0 type veth peer name p1',
    bridge: 'ip link add b0 type bridge',
    macvlan: 'ip link add m0 link lo type macvlan mode bridge',
    ipvlan: 'ip link add i0 link lo type ipvlan mode l2',
    vxlan: 'ip link add x0 type vxlan id 42 dstport 4789',
    dummy: 'ip link add d0 type dummy',
  };
  // macvlan/ipvlan need an ethernet parent: use the veth made first when available.
  cmds.macvlan = 'ip link add m0 link p0 type macvlan mode bridge';
  cmds.ipvlan = 'ip link add i0 link p0 type ipvlan mode l2';
  const script = types.map((t) => `${cmds[t]} >/dev/null 2>&1 && echo ${t}=1 || echo ${t}=0`).join('; ');
  try {
    const { stdout } = await pexec(unshare, ['-n', 'sh', '-c', script], { timeout: 5000 });
    for (const line of stdout.split('\n')) {
      const [k, v] = line.split('=');
      if (k) out[k] = v === '1';
    }
  } catch {
    /* unshare failed: leave false */
  }
  for (const t of types) out[t] ??= false;
  return out;
}

export async function probeHost(): Promise<HostFeatures> {
  const ns = existsSync('/proc/self/ns') ? readdirSync('/proc/self/ns').filter((n) => !n.endsWith('_for_children')).sort() : [];
  const tools: Record<string, string> = {};
  for (const t of ['unshare', 'nsenter', 'setpriv', 'ip', 'mount', 'umount', 'iptables', 'nft', 'tini', 'catatonit', 'conmon', 'newuidmap']) {
    const p = which(t);
    if (p) tools[t] = p;
  }
  const runtimes: Record<string, string> = {};
  const runtimeProbes = ['crun', 'runc', 'youki'].map(async (r) => {
    const p = which(r);
    if (p) runtimes[r] = `${p} (${await version(p)})`;
  });
  const firewall: HostFeatures['firewall'] = {};
  const fwProbes = [
    tools.iptables ? version(tools.iptables).then((v) => (firewall.iptables = v)) : undefined,
    tools.nft ? version(tools.nft, ['--version']).then((v) => (firewall.nft = v)) : undefined,
  ];
  const [linkTypes] = await Promise.all([probeLinkTypes(), ...runtimeProbes, ...fwProbes]);
  return {
    kernel: os.release(),
    arch: ociArch(),
    os: 'linux',
    namespaces: ns,
    cgroup: probeCgroups(),
    overlayfs: /\toverlay$/m.test(read('/proc/filesystems')),
    firewall,
    linkTypes,
    runtimes,
    tools,
    userns: { maxUserNamespaces: Number(read('/proc/sys/user/max_user_namespaces').trim() || 0), subuid: existsSync('/etc/subuid') },
    isRoot: process.getuid?.() === 0,
  };
}

export function bootId(): string {
  return read('/proc/sys/kernel/random/boot_id').trim() || 'unknown';
}
