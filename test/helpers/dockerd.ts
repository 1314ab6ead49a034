/**
 * A private Docker engine for interop tests and side-by-side benchmarks: Debian's dockerd
 * (docker.io) started with its own data root, exec root, pid file and socket under `base`, and
 * nothing on the host's network: no iptables rules, no bridge, no IP forwarding, no masquerade,
 * no userland proxy. The docker CLI talks to it through `cli` (with `DOCKER_CONFIG` under `base`,
 * so ~/.docker is never read or written).
 *
 *   const d = await startDockerd('/var/lib/berth-bench/docker');   // throws with the log's tail
 *   spawnSync(d.cli[0], [...d.cli.slice(1), 'load', '-i', tar], { env: d.env });
 *   await d.stop();   // SIGTERM (SIGKILL after 20 s), its containerd, mounts under base
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';

export const DOCKERD = ['/usr/sbin/dockerd', '/usr/bin/dockerd'].find((p) => fs.existsSync(p));
export const DOCKER = ['/usr/bin/docker', '/usr/local/bin/docker'].find((p) => fs.existsSync(p));

export interface PrivateDockerd {
  sock: string;
  /** argv prefix of the docker CLI bound to this engine. */
  cli: string[];
  /** Environment for `cli` (DOCKER_CONFIG under base; no NODE_* variables). */
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/** Lazily unmounts whatever is mounted under `dir` (deepest first), with umount(8). */
export function unmountUnder(dir: string): void {
  const info = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const points = info.split('\n').map((l) => l.split(' ')[4]).filter((p): p is string => !!p && (p === dir || p.startsWith(`${dir}/`)));
  for (const p of points.sort().reverse()) spawnSync('umount', ['-l', p], { stdio: 'ignore' });
}

export async function startDockerd(base: string, env: NodeJS.ProcessEnv = process.env): Promise<PrivateDockerd> {
  if (!DOCKERD || !DOCKER) throw new Error('docker.io is not installed (apt-get install docker.io)');
  fs.mkdirSync(join(base, 'run'), { recursive: true });
  const sock = join(base, 'docker.sock');
  const logFile = join(base, 'dockerd.log');
  const log = fs.openSync(logFile, 'a');
  const child = spawn(DOCKERD, [
    '--data-root', join(base, 'data'), '--exec-root', join(base, 'run'), '--pidfile', join(base, 'dockerd.pid'),
    '-H', `unix://${sock}`, '--storage-driver', 'overlay2',
    // dockerd would switch net.ipv4.ip_forward on and add rules and a bridge by default.
    '--iptables=false', '--ip6tables=false', '--ip-forward=false', '--ip-masq=false', '--bridge=none', '--userland-proxy=false',
    '--log-level=warn',
  ], { env, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const cliEnv: NodeJS.ProcessEnv = { ...env, DOCKER_CONFIG: join(base, 'cli') };
  delete cliEnv.NODE_OPTIONS;
  const containerdPid = (): number | undefined => {
    try {
      return Number(fs.readFileSync(join(base, 'run', 'containerd', 'containerd.pid'), 'utf8').trim()) || undefined;
    } catch {
      return undefined;
    }
  };
  const stop = async (): Promise<void> => {
    const cpid = containerdPid();
    try { process.kill(child.pid!, 'SIGTERM'); } catch { /* gone */ }
    const t = setTimeout(() => { try { process.kill(child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 20_000);
    if (child.exitCode === null && child.signalCode === null) await exited;
    clearTimeout(t);
    // dockerd stops the containerd it started; make sure (by its pid, nothing else).
    for (let i = 0; cpid !== undefined && i < 40; i++) {
      try { process.kill(cpid, i === 20 ? 'SIGKILL' : 0); } catch { break; }
      await new Promise((r) => setTimeout(r, 250));
    }
    unmountUnder(base);
  };
  const d: PrivateDockerd = { sock, cli: [DOCKER, '-H', `unix://${sock}`], env: cliEnv, stop };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && child.exitCode === null) {
    if (spawnSync(DOCKER, ['-H', `unix://${sock}`, 'version', '--format', '{{.Server.Version}}'], { env: cliEnv, stdio: 'ignore' }).status === 0) return d;
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  const tail = fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join(' | ');
  throw new Error(`dockerd did not come up: ${tail}`);
}
