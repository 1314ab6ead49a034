/**
 * Test probe: a root filesystem made from Debian's static busybox (/bin/busybox), the way the
 * anchors' `bb` image is made, so container tests need no registry and no network.
 *
 *   const dir = makeBusyboxRootfs(tmp);                  // <tmp>/rootfs with every applet linked
 *   const tar = makeBusyboxTar(tmp);                     // the same as an uncompressed tarball
 *   await importBusyboxImage(berth, tmp, 'bb:latest');   // `berth import` of that tarball
 *
 * Also a CLI driver bound to one state root: `const b = berthCli(root); await b(['ps', '-a'])`.
 */
import { cleanEnv } from './cli';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync, existsSync, copyFileSync, chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(__dirname, '..', '..');
export const BIN = join(REPO, 'bin', 'berth');

export function makeBusyboxRootfs(parent: string): string {
  const root = join(parent, 'rootfs');
  if (existsSync(join(root, 'bin', 'busybox'))) return root;
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'home/user', 'var/log', 'run']) mkdirSync(join(root, d), { recursive: true });
  chmodSync(join(root, 'tmp'), 0o1777);
  copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  const applets = execFileSync('/bin/busybox', ['--list']).toString().split('\n').filter((a) => a && a !== 'busybox');
  for (const a of applets) {
    try { symlinkSync('busybox', join(root, 'bin', a)); } catch { /* exists */ }
  }
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nuser:x:1000:\nstaff:x:50:user\nnogroup:x:65534:\n');
  return root;
}

export function makeBusyboxTar(parent: string): string {
  const root = makeBusyboxRootfs(parent);
  const tar = join(parent, 'busybox.tar');
  if (!existsSync(tar)) execFileSync('tar', ['--numeric-owner', '-C', root, '-cf', tar, '.']);
  return tar;
}

export interface CliResult { code: number; stdout: string; stderr: string }

/** Runs the built CLI (`node bin/berth --root ROOT …`). */
export function berthCli(root: string) {
  return (args: string[], opts: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CliResult> =>
    new Promise((res, rej) => {
      const c = spawn(process.execPath, [BIN, '--root', root, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...cleanEnv(), ...(opts.env ?? {}) } });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      c.stdout.on('data', (d: Buffer) => out.push(d));
      c.stderr.on('data', (d: Buffer) => err.push(d));
      const t = setTimeout(() => c.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
      c.on('error', rej);
      c.on('close', (code, sig) => {
        clearTimeout(t);
        res({ code: code ?? (sig ? 128 + 9 : 255), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
      });
      c.stdin.end(opts.input ?? '');
    });
}

export async function importBusyboxImage(root: string, parent: string, ref = 'bb:latest'): Promise<void> {
  const r = await berthCli(root)(['import', makeBusyboxTar(parent), ref]);
  if (r.code !== 0) throw new Error(`berth import failed (${r.code}): ${r.stderr}`);
}

/** True when dist/ holds a build of the CLI (integration tests need `npm run build`). */
export function haveBuild(): boolean {
  return existsSync(join(REPO, 'dist', 'cli', 'main.js'));
}

/**
 * Best-effort cleanup of a state root: force-removes every container through the CLI, runs the
 * containers' prune (mounts, cgroups, leftovers), then the caller removes the directory.
 */
export async function cleanupRoot(root: string): Promise<void> {
  const b = berthCli(root);
  const ids = (await b(['ps', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean);
  if (ids.length) await b(['rm', '-f', ...ids]);
  await b(['container', 'prune', '-f']);
  // Unmount anything left under the root (lazy), deepest first.
  try {
    const { readFileSync } = require('node:fs') as typeof import('node:fs');
    const mps = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m): m is string => !!m && m.startsWith(root + '/'));
    for (const m of mps.sort().reverse()) try { execFileSync('umount', ['-l', m]); } catch { /* gone */ }
  } catch { /* no procfs */ }
}

/**
 * A fresh state root for one test file: a temp dir holding `root/`, a CLI bound to it, and a
 * teardown that removes every container, mount and cgroup of the root, then the dir.
 */
export function busyboxRoot(t: { teardown(fn: () => unknown): void }, prefix: string): { tmp: string; root: string; b: ReturnType<typeof berthCli> } {
  const tmp = mkdtempSync(join(tmpdir(), prefix));
  const root = join(tmp, 'root');
  t.teardown(async () => {
    await cleanupRoot(root);
    rmSync(tmp, { recursive: true, force: true });
  });
  return { tmp, root, b: berthCli(root) };
}
