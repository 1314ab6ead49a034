/**
 * Focused SHA-256 throughput probe: node:crypto against berth's WASM SHA-256 (and optionally other
 * builds of wasm/assembly/sha256.ts), alternating run by run in one process.
 *
 *   node --import=file://$PWD/node_modules/@tapjs/typescript/dist/esm/import.mjs bench/sha256-probe.ts \
 *     [--runs 9] [--mib 32] [--update-mib 1] [variant.wasm ...]
 *
 * The data is pseudo-random (content does not change SHA-256's speed), hashed in updates of
 * --update-mib MiB like bench/wasm.ts's "sha256, 1 MiB updates" group. "berth (loader)" is
 * wasm/src/sha256.ts over the build in wasm/build (or $BERTH_WASM_DIR); each extra .wasm file given
 * is driven the same way (256 KiB copies into its input buffer, one update call per copy) through a
 * bare instance, so several builds can be compared side by side. Every contender's digest is checked
 * against node:crypto before timing; the first two passes are warm-up (V8 tiers WASM up to TurboFan).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSha256 } from '../wasm/src/sha256';
import type { Sha256Exports } from '../wasm/src/sha256';

interface Api {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
}
const WA = (globalThis as unknown as { WebAssembly: Api }).WebAssembly;

const args = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = args.indexOf(name);
  if (i < 0) return def;
  const v = Number(args.splice(i, 2)[1]);
  return Number.isFinite(v) && v > 0 ? v : def;
};
const RUNS = opt('--runs', 9);
const MIB = opt('--mib', 32);
const UPDATE = Math.round(opt('--update-mib', 1) * (1 << 20));
const files = args.filter((a) => a.endsWith('.wasm'));

/** The loader's update loop over a bare instance of `file`. */
function bareHasher(file: string): () => { update(d: Uint8Array): void; digest(): string } {
  const mod = new WA.Module(fs.readFileSync(file));
  return () => {
    const ex = new WA.Instance(mod, { env: { abort: () => { throw new Error('abort'); } } }).exports as unknown as Sha256Exports;
    const ptr = ex.inputPtr();
    const cap = ex.inputCap();
    const mem = new Uint8Array(ex.memory.buffer);
    ex.init();
    return {
      update(d: Uint8Array): void {
        for (let off = 0; off < d.length; ) {
          const n = Math.min(cap, d.length - off);
          mem.set(n === d.length ? d : d.subarray(off, off + n), ptr);
          ex.update(n);
          off += n;
        }
      },
      digest: () => Buffer.from(new Uint8Array(ex.memory.buffer, ex.final(), 32)).toString('hex'),
    };
  };
}

function main(): void {
  const data = crypto.randomBytes(MIB << 20);
  const hashAll = (h: { update(d: Uint8Array): unknown; digest(enc: 'hex'): string } | { update(d: Uint8Array): unknown; digest(): string }): string => {
    for (let o = 0; o < data.length; o += UPDATE) h.update(data.subarray(o, o + UPDATE));
    return (h.digest as (enc: 'hex') => string)('hex');
  };
  const contenders: Array<[string, () => string]> = [
    ['node:crypto', () => hashAll(crypto.createHash('sha256'))],
    ['berth (loader)', () => hashAll(createSha256())],
  ];
  for (const f of files) {
    const make = bareHasher(f);
    contenders.push([path.basename(path.dirname(f)) + '/' + path.basename(f), () => hashAll(make())]);
  }
  const want = crypto.createHash('sha256').update(data).digest('hex');
  for (const [name, fn] of contenders) if (fn() !== want) throw new Error(`${name}: wrong digest`);
  for (let w = 0; w < 2; w++) for (const [, fn] of contenders) fn();
  const load0 = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  const times = contenders.map(() => [] as number[]);
  const cpu = contenders.map(() => [] as number[]);
  for (let r = 0; r < RUNS; r++) {
    contenders.forEach(([, fn], i) => {
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      fn();
      times[i]!.push(Number(process.hrtime.bigint() - t0) / 1e9);
      const c = process.cpuUsage(c0);
      cpu[i]!.push((c.user + c.system) / 1e6);
    });
  }
  const load1 = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  process.stdout.write(`sha256 probe: ${MIB} MiB in ${UPDATE >> 10} KiB updates, median of ${RUNS}, node ${process.version}, load ${load0} → ${load1}\n`);
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  process.stdout.write(`${'contender'.padEnd(36)} wall MB/s  MB/CPU-s  wall runs\n`);
  contenders.forEach(([name], i) => {
    const mbps = times[i]!.map((s) => data.length / s / 1e6);
    const perCpu = cpu[i]!.map((s) => data.length / s / 1e6);
    process.stdout.write(`${name.padEnd(36)} ${median(mbps).toFixed(0).padStart(9)} ${median(perCpu).toFixed(0).padStart(9)}  ${mbps.map((x) => x.toFixed(0)).join(' ')}\n`);
  });
}

main();
