/**
 * bench/run.ts — container start and exec latency, side by side in one run (contenders take turns
 * run by run, so they share whatever else the host is doing), plus the memory berth keeps per
 * running container.
 *
 *   node --import=file://$PWD/node_modules/@tapjs/typescript/dist/esm/import.mjs bench/run.ts [N]
 *
 * Contenders (each skipped with the reason when it cannot run here):
 *   berth (oci)   `berth run --rm --network none bb true` with the default backend (runc here)
 *   berth (ns)    the same with `isolation: ns` (berth-nsrun, berth's own runtime)
 *   docker        docker.io's dockerd started for the bench only: its own --data-root, socket and
 *                 exec root under the bench dir, `--iptables=false --bridge=none --ip-forward=false`
 *                 (nothing on the host's firewall, links or forwarding), stopped and removed at the end
 *   podman        `podman --root/--runroot <bench dir> --runtime runc` (crun refuses this hybrid
 *                 cgroup host unless the host is changed, which the bench does not do), with
 *                 NOFILE/NPROC ulimits this host allows (root lacks CAP_SYS_RESOURCE here)
 *   raw runc      `runc run --bundle B ID` of the same busybox rootfs: the floor runc itself costs
 * exec: `exec ID true` into a `sleep` container of each engine; berth's default enters through
 *   berth-nsrun (`exec --join-pid`), `exec: runtime` through `runc exec`.
 *
 * Figures: whole-process wall time from outside (spawnSync), median/min/max over N runs after 3
 * warm-ups. Everything lives under /var/lib/berth-bench-run (the ext4 root like /var/lib/docker;
 * /tmp on this VM is much slower for file creation). NODE_EXTRA_CA_CERTS, which this host sets
 * for every process (Node then parses its certificates at start-up, ≈ 30 ms), is removed from
 * berth's environment, as on a machine that does not set it; the output says so.
 * Ratios are against the contenders measured in the same run; the anchors' figures
 * (/work/shared/anchors/RESULTS.md: docker run 0.251 s, podman 0.164 s, docker exec 0.066 s) are
 * printed for reference.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, cleanupRoot, makeBusyboxRootfs, makeBusyboxTar } from '../test/helpers/busybox-rootfs';
import { startDockerd, type PrivateDockerd } from '../test/helpers/dockerd';

const ANCHOR = { dockerRun: 0.251, podmanRun: 0.164, dockerExec: 0.066 };
const DIR = process.env.BENCH_DIR ?? '/var/lib/berth-bench-run';

const env: NodeJS.ProcessEnv = { ...process.env };
const strippedCa = env.NODE_EXTRA_CA_CERTS !== undefined;
delete env.NODE_EXTRA_CA_CERTS;
delete env.BERTH_HOST;
delete env.NODE_OPTIONS;

interface Contender { name: string; cmd: string[]; expect?: number; env?: NodeJS.ProcessEnv }
interface Row { name: string; median: number; min: number; max: number; n: number }

function time(c: Contender): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(c.cmd[0]!, c.cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: c.env ?? env });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if ((r.status ?? 255) !== (c.expect ?? 0)) throw new Error(`${c.cmd.join(' ')} exited ${r.status}: ${String(r.stderr).slice(0, 300)}`);
  return s;
}

function stats(name: string, xs: number[]): Row {
  const s = [...xs].sort((a, b) => a - b);
  return { name, median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

/** Round-robin: every contender once per round, N rounds after 3 warm-up rounds. */
function sideBySide(n: number, cs: Contender[]): Row[] {
  for (let i = 0; i < 3; i++) for (const c of cs) time(c);
  const xs = cs.map(() => [] as number[]);
  for (let i = 0; i < n; i++) cs.forEach((c, k) => xs[k]!.push(time(c)));
  return cs.map((c, k) => stats(c.name, xs[k]!));
}

