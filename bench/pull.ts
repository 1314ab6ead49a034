/**
 * bench/pull.ts — `berth pull` side by side with `docker pull`, `podman pull`, `skopeo copy` and a
 * `pigz -dc | tar -x` floor, from one local docker-registry, on an image like the anchors' `big`
 * (three layers of real host files: ~80 MB of shared libraries, ~70 MB of /usr/share, ~50 MB of
 * programs; gzip like `docker push`). Issue 4.
 *
 *   node --import=file://$PWD/node_modules/@tapjs/typescript/dist/esm/import.mjs bench/pull.ts
 *
 * Honest and side by side:
 * - every contender writes under one directory, BENCH_DIR (default /var/lib/berth-bench), which
 *   must be on the same filesystem as /var/lib/docker (checked): berth's state root, dockerd's
 *   `--data-root`, podman's `--root`, skopeo's destination, the tar floor's target. (On this VM
 *   file creation under /tmp can cost ~0.6 ms per file; Docker stores under /var/lib.)
 * - cold every run, nothing deleted while the bench runs (the default, "variant mode"): every
 *   timed run pulls an image of its own, `big` with layer blobs that differ only by a trailing
 *   gzip member of zero tar blocks (same files, own digests: see pushVariants), into a root or
 *   daemon that keeps what it pulled before; then `sync`, then the timed command (whole-process
 *   wall time from spawn to exit). Why not remove the previous copy: on this VM's ext4 (no
 *   journal) files created within minutes of a large removal can cost seconds of kernel time,
 *   and how much varies run to run and tool to tool (record 030, session 4). BENCH_DELETE=1 is
 *   the old mode: the previous copy is dropped before each run (`berth rmi -f` + rm of the root,
 *   then an untimed `berth info` initialises the fresh root as a running daemon is initialised;
 *   `docker rmi -f`, `podman rmi -f`, `rm -rf`); the removal is not timed. Registry blobs are served from the page
 *   cache for everyone (warm after the push). BENCH_DROP_CACHES=1 also drops the page cache
 *   (`echo 3 > /proc/sys/vm/drop_caches`, after the sync) before every timed run, for every
 *   contender alike: then the registry reads the blobs from disk and every binary starts cold.
 * - contenders alternate run by run (round r starts at contender r mod n).
 * - reported: per contender the median, min and max of the runs (≥ 7 by default) and every run;
 *   berth's ratio to each other contender as the ratio of the medians and, less sensitive to the
 *   other engineers' load drifting between rounds, the median of the per-round ratios; the load
 *   average before, after and at every run; the median CPU time of each contender's runs (the
 *   CLI process with its threads and children, plus dockerd's and its containerd's for docker:
 *   on this shared 2-core machine a pull is mostly CPU-bound). The table is also written to
 *   bench/results/pull-<date>.md (BENCH_RESULTS=0: not).
 * - dockerd (Debian's 20.10) is started for the bench only: its own data root, exec root, pid
 *   file and socket under BENCH_DIR, `--iptables=false --ip6tables=false --bridge=none
 *   --ip-forward=false`, storage overlay2; a loopback registry is insecure for dockerd by default.
 *   podman gets `--root`/`--runroot`/TMPDIR under BENCH_DIR and `--tls-verify=false`.
 * - everything is stopped and removed at the end, even on failure or Ctrl-C: dockerd (and the
 *   containerd it started) by pid, leftover mounts under BENCH_DIR, BENCH_DIR itself (the built
 *   image is kept only with BENCH_KEEP_IMAGE=1). Afterwards the bench checks that there is no
 *   docker0 link, that `iptables -S` is unchanged and that no mount is left under BENCH_DIR.
 * A contender that cannot run here is reported with its error and skipped; the rest goes on.
 *
 * - `berthc`: berth's own CLI as a client of that daemon (`berth -H unix://… pull -q`, cli/remote.ts).
 * - `berthd`: berth as a daemon, `berth serve` (record 060) started once and kept like dockerd,
 *   driven by the same docker CLI binary the docker contender uses: one client, two engines. Its
 *   CPU is the CLI's plus the server process's.
 * Environment: BENCH_RUNS (default 7), BENCH_COMPRESSION=zstd (zstd layers, `zstd -3`, instead of
 * gzip), BENCH_DELETE=1 (remove the previous copy before each run
 * instead of pulling variants), BENCH_ONLY=berth,berthd,berthc,docker,podman,skopeo,tar (subset),
 * BENCH_DRIVER (berth storage driver, default overlay), BENCH_BERTH (berth command, default
 * `node bin/berth`), BENCH_BERTH_BASE (a second berth command, e.g. a build of the previous
 * commit, run as one more contender `base` with its own root: before/after in the same run), BENCH_DIR, BENCH_KEEP_IMAGE,
 * BENCH_HOLD=N (no runs: push N variants, print the registry's address and keep it up until
 * Ctrl-C; for profiling single pulls by hand). NODE_EXTRA_CA_CERTS is unset for every child
 * (it costs each Node start ~30 ms on this host).
 */
