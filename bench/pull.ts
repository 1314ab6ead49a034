/**
 * bench/pull.ts — `berth pull` against `skopeo copy` from the same local docker-registry, on an
 * image like the anchors' `big` (three layers of real host files: ~80 MB of shared libraries,
 * ~70 MB of /usr/share, ~50 MB of programs; gzip like `docker push`).
 *
 *   npx tsc -p tsconfig.build.json && node --import @tapjs/typescript/... bench/pull.ts
 *   (or: npx tsx-free: `node -r ./node_modules/... ` — simplest: `npx tap --no-coverage` is not
 *   needed; run `node --experimental-strip-types` is not available on Node 20, so this file is
 *   compiled by tsc with the test config: `npx tsc -p tsconfig.json --outDir /tmp/b && node /tmp/b/bench/pull.js`)
 *
 * Each run is cold: a fresh berth state root (or skopeo destination dir), after `sync`.
 * Prints every run, the median of N (default 5, `BENCH_RUNS`), and the ratio to Docker's 3.9 s
 * measured by the anchors on this machine (docker itself is not installed here).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, lstatSync, writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry } from '../test/helpers/registry';

const REPO = join(__dirname, '..');
const BERTH = join(REPO, 'bin/berth');
const CACHE = process.env.BENCH_CACHE ?? '/tmp/berth-bench-big';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const DOCKER_ANCHOR_S = 3.9;

function pick(src: string, budget: number, out: string[]): number {
  let used = 0;
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const n of names) {
      if (used >= budget) return;
      const p = join(dir, n);
      let st;
      try {
        st = lstatSync(p);
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

/** Builds the OCI layout once (cached in CACHE). */
function buildBig(): void {
  if (existsSync(join(CACHE, 'index.json'))) return;
  mkdirSync(join(CACHE, 'blobs/sha256'), { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'berth-bench-'));
  const specs: Array<[string, number]> = [['/usr/lib/x86_64-linux-gnu', 80 << 20], ['/usr/share', 70 << 20], ['/usr/bin', 50 << 20]];
  const layers = [];
  const diffIds = [];
  for (const [i, [src, budget]] of specs.entries()) {
    const list: string[] = [];
    pick(src, budget, list);
    writeFileSync(join(work, `list${i}`), list.join('\n') + '\n');
    const tar = join(work, `l${i}.tar`);
    execFileSync('tar', ['-cf', tar, '-C', '/', '--no-recursion', '--files-from', join(work, `list${i}`)], { stdio: 'ignore' });
    diffIds.push(sha(tar));
    execFileSync('pigz', ['-6', '-f', tar]);
    const gz = `${tar}.gz`;
    const d = sha(gz);
    execFileSync('cp', [gz, join(CACHE, 'blobs/sha256', d.slice(7))]);
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d, size: lstatSync(gz).size });
  }
  const put = (buf: Buffer) => {
    const f = join(work, 'blob');
    writeFileSync(f, buf);
    const d = sha(f);
    writeFileSync(join(CACHE, 'blobs/sha256', d.slice(7)), buf);
    return { digest: d, size: buf.length };
  };
  const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/big/bin/true'] }, rootfs: { type: 'layers', diff_ids: diffIds }, history: specs.map(([s]) => ({ created_by: `COPY ${s}` })) })));
  const manifest = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers })));
  writeFileSync(join(CACHE, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(CACHE, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }));
  rmSync(work, { recursive: true, force: true });
}

function time(fn: () => void): number {
  spawnSync('sync');
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  buildBig();
  const reg = await startRegistry(undefined);
  try {
    const ref = `${reg.host}/big:latest`;
    execFileSync('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${CACHE}:latest`, `docker://${ref}`]);
    const compressed = readdirSync(join(CACHE, 'blobs/sha256')).reduce((a, n) => a + lstatSync(join(CACHE, 'blobs/sha256', n)).size, 0);
    console.log(`image: ${ref}, ${(compressed / 1e6).toFixed(1)} MB compressed`);
    const driver = process.env.BENCH_DRIVER ?? 'overlay';
    const cfgDir = mkdtempSync(join(tmpdir(), 'berth-bench-cfg-'));
    writeFileSync(join(cfgDir, 'config.yaml'), `storage-driver: ${driver}\n`);
    const berthTimes: number[] = [];
    const skopeoTimes: number[] = [];
    const tarTimes: number[] = [];
    const layerBlobs = (JSON.parse(require('node:fs').readFileSync(join(CACHE, 'blobs/sha256', (JSON.parse(require('node:fs').readFileSync(join(CACHE, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> }).manifests[0]!.digest.slice(7)), 'utf8')) as { layers: Array<{ digest: string }> }).layers.map((l) => join(CACHE, 'blobs/sha256', l.digest.slice(7)));
    for (let i = 0; i < RUNS; i++) {
      const root = mkdtempSync(join(tmpdir(), 'berth-bench-root-'));
      berthTimes.push(time(() => {
        const r = spawnSync(process.execPath, [BERTH, '--root', root, '--config', join(cfgDir, 'config.yaml'), 'pull', '-q', ref], { stdio: ['ignore', 'ignore', 'inherit'] });
        if (r.status !== 0) throw new Error(`berth pull failed (${r.status})`);
      }));
      spawnSync(process.execPath, [BERTH, '--root', root, 'rmi', '-f', ref], { stdio: 'ignore' });
      rmSync(root, { recursive: true, force: true });
      const dest = mkdtempSync(join(tmpdir(), 'berth-bench-skopeo-'));
      skopeoTimes.push(time(() => execFileSync('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci:${dest}:latest`])));
      rmSync(dest, { recursive: true, force: true });
      // The floor on this disk: unpacking the same three blobs with pigz + GNU tar, no network.
      const x = mkdtempSync(join(tmpdir(), 'berth-bench-tar-'));
      tarTimes.push(time(() => {
        for (const b of layerBlobs) execFileSync('sh', ['-c', `pigz -dc '${b}' | tar -xf - -C '${x}'`]);
      }));
      rmSync(x, { recursive: true, force: true });
    }
    rmSync(cfgDir, { recursive: true, force: true });
    const b = median(berthTimes);
    const s = median(skopeoTimes);
    console.log(`berth pull (${driver}, pull+unpack) runs: ${berthTimes.map((x) => x.toFixed(3)).join(' ')}  median ${b.toFixed(3)} s`);
    console.log(`skopeo copy (blobs only) runs:        ${skopeoTimes.map((x) => x.toFixed(3)).join(' ')}  median ${s.toFixed(3)} s`);
    const f = median(tarTimes);
    console.log(`pigz|tar -x floor (local) runs:       ${tarTimes.map((x) => x.toFixed(3)).join(' ')}  median ${f.toFixed(3)} s`);
    console.log(`berth / skopeo = ${(b / s).toFixed(2)}; berth / tar floor = ${(b / f).toFixed(2)}; berth / docker(anchor ${DOCKER_ANCHOR_S} s) = ${(b / DOCKER_ANCHOR_S).toFixed(3)} (target <= 0.35)`);
    console.log(`load average during the run: ${require('node:os').loadavg().map((x: number) => x.toFixed(1)).join(' ')}`);
  } finally {
    await reg.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