function sh(cmd: string[], cmdEnv: NodeJS.ProcessEnv = env): string {
  return execFileSync(cmd[0]!, cmd.slice(1), { env: cmdEnv, stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
}

function which(name: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { env: { ...env, PATH: `${env.PATH}:/usr/sbin:/sbin` } });
  return r.status === 0 ? r.stdout.toString().trim() : undefined;
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
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const root = join(DIR, 'root');
  const nsCfg = join(DIR, 'ns.yaml');
  const rtExecCfg = join(DIR, 'oci-runtime-exec.yaml');
  writeFileSync(nsCfg, 'isolation: ns\n');
  writeFileSync(rtExecCfg, 'plugins:\n  oci: { exec: runtime }\n');
  const berth = (...a: string[]) => [process.execPath, BIN, '--root', root, ...a];
  const notes: string[] = [];
  const cleanups: Array<() => Promise<void> | void> = [];
  try {
    const tar = makeBusyboxTar(DIR);
    sh(berth('import', tar, 'bb:latest'));
    const runs: Contender[] = [
      { name: 'berth run (oci, runc)', cmd: berth('run', '--rm', '--network', 'none', 'bb', 'true') },
      { name: 'berth run (ns, berth-nsrun)', cmd: berth('--config', nsCfg, 'run', '--rm', '--network', 'none', 'bb', 'true') },
    ];
    const execs: Contender[] = [];
    const ociId = sh(berth('run', '-d', '--network', 'none', 'bb', 'sleep', '1000'));
    const nsId = sh(berth('--config', nsCfg, 'run', '-d', '--network', 'none', 'bb', 'sleep', '1000'));
    execs.push({ name: 'berth exec (oci; enters with berth-nsrun)', cmd: berth('exec', ociId, 'true') });
    execs.push({ name: 'berth exec (oci; exec: runtime = runc exec)', cmd: berth('--config', rtExecCfg, 'exec', ociId, 'true') });
    execs.push({ name: 'berth exec (ns)', cmd: berth('--config', nsCfg, 'exec', nsId, 'true') });

    let docker: PrivateDockerd | string;
    try {
      docker = await startDockerd(join(DIR, 'docker'), env);
    } catch (e) {
      docker = (e as Error).message;
    }
    if (typeof docker === 'string') notes.push(`docker: skipped: ${docker}`);
    else {
      const d = docker;
      cleanups.push(async () => {
        spawnSync(d.cli[0]!, [...d.cli.slice(1), 'rm', '-f', ...sh([...d.cli, 'ps', '-aq'], d.env).split('\n').filter(Boolean)], { env: d.env, stdio: 'ignore' });
        await d.stop();
      });
      sh([...d.cli, 'import', tar, 'bb'], d.env);
      runs.push({ name: 'docker run', cmd: [...d.cli, 'run', '--rm', '--network', 'none', 'bb', 'true'], env: d.env });
      const id = sh([...d.cli, 'run', '-d', '--network', 'none', 'bb', 'sleep', '1000'], d.env);
      execs.push({ name: 'docker exec', cmd: [...d.cli, 'exec', id, 'true'], env: d.env });
    }
    const podman = which('podman');
    if (!podman) notes.push('podman: skipped: not installed (apt-get install podman)');
    else {
      const p = [podman, '--root', join(DIR, 'podman'), '--runroot', join(DIR, 'podman-run'), '--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none'];
      cleanups.push(() => {
        spawnSync(p[0]!, [...p.slice(1), 'rm', '-af', '-t', '0'], { env, stdio: 'ignore' });
        spawnSync(p[0]!, [...p.slice(1), 'system', 'reset', '-f'], { env, stdio: 'ignore' });
      });
      try {
        sh([...p, 'import', tar, 'bb']);
        // Root here lacks CAP_SYS_RESOURCE: podman's default NOFILE/NPROC limits (1048576) cannot
        // be set, so give its containers the largest this host allows (what the anchors did).
        const hard = (flag: string) => sh(['bash', '-c', `ulimit -H${flag}`]);
        const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
        const nproc = hard('u') === 'unlimited' ? pidMax : Math.min(Number(hard('u')), pidMax);
        const nofile = hard('n') === 'unlimited' ? 1048576 : Number(hard('n'));
        const ul = ['--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', `nproc=${nproc}:${nproc}`];
        time({ name: 'probe', cmd: [...p, 'run', '--rm', ...ul, '--network', 'none', 'bb', 'true'] });
        runs.push({ name: 'podman run (runc)', cmd: [...p, 'run', '--rm', ...ul, '--network', 'none', 'bb', 'true'] });
        const id = sh([...p, 'run', '-d', ...ul, '--network', 'none', 'bb', 'sleep', '1000']);
        execs.push({ name: 'podman exec', cmd: [...p, 'exec', id, 'true'] });
      } catch (e) {
        notes.push(`podman: skipped: ${(e as Error).message.split('\n')[0]!.slice(0, 200)}`);
      }
    }
    // raw runc on a bundle of the same rootfs
    const runc = which('runc');
    if (runc) {
      const bundle = join(DIR, 'bundle');
      mkdirSync(bundle, { recursive: true });
      execFileSync(runc, ['spec'], { cwd: bundle });
      const cfg = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { process: { terminal: boolean; args: string[] }; root: { path: string } };
      cfg.process.terminal = false;
      cfg.process.args = ['/bin/true'];
      cfg.root.path = makeBusyboxRootfs(DIR);
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(cfg));
      let i = 0;
      runs.push({ name: 'raw runc run of a bundle', get cmd() { return [runc, '--root', join(DIR, 'rt-runc'), 'run', '--bundle', bundle, `bench-${process.pid}-${i++}`]; } } as Contender);
    }

    const runRows = sideBySide(n, runs);
    const execRows = sideBySide(n, execs);

    // memory
    sh(berth('rm', '-f', ociId, nsId));
    // Removed containers' directories are freed by a detached `rm -rf` of the root's trash
    // (core/store/trash.ts): transient, not resident; let it finish before sampling.
    spawnSync('sleep', ['0.5']);
    const idle = berthRss(root);
    const ids: string[] = [];
    for (let k = 0; k < 10; k++) ids.push(sh(berth('run', '-d', 'bb', 'sleep', '1000')));
    const busy = berthRss(root);
    sh(berth('rm', '-f', ...ids));

    const ref = (rows: Row[], name: string) => rows.find((r) => r.name.startsWith(name));
    const ratio = (r: Row, other: Row | undefined, label: string) => (other ? `${(r.median / other.median).toFixed(2)}× ${label}` : '');
    const table = (rows: Row[], kind: 'run' | 'exec') => rows.map((r) => {
      const vs: string[] = [];
      if (r.name.startsWith('berth')) {
        if (kind === 'run') vs.push(ratio(r, ref(rows, 'docker run'), 'docker'), ratio(r, ref(rows, 'podman run'), 'podman'));
        else vs.push(ratio(r, ref(rows, 'docker exec'), 'docker'), ratio(r, ref(rows, 'podman exec'), 'podman'));
      }
      return `| ${r.name} | ${r.median.toFixed(3)} | ${r.min.toFixed(3)} | ${r.max.toFixed(3)} | ${vs.filter(Boolean).join(', ')} |`;
    });
    const out = [
      `berth bench (run/exec), ${new Date().toISOString()}, N=${n} per contender (3 warm-up rounds, contenders in turn), load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
      strippedCa ? 'NODE_EXTRA_CA_CERTS was set in this environment and is removed for every contender (it costs each Node start ≈ 30 ms).' : '',
      '',
      '| figure | median s | min | max | ratio (same run) |',
      '|---|---|---|---|---|',
      ...table(runRows, 'run'),
      ...table(execRows, 'exec'),
      '',
      `anchors (another day): docker run ${ANCHOR.dockerRun}, podman run ${ANCHOR.podmanRun} (crun), docker exec ${ANCHOR.dockerExec}`,
      ...notes,
      `memory: no container running: ${idle.count} berth processes, ${idle.kib} KiB RSS`,
      `memory: 10 containers running: ${busy.count} berth processes, ${busy.kib} KiB RSS = ${(busy.kib / 10 / 1024).toFixed(2)} MiB per container (target ≤ 2 MiB)`,
    ].filter((l, i, a) => l !== '' || a[i - 1] !== '');
    const text = out.join('\n') + '\n';
    process.stdout.write(text);
    mkdirSync(join(__dirname, 'results'), { recursive: true });
    writeFileSync(join(__dirname, 'results', `run-${Date.now()}.md`), text);
  } finally {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    await cleanupRoot(root).catch(() => undefined);
    rmSync(DIR, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