import { execFileSync, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { startRegistry, type TestRegistry } from '../test/helpers/registry';
import { DOCKER, startDockerd, type PrivateDockerd } from '../test/helpers/dockerd';

const REPO = join(__dirname, '..');
const BENCH = process.env.BENCH_DIR ?? '/var/lib/berth-bench';
/** BENCH_COMPRESSION=zstd: the image's layers as zstd (`zstd -3`, OCI +zstd media type) instead of gzip (`pigz -6`). */
const COMPRESSION = process.env.BENCH_COMPRESSION === 'zstd' ? 'zstd' : 'gzip';
const IMAGE = join(BENCH, COMPRESSION === 'gzip' ? 'image' : `image-${COMPRESSION}`);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const DROP_CACHES = process.env.BENCH_DROP_CACHES === '1';
const ONLY = (process.env.BENCH_ONLY ?? 'berth,berthd,berthc,docker,podman,skopeo,tar').split(',').map((s) => s.trim()).filter(Boolean);
const DRIVER = process.env.BENCH_DRIVER ?? 'overlay';
const KEEP_IMAGE = process.env.BENCH_KEEP_IMAGE === '1';
const DELETE = process.env.BENCH_DELETE === '1';
const HOLD = Number(process.env.BENCH_HOLD ?? 0);
const ENV: NodeJS.ProcessEnv = { ...process.env };
delete ENV.NODE_EXTRA_CA_CERTS;
// each berth contender names its engine itself (a root, or -H for berthc)
delete ENV.BERTH_HOST;
delete ENV.NODE_OPTIONS;

function pick(src: string, budget: number, out: string[]): number {
  let used = 0;
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = fs.readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const n of names) {
      if (used >= budget) return;
      const p = join(dir, n);
      let st;
      try {
        st = fs.lstatSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p);
      else if (st.isFile() || st.isSymbolicLink()) {
        out.push(p.slice(1));
        used += st.isFile() ? st.size : 0;
      }
    }
  };
  walk(src);
  return used;
}

function sha(file: string): string {
  return 'sha256:' + execFileSync('sha256sum', [file]).toString().split(' ')[0];
}

