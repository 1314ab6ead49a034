/**
 * bench/run.ts — container start and exec latency, side by side in one run, plus the memory
 * berth keeps per running container.
 *
 *   npx tsc -p tsconfig.build.json && node --import=@tapjs/typescript/... (or: npx tsx) bench/run.ts [N]
 *   simplest: node -r ./node_modules/@tapjs/typescript/... — see README; the CI uses:
 *   node --experimental-strip-types is not available on Node 20, so run it through tap's loader:
 *     node --import=file://$PWD/node_modules/@tapjs/typescript/dist/esm/import.mjs bench/run.ts 20
 *
 * Figures (whole-process wall time, median/min/max over N runs after 3 warm-ups, like the anchors):
 *   berth run   `berth run --rm --network none bb true`
 *   berth exec  `berth exec ID true` into `berth run -d --network none bb sleep 1000`
 *   raw runtime `RUNTIME run --bundle B ID` of a busybox bundle (the floor any engine pays)
 * Memory: the RSS of berth-owned processes (monitors) with 0 and with 10 containers running.
 * Ratios are quoted against the anchors in /work/shared/anchors/RESULTS.md (docker run 0.251 s,
 * podman run 0.164 s, crun 0.012 s, docker exec 0.066 s).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, cleanupRoot, makeBusyboxRootfs, makeBusyboxTar } from '../test/helpers/busybox-rootfs';

const ANCHOR = { dockerRun: 0.251, podmanRun: 0.164, crun: 0.012, runc: 0.034, dockerExec: 0.066 };

function time(cmd: string[], opts: { expect?: number } = {}): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if ((r.status ?? 255) !== (opts.expect ?? 0)) throw new Error(`${cmd.join(' ')} exited ${r.status}: ${r.stderr}`);
  return s;
}

function stats(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]! };
}

function measure(name: string, n: number, fn: () => number): { name: string; median: number; min: number; max: number } {
  for (let i = 0; i < 3; i++) fn();
  const xs: number[] = [];
  for (let i = 0; i < n; i++) xs.push(fn());
  return { name, ...stats(xs) };
}

function rssKiB(pid: string): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** RSS of every process whose command line mentions the state root (monitors, runtimes, CLIs). */
function berthRss(root: string): { count: number; kib: number } {
  let count = 0;
  let kib = 0;
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let cmd: string;
    try { cmd = readFileSync(`/proc/${p}/cmdline`, 'latin1'); } catch { continue; }
    if (!cmd.includes(root)) continue;
    count++;
    kib += rssKiB(p);
  }
  return { count, kib };
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 20);
  const tmp = mkdtempSync(join(tmpdir(), 'berth-bench-'));
  const root = join(tmp, 'root');
  const berth = (...a: string[]) => [process.execPath, BIN, '--root', root, ...a];
  const out: string[] = [];
  try {
    execFileSync(process.execPath, [BIN, '--root', root, 'import', makeBusyboxTar(tmp), 'bb:latest'], { stdio: 'ignore' });
    const rows = [];
    rows.push(measure('for scale: berth --version (Node + CLI floor)', n, () => time([process.execPath, BIN, '--version'])));
    rows.push(measure('for scale: berth ps (engine open, no container)', n, () => time(berth('ps'))));
    rows.push(measure('berth run --rm --network none bb true', n, () => time(berth('run', '--rm', '--network', 'none', 'bb', 'true'))));
    const id = execFileSync(process.execPath, [BIN, '--root', root, 'run', '-d', '--network', 'none', 'bb', 'sleep', '1000']).toString().trim();
    rows.push(measure('berth exec ID true', n, () => time(berth('exec', id, 'true'))));
    // raw runtimes on a bundle of the same rootfs
    const bundle = join(tmp, 'bundle');
    mkdirSync(bundle, { recursive: true });
    const rootfs = makeBusyboxRootfs(tmp);
    for (const rt of ['crun', 'runc']) {
      const path = spawnSync('sh', ['-c', `command -v ${rt}`]).stdout.toString().trim();
      if (!path) continue;
      execFileSync(path, ['spec'], { cwd: bundle });
      const cfg = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { process: { terminal: boolean; args: string[] }; root: { path: string } };
      cfg.process.terminal = false;
      cfg.process.args = ['/bin/true'];
      cfg.root.path = rootfs;
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(cfg));
      rmSync(join(bundle, 'config.json.bak'), { force: true });
      let i = 0;
      try {
        rows.push(measure(`raw ${rt} run of a bundle`, n, () => time([path, '--root', join(tmp, `rt-${rt}`), 'run', '--bundle', bundle, `bench-${rt}-${process.pid}-${i++}`])));
      } catch (e) {
        out.push(`raw ${rt}: cannot run here: ${(e as Error).message.split('\n')[0]!.slice(0, 200)}`);
      }
      rmSync(join(bundle, 'config.json'), { force: true });
    }
    // memory
    execFileSync(process.execPath, [BIN, '--root', root, 'rm', '-f', id], { stdio: 'ignore' });
    const idle = berthRss(root);
    const ids: string[] = [];
    for (let k = 0; k < 10; k++) ids.push(execFileSync(process.execPath, [BIN, '--root', root, 'run', '-d', 'bb', 'sleep', '1000']).toString().trim());
    const busy = berthRss(root);
    execFileSync(process.execPath, [BIN, '--root', root, 'rm', '-f', ...ids], { stdio: 'ignore' });

    out.unshift(
      `berth bench, ${new Date().toISOString()}, N=${n} (3 warm-ups), load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
      '',
      '| figure | median s | min | max | vs anchors |',
      '|---|---|---|---|---|',
      ...rows.map((r) => {
        let vs = '';
        if (r.name.startsWith('berth run')) vs = `${(r.median / ANCHOR.dockerRun).toFixed(2)}× docker run (0.251), ${(r.median / ANCHOR.podmanRun).toFixed(2)}× podman (0.164)`;
        else if (r.name.startsWith('berth exec')) vs = `${(r.median / ANCHOR.dockerExec).toFixed(2)}× docker exec (0.066)`;
        else if (r.name.includes('crun')) vs = `anchor crun 0.012`;
        else if (r.name.includes('runc')) vs = `anchor runc 0.034`;
        return `| ${r.name} | ${r.median.toFixed(3)} | ${r.min.toFixed(3)} | ${r.max.toFixed(3)} | ${vs} |`;
      }),
      '',
      `memory: no container running: ${idle.count} berth processes, ${idle.kib} KiB RSS`,
      `memory: 10 containers running: ${busy.count} berth processes, ${busy.kib} KiB RSS = ${(busy.kib / 10 / 1024).toFixed(2)} MiB per container (target ≤ 2 MiB; conmon ≈ 2 MiB, docker shim ≈ 13 MiB)`,
    );
    const text = out.join('\n') + '\n';
    process.stdout.write(text);
    mkdirSync(join(__dirname, 'results'), { recursive: true });
    writeFileSync(join(__dirname, 'results', `run-${Date.now()}.md`), text);
  } finally {
    await cleanupRoot(root).catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  }
}

void main();
