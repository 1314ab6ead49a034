/**
 * `berth serve` (the Docker Engine API, plugins/api-docker) for integration tests: started on a
 * socket in a test's directory over a given state root, stopped (SIGTERM) when the test ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { BERTH, cleanEnv } from './cli';

export interface Served { sock: string; child: ChildProcess; stderr: () => string; stop(): Promise<number | null> }

/** Starts `berth serve --log-requests` on `dir`/berth.sock over `root`; resolves once it listens. */
export async function serve(t: { teardown(fn: () => unknown): void }, root: string, dir: string): Promise<Served> {
  const sock = join(dir, 'berth.sock');
  const child = spawn(process.execPath, [BERTH, '--root', root, 'serve', '-H', `unix://${sock}`, '--log-requests'], { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };
  t.teardown(stop);
  const until = Date.now() + 30_000;
  while (!/listening on/.test(stderr)) {
    if (child.exitCode !== null) throw new Error(`berth serve exited ${child.exitCode}: ${stderr}`);
    if (Date.now() > until) throw new Error(`berth serve did not come up: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { sock, child, stderr: () => stderr, stop };
}
