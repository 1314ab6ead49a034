#!/usr/bin/env node
/*
 * Builds the AssemblyScript hot paths of berth into WebAssembly.
 *
 *   node wasm/build.js            release + debug targets of every module
 *   node wasm/build.js release    only the release target
 *
 * For each module in MODULES, `wasm/assembly/<name>.ts` is compiled with the `asc` compiler of the
 * installed `assemblyscript` package (no toolchain download) using the targets of
 * `wasm/asconfig.json`, into `wasm/build/<name>.wasm` (release: -O3, --noAssert, runtime stub) and
 * `wasm/build/<name>.debug.wasm` (+ .wat for the release build). `wasm/build/` is not committed.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const MODULES = ['sha256', 'inflate', 'zstd'];
const here = __dirname;
const outDir = path.join(here, 'build');

async function main() {
  const targets = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['release', 'debug'];
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, '.gitignore'), '*\n');
  const asc = await import('assemblyscript/asc');
  let failed = false;
  for (const mod of MODULES) {
    const entry = path.join(here, 'assembly', `${mod}.ts`);
    if (!fs.existsSync(entry)) continue;
    for (const target of targets) {
      const base = target === 'release' ? mod : `${mod}.${target}`;
      const args = [
        path.relative(process.cwd(), entry),
        '--config', path.relative(process.cwd(), path.join(here, 'asconfig.json')),
        '--target', target,
        '--outFile', path.relative(process.cwd(), path.join(outDir, `${base}.wasm`)),
      ];
      if (target === 'release') args.push('--textFile', path.relative(process.cwd(), path.join(outDir, `${base}.wat`)));
      const t0 = Date.now();
      const { error, stderr } = await asc.main(args, {});
      if (error) {
        failed = true;
        process.stderr.write(`wasm/build.js: ${mod} (${target}) failed: ${error.message}\n${stderr.toString()}\n`);
      } else {
        const size = fs.statSync(path.join(outDir, `${base}.wasm`)).size;
        process.stdout.write(`wasm/build.js: ${base}.wasm ${size} bytes (${Date.now() - t0} ms)\n`);
      }
    }
  }
  if (failed) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`wasm/build.js: ${err && err.stack ? err.stack : err}\n`);
  process.exitCode = 1;
});