/** Builds the OCI layout of `big` once (kept in BENCH_DIR/image while the bench runs). */
function buildBig(): void {
  if (fs.existsSync(join(IMAGE, 'index.json'))) return;
  fs.rmSync(IMAGE, { recursive: true, force: true });
  fs.mkdirSync(join(IMAGE, 'blobs/sha256'), { recursive: true });
  const work = fs.mkdtempSync(join(BENCH, 'build-'));
  const specs: Array<[string, number]> = [['/usr/lib/x86_64-linux-gnu', 80 << 20], ['/usr/share', 70 << 20], ['/usr/bin', 50 << 20]];
  const layers = [];
  const diffIds = [];
  for (const [i, [src, budget]] of specs.entries()) {
    const list: string[] = [];
    pick(src, budget, list);
    fs.writeFileSync(join(work, `list${i}`), list.join('\n') + '\n');
    const tar = join(work, `l${i}.tar`);
    execFileSync('tar', ['-cf', tar, '-C', '/', '--no-recursion', '--files-from', join(work, `list${i}`)], { stdio: 'ignore' });
    diffIds.push(sha(tar));
    if (COMPRESSION === 'zstd') execFileSync('zstd', ['-q', '-3', '-T0', '--rm', '-f', tar]);
    else execFileSync('pigz', ['-6', '-f', tar]);
    const packed = COMPRESSION === 'zstd' ? `${tar}.zst` : `${tar}.gz`;
    const d = sha(packed);
    fs.renameSync(packed, join(IMAGE, 'blobs/sha256', d.slice(7)));
    layers.push({ mediaType: `application/vnd.oci.image.layer.v1.tar+${COMPRESSION}`, digest: d, size: fs.lstatSync(join(IMAGE, 'blobs/sha256', d.slice(7))).size });
  }
  const put = (buf: Buffer) => {
    const f = join(work, 'blob');
    fs.writeFileSync(f, buf);
    const d = sha(f);
    fs.writeFileSync(join(IMAGE, 'blobs/sha256', d.slice(7)), buf);
    return { digest: d, size: buf.length };
  };
  const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/big/bin/true'] }, rootfs: { type: 'layers', diff_ids: diffIds }, history: specs.map(([s]) => ({ created_by: `COPY ${s}` })) })));
  const manifest = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers })));
  fs.writeFileSync(join(IMAGE, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(join(IMAGE, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }));
  fs.rmSync(work, { recursive: true, force: true });
}

/** The image a run pulls in variant mode: `big` with layers of its own (see pushVariants). */
function variantRef(host: string, k: number): string {
  return `${host}/big-v${k}:latest`;
}

/**
 * Pushes `n` variants of `big` (variant mode, the default). Each variant's layer blobs are the
 * base blobs with one more gzip member (zstd frame) of k+1 zero tar blocks appended: the same files, but
 * digests (compressed and uncompressed) of their own, so every contender pulls and unpacks every
 * layer in every run — and nothing is deleted until the end. Why: this VM's ext4 has no journal,
 * so inodes freed in the last 60–300 s are skipped (each checked by reading its inode table) when
 * files are created; a run right after removing the previous copy (`rmi`, BENCH_DELETE=1) can
 * spend seconds of kernel time on that, and how much depends on where each tool's new files land.
 */
