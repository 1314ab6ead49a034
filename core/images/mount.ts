/**
 * Mounting a snapshot's `Mount[]` (see contracts/storage.ts) at a target directory, always with
 * mount(8)/umount(8) in child processes — never a mount syscall in the Node process.
 *
 * Vocabulary
 * - *mount spec*: `{type, source, options}` as a storage driver returns it. `bind` specs become
 *   `mount -o rbind[,ro] SOURCE TARGET` (util-linux turns `bind,ro` into bind + read-only
 *   remount); anything else `mount -t TYPE -o OPTIONS SOURCE TARGET`.
 * - *long options*: the kernel takes mount options in one page (4096 bytes). An overlay with many
 *   layers exceeds that with absolute paths, so when the option string is too long the helper
 *   runs mount(8) with its working directory at the longest common parent of every path option
 *   (lowerdir/upperdir/workdir) and passes the paths relative to it (what containerd does).
 *
 * Lifecycle
 *   await mountAll(await driver.mounts(key), '/run/berth/c1/rootfs');
 *   … use it …
 *   await unmountAll('/run/berth/c1/rootfs');
 *   // or: await withMounted(mounts, async (dir) => …)   temp dir, mounted, always unmounted/removed
 *
 * Every call takes an optional `HostOps` (the side-effect seam); the default spawns directly.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defineError } from '../errors';
import type { ExecOptions, ExecResult, HostOps } from '../contracts/host';
import type { Mount } from '../contracts/storage';

export const ERR_MOUNT_FAILED = defineError('ERR_MOUNT_FAILED', 'internal', 'mount %s on %s failed: %s');
export const ERR_MOUNT_OPTIONS_TOO_LONG = defineError('ERR_MOUNT_OPTIONS_TOO_LONG', 'invalidArgument', 'mount options for %s are %s bytes, more than the %s the kernel accepts even with relative paths');
export const ERR_UNMOUNT_FAILED = defineError('ERR_MOUNT_UNMOUNT_FAILED', 'internal', 'unmount %s failed: %s');

/** The kernel copies mount data in one page; leave room for the terminating NUL. */
export const MOUNT_OPTIONS_LIMIT = 4095;

const PATH_KEYS = ['lowerdir', 'upperdir', 'workdir'];

/** A HostOps that spawns directly (no shell). */
export const directOps: HostOps = {
  exec(file: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(opts.cwd ? { cwd: opts.cwd } : {}) });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', reject);
      child.on('close', (code, signal) => {
        const res: ExecResult = { code: code ?? 128, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ...(signal ? { signal } : {}) };
        if (res.code !== 0 && !opts.allowFail) reject(new Error(res.stderr.trim() || `${file} exited ${signal ?? code}`));
        else resolve(res);
      });
    });
  },
};

function commonDir(paths: string[]): string {
  let common = path.dirname(paths[0]!);
  for (const p of paths) {
    while (common !== '/' && !(p === common || p.startsWith(common + '/'))) common = path.dirname(common);
  }
  return common;
}

/**
 * The mount(8) arguments (and working directory) for one spec. Exported for unit tests: it
 * shortens long overlay options as described in the file comment.
 */
export function mountArgs(m: Mount, target: string): { args: string[]; cwd?: string } {
  if (m.type === 'bind') {
    const opts = m.options.filter((o) => o !== 'bind' && o !== 'rbind');
    const bind = m.options.includes('bind') && !m.options.includes('rbind') ? 'bind' : 'rbind';
    return { args: ['-o', [bind, ...opts].join(','), m.source, target] };
  }
  let joined = m.options.join(',');
  if (joined.length <= MOUNT_OPTIONS_LIMIT) return { args: ['-t', m.type, '-o', joined, m.source, target] };
  const all: string[] = [];
  for (const o of m.options) {
    const [k, v] = [o.slice(0, o.indexOf('=')), o.slice(o.indexOf('=') + 1)];
    if (PATH_KEYS.includes(k)) all.push(...v.split(':'));
  }
  if (all.length === 0 || all.some((p) => !path.isAbsolute(p))) throw ERR_MOUNT_OPTIONS_TOO_LONG(target, joined.length, MOUNT_OPTIONS_LIMIT);
  const cwd = commonDir(all);
  const rel = (p: string) => (cwd === '/' ? p.slice(1) : path.relative(cwd, p));
  const short = m.options.map((o) => {
    const i = o.indexOf('=');
    if (i < 0 || !PATH_KEYS.includes(o.slice(0, i))) return o;
    return `${o.slice(0, i)}=${o.slice(i + 1).split(':').map(rel).join(':')}`;
  });
  joined = short.join(',');
  if (joined.length > MOUNT_OPTIONS_LIMIT) throw ERR_MOUNT_OPTIONS_TOO_LONG(target, joined.length, MOUNT_OPTIONS_LIMIT);
  return { args: ['-t', m.type, '-o', joined, m.source, path.resolve(target)], cwd };
}

/** Mounts every spec at `target` (in order). On failure, what was mounted is unmounted. */
export async function mountAll(mounts: Mount[], target: string, ops: HostOps = directOps): Promise<void> {
  let done = 0;
  try {
    for (const m of mounts) {
      const { args, cwd } = mountArgs(m, m.target ? path.join(target, m.target) : target);
      try {
        await ops.exec('mount', args, cwd ? { cwd } : {});
      } catch (err) {
        throw ERR_MOUNT_FAILED.with({ cause: err }, m.type, target, (err as Error).message);
      }
      done++;
    }
  } catch (err) {
    if (done > 0) await unmountAll(target, ops).catch(() => undefined);
    throw err;
  }
}

/** Unmounts everything at and below `target` (`umount -R`); a target with nothing mounted is fine. */
export async function unmountAll(target: string, ops: HostOps = directOps): Promise<void> {
  const res = await ops.exec('umount', ['-R', target], { allowFail: true });
  if (res.code !== 0 && !/not mounted|no mount point/i.test(res.stderr)) throw ERR_UNMOUNT_FAILED(target, res.stderr.trim());
}

/**
 * Mounts `mounts` on a fresh temp directory (under `opts.dir`, default the OS temp dir), runs
 * `fn` with it, and always unmounts and removes the directory afterwards.
 */
export async function withMounted<T>(mounts: Mount[], fn: (dir: string) => Promise<T>, opts: { dir?: string; ops?: HostOps } = {}): Promise<T> {
  const base = opts.dir ?? os.tmpdir();
  fs.mkdirSync(base, { recursive: true });
  const dir = fs.mkdtempSync(path.join(base, 'berth-mnt-'));
  const ops = opts.ops ?? directOps;
  try {
    await mountAll(mounts, dir, ops);
    try {
      return await fn(dir);
    } finally {
      await unmountAll(dir, ops);
    }
  } finally {
    fs.rmdirSync(dir);
  }
}

/** True when `target` is a mount point of this mount namespace (per /proc/self/mountinfo). */
export function isMounted(target: string): boolean {
  try {
    const info = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    const esc = target.replace(/ /g, '\\040');
    return info.split('\n').some((l) => l.split(' ')[4] === esc);
  } catch {
    return false;
  }
}

/** Lazily unmounts `target` with umount(8) (never in the Node process) when it is mounted. */
export async function unmountIfMounted(target: string, ops: HostOps = directOps): Promise<void> {
  if (!isMounted(target)) return;
  await ops.exec('umount', ['-l', target], { allowFail: true }).catch(() => undefined);
}
