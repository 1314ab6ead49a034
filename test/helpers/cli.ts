/**
 * Runs the built berth CLI (dist/, made by `npm run build` — `npm test` builds first) as a child
 * process, each test with its own state root.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';

export const REPO = resolve(__dirname, '../..');

/**
 * The environment for berth processes a test starts: tap's NODE_OPTIONS (an ESM loader hook)
 * must not leak into the CLI or into the monitors it leaves running — Node 20 can deadlock in a
 * `require()` of an ES module while such a hook is active.
 */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  // A developer's BERTH_HOST would send every test's commands to their engine (cli/remote.ts).
  delete env.BERTH_HOST;
  return env;
}
export const BERTH = `${REPO}/bin/berth`;

export interface RunResult { code: number; stdout: string; stderr: string }

export function berth(args: string[], opts: { root?: string; input?: string | Buffer; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
  const argv = opts.root ? ['--root', opts.root, ...args] : args;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BERTH, ...argv], {
      env: { ...cleanEnv(), ...(opts.env ?? {}) },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 120_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

/** A fresh state root removed when the test ends. */
export async function tempRoot(t: { teardown(fn: () => unknown): void }, prefix = 'berth-test-'): Promise<string> {
  const dir = await mkdtemp(`${tmpdir()}/${prefix}`);
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