function pushVariants(host: string, n: number): void {
  const index = JSON.parse(fs.readFileSync(join(IMAGE, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const blob = (d: string) => join(IMAGE, 'blobs/sha256', d.replace(/^sha256:/, ''));
  const manifest = JSON.parse(fs.readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as { config: { digest: string }; layers: Array<{ mediaType: string; digest: string; size: number }> };
  const config = JSON.parse(fs.readFileSync(blob(manifest.config.digest), 'utf8')) as { rootfs: { diff_ids: string[] } };
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  const { gunzipSync, gzipSync } = require('node:zlib') as typeof import('node:zlib');
  // The base tars' hash states, copied for each variant (the tars are ~200 MB: hashed once).
  const unpack = (file: string): Buffer => (COMPRESSION === 'zstd' ? execFileSync('zstd', ['-q', '-dc', file], { maxBuffer: 1 << 30 }) : gunzipSync(fs.readFileSync(file)));
  const tarHash = manifest.layers.map((l) => createHash('sha256').update(unpack(blob(l.digest))));
  const dir = fs.mkdtempSync(join(BENCH, 'variants-'));
  try {
    for (let k = 0; k < n; k++) {
      const out = join(dir, `v${k}`);
      fs.mkdirSync(join(out, 'blobs/sha256'), { recursive: true });
      const put = (bytes: Buffer): { digest: string; size: number } => {
        const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
        fs.writeFileSync(join(out, 'blobs/sha256', digest.slice(7)), bytes);
        return { digest, size: bytes.length };
      };
      const zeros = Buffer.alloc(512 * (k + 1));
      const tail = COMPRESSION === 'zstd' ? execFileSync('zstd', ['-q', '-c'], { input: zeros }) : gzipSync(zeros);
      const layers = manifest.layers.map((l) => {
        const bytes = Buffer.concat([fs.readFileSync(blob(l.digest)), tail]);
        return { mediaType: l.mediaType, ...put(bytes) };
      });
      const diffIds = tarHash.map((h) => 'sha256:' + h.copy().update(zeros).digest('hex'));
      const cfg = put(Buffer.from(JSON.stringify({ ...config, rootfs: { type: 'layers', diff_ids: diffIds } })));
      const man = put(Buffer.from(JSON.stringify({ ...manifest, config: { ...manifest.config, ...cfg }, layers })));
      fs.writeFileSync(join(out, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
      fs.writeFileSync(join(out, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...man, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }));
      // skopeo once hung here for minutes, both ends of its connection idle: a bounded wait, retried.
      for (let attempt = 1; ; attempt++) {
        const r = spawnSync('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${out}:latest`, `docker://${variantRef(host, k)}`], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
        if (r.status === 0 || attempt === 3) {
          must(r, `skopeo copy (push variant ${k})`);
          break;
        }
      }
      fs.rmSync(out, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function gitHead(): string {
  const r = spawnSync('git', ['-C', REPO, 'describe', '--always', '--dirty'], { stdio: ['ignore', 'pipe', 'ignore'] });
  return r.status === 0 ? r.stdout.toString().trim() : 'unknown';
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sh = (file: string, args: string[], env: NodeJS.ProcessEnv = ENV): SpawnSyncReturns<Buffer> => spawnSync(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });

function must(r: SpawnSyncReturns<Buffer>, what: string): void {
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what} exited ${r.status ?? r.signal}: ${r.stderr.toString().trim().slice(-800)}`);
}

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo). */
function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const p = mp.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (p === dir || p.startsWith(dir + '/')) out.push(p);
  }
  return out.sort((a, b) => b.length - a.length);
}

function unmountUnder(dir: string): void {
  for (const m of mountsUnder(dir)) sh('umount', ['-l', m]);
}

/**
 * One contender: `prepare` drops the previous copy (untimed), `pull` is timed. `daemons`: pids
 * whose CPU time (with their reaped children: unpigz, docker-untar…) counts for the contender.
 */
interface Contender { name: string; label: string; prepare(ref: string): void; pull(ref: string): void; check?(ref: string): void; teardown?(): void; daemons?(): number[] }

const TICK = 100; // USER_HZ on Linux
/** CPU seconds of `pid` (`self`: the bench's reaped children, i.e. the timed CLI processes). */
function cpuOf(pid: number | 'self'): number {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ').map(Number);
    // utime stime cutime cstime are fields 14–17 (1-based), i.e. 11–14 after the comm.
    return pid === 'self' ? (f[13]! + f[14]!) / TICK : (f[11]! + f[12]! + f[13]! + f[14]!) / TICK;
  } catch {
    return 0;
  }
}

function contenders(reg: TestRegistry, layerBlobs: string[], dockerd: PrivateDockerd | undefined): Contender[] {
  const out: Contender[] = [];
  const berthContender = (name: string, label: string, command: string[]): Contender => {
    const root = join(BENCH, name, 'root');
    const cfg = join(BENCH, name, 'config.yaml');
    const berth = (args: string[]) => sh(command[0]!, [...command.slice(1), '--root', root, '--config', cfg, ...args]);
    return {
      name, label,
      prepare(ref) {
        fs.mkdirSync(dirname(cfg), { recursive: true });
        fs.writeFileSync(cfg, `storage-driver: ${DRIVER}\n`);
        // Variant mode: every run pulls an image of its own into the same root; nothing is removed.
        if (!DELETE && fs.existsSync(join(root, 'codecs.json'))) return;
        if (fs.existsSync(root)) berth(['rmi', '-f', ref]);
        unmountUnder(root);
        fs.rmSync(root, { recursive: true, force: true });
        // A fresh root holds no blob or layer, but is initialised the way a daemon's is before
        // `docker pull` runs: `berth info` (untimed) writes the host probe and the codecs
        // self-benchmark (≈ 0.2 s, once per root) that a first pull would otherwise pay.
        must(berth(['info']), 'berth info');
      },
      pull: (ref) => must(berth(['pull', '-q', ref]), `${name} pull`),
      check: (ref) => must(berth(['image', 'inspect', ref]), `${name} image inspect`),
    };
  };
  if (ONLY.includes('berth')) {
    const cmd = process.env.BENCH_BERTH ? process.env.BENCH_BERTH.split(' ') : [process.execPath, join(REPO, 'bin/berth')];
    out.push(berthContender('berth', `berth pull (${DRIVER})`, cmd));
  }
  // Another berth build (e.g. the previous commit's, built elsewhere) in the same run: before/after.
  if (process.env.BENCH_BERTH_BASE) out.push(berthContender('base', `berth pull, base build (${DRIVER})`, process.env.BENCH_BERTH_BASE.split(' ')));
  if ((ONLY.includes('berthd') && DOCKER) || ONLY.includes('berthc')) {
    // berth as a daemon: `berth serve` (the Docker Engine API, plugins/api-docker) started once,
    // kept for the whole bench like dockerd, with each contender's first (untimed) pull as the
    // warm-up every contender gets. Two clients drive it: `berthd` is the same docker CLI
    // binary the docker contender uses (one client, two engines); `berthc` is berth's own CLI
    // as a client (`berth -H unix://… pull`, cli/remote.ts). They share the daemon and its root.
    const dir = join(BENCH, 'berthd');
    const sock = join(dir, 'berth.sock');
    const cmd = process.env.BENCH_BERTH ? process.env.BENCH_BERTH.split(' ') : [process.execPath, join(REPO, 'bin/berth')];
    const cliEnv = { ...ENV, DOCKER_CONFIG: join(dir, 'cli') };
    const berthClient = (args: string[]) => sh(cmd[0]!, [...cmd.slice(1), '-H', `unix://${sock}`, ...args], cliEnv);
    let daemon: ReturnType<typeof spawn> | undefined;
    const startDaemon = (): void => {
      if (daemon) return;
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(join(dir, 'config.yaml'), `storage-driver: ${DRIVER}\n`);
      daemon = spawn(cmd[0]!, [...cmd.slice(1), '--root', join(dir, 'root'), '--config', join(dir, 'config.yaml'), 'serve', '-H', `unix://${sock}`], { env: ENV, stdio: ['ignore', 'ignore', 'inherit'] });
      const until = Date.now() + 20_000;
      while (berthClient(['images', '-q']).status !== 0) {
        if (Date.now() > until || daemon.exitCode !== null) throw new Error('berth serve did not come up');
        spawnSync('sleep', ['0.1']);
      }
    };
    let stopped = false;
    const stopDaemon = (): void => {
      if (stopped || !daemon || daemon.exitCode !== null) return;
      stopped = true;
      daemon.kill('SIGTERM');
      const until = Date.now() + 10_000;
      while (daemon.exitCode === null && Date.now() < until) {
        spawnSync('sleep', ['0.1']);
        try {
          process.kill(daemon.pid!, 0);
        } catch {
          break;
        }
      }
      unmountUnder(dir);
    };
    const served = (name: string, label: string, client: (args: string[]) => SpawnSyncReturns<Buffer>): Contender => ({
      name, label,
      prepare(ref) {
        startDaemon();
        if (DELETE) client(['rmi', '-f', ref]);
      },
      daemons: () => (daemon?.pid ? [daemon.pid] : []),
      pull: (ref) => must(client(['pull', '-q', ref]), `${label}: pull`),
      check: (ref) => must(client(['image', 'inspect', ref]), `${label}: image inspect`),
      teardown: stopDaemon,
    });
    if (ONLY.includes('berthd') && DOCKER) out.push(served('berthd', `docker CLI → berth serve (${DRIVER})`, (args) => sh(DOCKER!, ['-H', `unix://${sock}`, ...args], cliEnv)));
    if (ONLY.includes('berthc')) out.push(served('berthc', `berth -H → berth serve (${DRIVER})`, berthClient));
  }
  if (ONLY.includes('docker') && dockerd) {
    const [docker, ...h] = dockerd.cli;
    out.push({
      name: 'docker', label: 'docker pull (dockerd 20.10, overlay2)',
      prepare: (ref) => void (DELETE && sh(docker!, [...h, 'rmi', '-f', ref], dockerd.env)),
      daemons: () => ['dockerd.pid', 'run/containerd/containerd.pid'].map((f) => {
        try {
          return Number(fs.readFileSync(join(BENCH, 'docker', f), 'utf8').trim());
        } catch {
          return 0;
        }
      }).filter((x) => x > 0),
      pull: (ref) => must(sh(docker!, [...h, 'pull', '-q', ref], dockerd.env), 'docker pull'),
      check: (ref) => must(sh(docker!, [...h, 'image', 'inspect', ref], dockerd.env), 'docker image inspect'),
    });
  }
  if (ONLY.includes('podman')) {
    const proot = join(BENCH, 'podman');
    const g = ['--root', join(proot, 'root'), '--runroot', join(proot, 'run'), '--storage-driver', 'overlay', '--events-backend', 'none', '--cgroup-manager', 'cgroupfs'];
    const penv = { ...ENV, TMPDIR: join(proot, 'tmp') };
    out.push({
      name: 'podman', label: 'podman pull (overlay)',
      prepare(ref) {
        fs.mkdirSync(join(proot, 'tmp'), { recursive: true });
        if (DELETE) sh('podman', [...g, 'rmi', '-f', ref], penv);
      },
      pull: (ref) => must(sh('podman', [...g, 'pull', '-q', '--tls-verify=false', ref], penv), 'podman pull'),
      check: (ref) => must(sh('podman', [...g, 'image', 'exists', ref], penv), 'podman image exists'),
      teardown() {
        sh('podman', [...g, 'rmi', '-a', '-f'], penv);
        sh('podman', [...g, 'system', 'reset', '-f'], penv);
      },
    });
  }
  if (ONLY.includes('skopeo')) {
    const dest = join(BENCH, 'skopeo');
    out.push({
      name: 'skopeo', label: 'skopeo copy (blobs only)',
      prepare: () => fs.rmSync(dest, { recursive: true, force: true }),
      pull: (ref) => must(sh('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci:${dest}:latest`]), 'skopeo copy'),
    });
  }
  if (ONLY.includes('tar')) {
    const x = join(BENCH, 'tar');
    out.push({
      name: 'tar', label: `${COMPRESSION === 'zstd' ? 'zstd' : 'pigz'} -dc \\| tar -x (local floor)`,
      prepare() {
        fs.rmSync(x, { recursive: true, force: true });
        fs.mkdirSync(x);
      },
      // The floor on this disk: the same three blobs, one after another, no network, no checks.
      pull: () => {
        for (const b of layerBlobs) must(sh('sh', ['-c', `${COMPRESSION === 'zstd' ? 'zstd -q' : 'pigz'} -dc '${b}' | tar -xf - -C '${x}'`]), 'decompress | tar');
      },
    });
  }
  return out;
}

function sameFs(a: string, b: string): boolean {
  const dev = (p: string) => {
    for (let q = p; ; q = dirname(q)) {
      try {
        return fs.statSync(q).dev;
      } catch {
        if (q === '/') throw new Error(`cannot stat ${p}`);
      }
    }
  };
  return dev(a) === dev(b);
}

async function main(): Promise<void> {
  if (!sameFs(BENCH, '/var/lib/docker')) throw new Error(`${BENCH} is not on the filesystem of /var/lib/docker: choose another BENCH_DIR`);
  const iptablesBefore = sh('iptables', ['-S']).stdout.toString();
  fs.mkdirSync(BENCH, { recursive: true });
  let reg: TestRegistry | undefined;
  let dockerd: PrivateDockerd | undefined;
  const list: Contender[] = [];
  const cleanup = async () => {
    for (const c of list) {
      try {
        c.teardown?.();
      } catch {
        /* best effort */
      }
    }
    if (dockerd) await dockerd.stop();
    dockerd = undefined;
    await reg?.stop();
    reg = undefined;
    unmountUnder(BENCH);
    if (KEEP_IMAGE) {
      for (const n of fs.readdirSync(BENCH)) if (!n.startsWith('image')) fs.rmSync(join(BENCH, n), { recursive: true, force: true });
    } else {
      fs.rmSync(BENCH, { recursive: true, force: true });
    }
    const left = mountsUnder(BENCH);
    const docker0 = sh('ip', ['link', 'show', 'docker0']).status === 0;
    const ipt = sh('iptables', ['-S']).stdout.toString() === iptablesBefore;
    console.log(`cleanup: mounts left under ${BENCH}: ${left.length}; docker0 link: ${docker0 ? 'PRESENT' : 'none'}; iptables -S ${ipt ? 'unchanged' : 'CHANGED'}`);
  };
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    console.error('interrupted: cleaning up');
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    buildBig();
    // The registry's storage lives under BENCH_DIR too (the helper uses os.tmpdir()).
    const oldTmp = process.env.TMPDIR;
    process.env.TMPDIR = BENCH;
    try {
      reg = await startRegistry(undefined);
    } finally {
      if (oldTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = oldTmp;
    }
    const ref = `${reg.host}/big:latest`;
    must(sh('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${IMAGE}:latest`, `docker://${ref}`]), 'skopeo copy (push)');
    const index = JSON.parse(fs.readFileSync(join(IMAGE, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const manifest = JSON.parse(fs.readFileSync(join(IMAGE, 'blobs/sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as { layers: Array<{ digest: string; size: number }> };
    const layerBlobs = manifest.layers.map((l) => join(IMAGE, 'blobs/sha256', l.digest.slice(7)));
    const compressed = manifest.layers.reduce((a, l) => a + l.size, 0);
    console.log(`image: ${ref}, ${manifest.layers.length} layers, ${(compressed / 1e6).toFixed(1)} MB compressed; bench dir ${BENCH}; ${RUNS} cold runs each, alternating`);
    if (HOLD > 0) {
      // Profiling aid: the registry with HOLD variants (big-v0 … big-v<HOLD-1>), kept until Ctrl-C.
      pushVariants(reg.host, HOLD);
      console.log(`holding: ${HOLD} variants at ${variantRef(reg.host, 0)} …; Ctrl-C (or SIGTERM) cleans up`);
      await new Promise<never>(() => {});
    }
    const skipped: string[] = [];
    if (ONLY.includes('docker')) {
      try {
        dockerd = await startDockerd(join(BENCH, 'docker'), ENV);
      } catch (e) {
        skipped.push(`docker: ${(e as Error).message}`);
      }
    }
    // Which image each (contender, run) pulls: the base image when contenders delete their copy
    // between runs (BENCH_DELETE=1), else a variant of its own (see pushVariants).
    list.push(...contenders(reg, layerBlobs, dockerd));
    let nextVariant = 0;
    const refFor = (_c: Contender): string => (DELETE ? ref : variantRef(reg!.host, nextVariant++));
    if (!DELETE) pushVariants(reg.host, (RUNS + 1) * list.length);
    const times = new Map<string, number[]>(list.map((c) => [c.name, []]));
    /** CPU seconds of each timed run: the CLI process (all threads, its children) plus the contender's daemons. */
    const cpus = new Map<string, number[]>(list.map((c) => [c.name, []]));
    /** Per round: contender → seconds (for the paired ratios), and the 1-minute load at each run. */
    const rounds: Array<Map<string, number>> = [];
    const loads: number[] = [];
    // A first, untimed probe of each contender: one that cannot run here is dropped with its reason.
    for (const c of [...list]) {
      try {
        const r = refFor(c);
        c.prepare(r);
        c.pull(r);
        c.check?.(r);
      } catch (e) {
        skipped.push(`${c.name}: ${(e as Error).message}`);
        list.splice(list.indexOf(c), 1);
      }
    }
    const load0 = loadavg();
    for (let r = 0; r < RUNS; r++) {
      const round = new Map<string, number>();
      rounds.push(round);
      for (let k = 0; k < list.length; k++) {
        const c = list[(r + k) % list.length]!;
        const cref = refFor(c);
        c.prepare(cref);
        spawnSync('sync');
        if (DROP_CACHES) fs.writeFileSync('/proc/sys/vm/drop_caches', '3\n');
        loads.push(loadavg()[0]!);
        const pids = c.daemons?.() ?? [];
        const cpu0 = cpuOf('self') + pids.reduce((a, p) => a + cpuOf(p), 0);
        const t0 = process.hrtime.bigint();
        c.pull(cref);
        const secs = Number(process.hrtime.bigint() - t0) / 1e9;
        cpus.get(c.name)!.push(cpuOf('self') + pids.reduce((a, p) => a + cpuOf(p), 0) - cpu0);
        times.get(c.name)!.push(secs);
        round.set(c.name, secs);
        c.check?.(cref);
      }
    }
    const load1 = loadavg();
    const out: string[] = [];
    const say = (line: string) => {
      out.push(line);
      console.log(line);
    };
    say('');
    say('| contender | median s | min | max | runs (in order) | CPU s, median |');
    say('|---|---|---|---|---|---|');
    const med = new Map<string, number>();
    for (const c of list) {
      const xs = times.get(c.name)!;
      med.set(c.name, median(xs));
      say(`| ${c.label} | ${median(xs).toFixed(3)} | ${Math.min(...xs).toFixed(3)} | ${Math.max(...xs).toFixed(3)} | ${xs.map((x) => x.toFixed(2)).join(' ')} | ${median(cpus.get(c.name)!).toFixed(2)} |`);
    }
    const b = med.get('berth');
    if (b !== undefined) {
      const ratio = (n: string) => (med.has(n) ? (b / med.get(n)!).toFixed(3) : 'n/a');
      const paired = (n: string) => (med.has(n) ? median(rounds.map((r) => r.get('berth')! / r.get(n)!)).toFixed(3) : 'n/a');
      say('');
      say(`berth/docker = ${ratio('docker')} (ratio of medians; target <= 0.35, aim 0.25), median of per-round ratios ${paired('docker')}; berth/podman = ${ratio('podman')}; berth/skopeo = ${ratio('skopeo')}; berth/tar floor = ${ratio('tar')}`);
      if (med.has('berthd')) say(`berthd (docker CLI -> berth serve)/docker = ${med.has('docker') ? (med.get('berthd')! / med.get('docker')!).toFixed(3) : 'n/a'} (ratio of medians; target <= 0.35), median of per-round ratios ${med.has('docker') ? median(rounds.map((r) => r.get('berthd')! / r.get('docker')!)).toFixed(3) : 'n/a'}; berthd/berth = ${(med.get('berthd')! / b).toFixed(3)}`);
      if (med.has('berthc')) say(`berthc (berth -H -> berth serve)/docker = ${med.has('docker') ? (med.get('berthc')! / med.get('docker')!).toFixed(3) : 'n/a'} (ratio of medians; target <= 0.35), median of per-round ratios ${med.has('docker') ? median(rounds.map((r) => r.get('berthc')! / r.get('docker')!)).toFixed(3) : 'n/a'}; berthc/berth = ${(med.get('berthc')! / b).toFixed(3)}`);
      if (med.has('base')) say(`berth/base build = ${ratio('base')} (median of per-round ratios ${paired('base')}); base/docker = ${med.has('docker') ? (med.get('base')! / med.get('docker')!).toFixed(3) : 'n/a'}`);
    }
    for (const s of skipped) say(`skipped ${s}`);
    say(`load average: before ${load0.map((x) => x.toFixed(2)).join(' ')}, after ${load1.map((x) => x.toFixed(2)).join(' ')}; 1-min load at each run ${loads.map((x) => x.toFixed(1)).join(' ')}`);
    if (process.env.BENCH_RESULTS !== '0') {
      const date = new Date().toISOString().replace(/:/g, '-').replace(/\..*/, '');
      const file = join(REPO, 'bench', 'results', `pull-${date}.md`);
      fs.mkdirSync(dirname(file), { recursive: true });
      const cmd = `BENCH_RUNS=${RUNS} BENCH_ONLY=${ONLY.join(',')} BENCH_DRIVER=${DRIVER}${DELETE ? ' BENCH_DELETE=1' : ''}${DROP_CACHES ? ' BENCH_DROP_CACHES=1' : ''}${process.env.BENCH_BERTH_BASE ? ` BENCH_BERTH_BASE="${process.env.BENCH_BERTH_BASE}"` : ''} bench/pull.ts`;
      const head = [`# bench/pull.ts, ${new Date().toISOString()}`, '', `${cmd}; image ${ref}, ${manifest.layers.length} layers, ${(compressed / 1e6).toFixed(1)} MB compressed; ${RUNS} cold runs each, alternating; git ${gitHead()}; ${os.cpus().length} CPUs`];
      fs.writeFileSync(file, [...head, ...out, ''].join('\n'));
      console.log(`written to ${file}`);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!interrupted) await cleanup();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
