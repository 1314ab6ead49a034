/**
 * bench/unpack.ts — the pull's unpack alone: the layer blobs of the bench image applied the way a
 * pull applies them (core/images/apply-thread.ts `unpackThreaded`, detached, overlay whiteouts,
 * every layer at once on the apply pool), without the registry, the network or the store. The
 * /usr/share layer's apply is the critical path of `berth pull` on this image (record 030,
 * session 5), and here it can be measured with less noise than a whole pull, and one build
 * against another in alternating runs.
 *
 *   BENCH_KEEP_IMAGE=1 BENCH_RUNS=1 BENCH_ONLY=berth node --import=… bench/pull.ts   # keeps the image
 *   node --import=file://$PWD/node_modules/@tapjs/typescript/dist/esm/import.mjs bench/unpack.ts
 *
 * Environment:
 * - BENCH_IMAGE: the OCI layout (default /var/lib/berth-bench/image, what bench/pull.ts builds);
 * - BENCH_BUILDS: comma-separated package roots to compare (default this checkout), each a
 *   built tree (dist/, wasm/build, node_modules) — e.g. a copy of an earlier build;
 * - BENCH_LAYERS: which layers, by index in the manifest (default all, e.g. `2` for one);
 * - BENCH_RUNS (default 8); BENCH_OUT (default /var/lib/berth-unpack, on the same filesystem as
 *   a state root would be; given `chattr +T` like a state root's snapshots/, and removed at the end).
 * Every run is a fresh process (fresh isolates, as a pull starts them) after `sync` and a dropped
 * page cache, into a fresh directory; builds alternate run by run. Printed per build: the median
 * wall time from the first byte read to the last layer applied, and the process's CPU time.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';

const IMAGE = process.env.BENCH_IMAGE ?? '/var/lib/berth-bench/image';
const BUILDS = (process.env.BENCH_BUILDS ?? resolve(__dirname, '..')).split(',').map((s) => s.trim()).filter(Boolean);
const RUNS = Number(process.env.BENCH_RUNS ?? 8);
const OUT = process.env.BENCH_OUT ?? '/var/lib/berth-unpack';

/** The child: unpacks `blobs` into `out` with the build at `root`; prints `WALL ms CPU ms`. */
const CHILD = `
const fs = require('fs'), path = require('path');
const [root, out, ...blobs] = process.argv.slice(1);
const { unpackThreaded, prewarmApplyPool } = require(root + '/dist/core/images/apply-thread.js');
prewarmApplyPool();
setTimeout(async () => {
  const t0 = performance.now(), c0 = process.cpuUsage();
  await Promise.all(blobs.map(async (b, i) => {
    const d = path.join(out, String(i)); fs.mkdirSync(d, { recursive: true });
    await unpackThreaded(fs.createReadStream(b, { highWaterMark: 1 << 20 }), 'gzip', d, { whiteoutMode: 'overlay', detached: true });
  }));
  const c = process.cpuUsage(c0);
  process.stdout.write('WALL ' + (performance.now() - t0).toFixed(0) + ' CPU ' + ((c.user + c.system) / 1000).toFixed(0) + '\\n');
  process.exit(0);
}, 300);
`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function main(): void {
  const index = JSON.parse(fs.readFileSync(join(IMAGE, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const manifest = JSON.parse(fs.readFileSync(join(IMAGE, 'blobs/sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as { layers: Array<{ digest: string; size: number }> };
  const pick = process.env.BENCH_LAYERS ? process.env.BENCH_LAYERS.split(',').map(Number) : manifest.layers.map((_, i) => i);
  const blobs = pick.map((i) => join(IMAGE, 'blobs/sha256', manifest.layers[i]!.digest.slice(7)));
  fs.mkdirSync(OUT, { recursive: true });
  spawnSync('chattr', ['+T', OUT]);
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.BERTH_HOST;
  const wall = BUILDS.map(() => [] as number[]);
  const cpu = BUILDS.map(() => [] as number[]);
  try {
    for (let r = 0; r < RUNS; r++) {
      for (let k = 0; k < BUILDS.length; k++) {
        const b = (r + k) % BUILDS.length;
        const out = join(OUT, `r${r}-b${b}`);
        spawnSync('sync');
        fs.writeFileSync('/proc/sys/vm/drop_caches', '3\n');
        const p = spawnSync(process.execPath, ['-e', CHILD, BUILDS[b]!, out, ...blobs], { env, encoding: 'utf8' });
        const m = /WALL (\d+) CPU (\d+)/.exec(p.stdout);
        if (p.status !== 0 || !m) throw new Error(`run ${r} of ${BUILDS[b]} failed: ${p.stderr || p.stdout}`);
        wall[b]!.push(Number(m[1]));
        cpu[b]!.push(Number(m[2]));
      }
    }
  } finally {
    fs.rmSync(OUT, { recursive: true, force: true });
  }
  console.log(`unpack of ${blobs.length} layer(s) of ${IMAGE}, ${RUNS} runs per build, alternating`);
  console.log('| build | median wall ms | median CPU ms | runs (wall) |');
  console.log('|---|---|---|---|');
  BUILDS.forEach((b, i) => console.log(`| ${b} | ${median(wall[i]!)} | ${median(cpu[i]!)} | ${wall[i]!.join(' ')} |`));
  if (BUILDS.length > 1) console.log(`second/first: ${(median(wall[1]!) / median(wall[0]!)).toFixed(3)} wall, ${(median(cpu[1]!) / median(cpu[0]!)).toFixed(3)} CPU`);
}

main();
