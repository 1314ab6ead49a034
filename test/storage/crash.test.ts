/**
 * Crash safety of the storage drivers: a child process runs prepare/commit/view/remove in a loop
 * and is SIGKILLed at varied moments, many times. After every kill, from a fresh driver instance:
 * walk lists only complete snapshots (each one's layer dir exists, its mounts compute, its
 * parent exists), the base layer is intact, and cleanup() leaves nothing but the snapshots the
 * index names. Runs against overlay and vfs (vfs copies the parent, so kills land mid-copy).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { isCleaner, type StorageDriver } from '../../core/contracts/storage';
import { buildTar, type TarEntry } from '../../core/testsuite/tar';
import { OverlayDriver } from '../../plugins/storage/overlay/overlay';
import { VfsDriver } from '../../plugins/storage/vfs/vfs';
import { buildChildren } from '../kernel/fixtures/store-build';

const KILLS = Number(process.env.BERTH_STORAGE_CRASH_KILLS ?? 20);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-storage-crash-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const build = buildChildren(path.join(tmp, 'build'), ['test/storage/fixtures/crash-child.ts']);
const script = path.join(build.outDir, 'test', 'storage', 'fixtures', 'crash-child.js');

/** Runs the child until it printed `steps` step lines, or `ms` after it is ready, then SIGKILLs it. */
function runAndKill(kind: string, root: string, steps: number, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, kind, root], { env: build.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let killed = false;
    const kill = () => {
      if (!killed) {
        killed = true;
        child.kill('SIGKILL');
      }
    };
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!timer && out.startsWith('ready\n')) timer = setTimeout(kill, ms);
      if (out.split('\n').length > steps + 1) kill();
    });
    const guard = setTimeout(kill, 20_000);
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(guard);
      if (signal !== 'SIGKILL') reject(new Error(`child exited ${code}: ${err}`));
      else resolve(out);
    });
  });
}

async function check(t: Test, d: StorageDriver & { snapDir: string }, baseFiles: number): Promise<void> {
  const names = new Set<string>();
  let bad = 0;
  await d.walk(async (info) => {
    names.add(info.name);
    if (info.parent !== '' && !names.has(info.parent) && info.parent !== 'base') bad++;
    const m = await d.mounts(info.name);
    if (m.length !== 1) bad++;
    const src = m[0]!.type === 'bind' ? m[0]!.source : (m[0]!.options.find((o) => o.startsWith('upperdir=')) ?? `upperdir=${m[0]!.options.find((o) => o.startsWith('lowerdir='))!.slice(9).split(':')[0]}`).slice(9);
    if (!fs.existsSync(src)) bad++;
  });
  t.equal(bad, 0, 'every listed snapshot is complete');
  t.ok(names.has('base'), 'base still listed');
  if (isCleaner(d)) await d.cleanup();
  const issues = await (d as unknown as { check(): Promise<Array<{ kind: string; path: string }>> }).check();
  t.same(issues, [], 'check() finds nothing after cleanup');
  const u = await d.usage('base');
  t.equal(u.inodes, baseFiles + 1, 'base layer intact');
  let count = 0;
  await d.walk(() => { count++; });
  const dirs = fs.readdirSync(d.snapDir);
  t.equal(dirs.length, count, `after cleanup: ${dirs.length} dirs for ${count} snapshots`);
}

for (const kind of ['overlay', 'vfs'] as const) {
  t.test(`${kind}: SIGKILL during snapshot operations`, async (t) => {
    const root = path.join(tmp, kind);
    const make = () => (kind === 'vfs' ? new VfsDriver(root) : new OverlayDriver(root));
    const d0 = make();
    const files: TarEntry[] = Array.from({ length: 400 }, (_, i) => ({ name: `f${i}`, data: Buffer.alloc(2000, i) }));
    await d0.prepare('x', '');
    await d0.apply('x', Readable.from([buildTar(files)]));
    await d0.commit('base', 'x');
    let total = 0;
    for (let i = 0; i < KILLS; i++) {
      const out = await runAndKill(kind, root, 1 + (i % 9), (i * 67) % (kind === 'vfs' ? 900 : 300));
      total += Math.max(0, out.split('\n').length - 2);
      await check(t, make(), files.length);
    }
    t.ok(total > 0, `${total} steps completed across ${KILLS} kills`);
  });
}
