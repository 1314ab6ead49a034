#!/usr/bin/env node
// Bundles the compiled CLI (dist/cli/main.js and everything it requires) into one file,
// dist/berth.js. Module resolution of hundreds of small files (inversify alone is ~120 ms) is
// the largest part of a cold `berth` start; the bundle keeps every module lazy (esbuild wraps
// CommonJS modules and evaluates them on first require) but resolves nothing at run time.
// Native and optional modules stay external. See docs/decisions/004-lazy-loading.md.
'use strict';
const { buildSync } = require('esbuild');
const { resolve, dirname, basename } = require('node:path');
const fs = require('node:fs');

const root = resolve(__dirname, '..');
const common = {
  bundle: true,
  nodePaths: [`${root}/node_modules`],
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // Native addons, and tar-stream (apply.ts resolves a file inside it at run time).
  external: ['@lydell/node-pty', 'msgpackr-extract', 'esbuild', 'tar-stream'],
  logLevel: 'warning',
  legalComments: 'none',
  // Minified (names kept: errors and classes still say what they are): half the bytes to read,
  // decode and match against the code cache — ≈ 10 ms of CPU off every command
  // (docs/decisions/045-start-exec-latency.md). BERTH_BUNDLE_MINIFY=0 for a readable bundle;
  // the external source map serves `node --enable-source-maps bin/berth …`.
  minify: process.env.BERTH_BUNDLE_MINIFY !== '0',
  keepNames: true,
  sourcemap: 'external',
};
buildSync({
  ...common,
  entryPoints: [process.env.BERTH_BUNDLE_ENTRY || `${root}/dist/cli/main.js`],
  outfile: process.env.BERTH_BUNDLE_OUT || `${root}/dist/berth.js`,
});
// Code caches of the previous bundle (bin/berth writes one per command word) are stale now.
const out = process.env.BERTH_BUNDLE_OUT || `${root}/dist/berth.js`;
for (const f of fs.readdirSync(dirname(out))) if (f.startsWith(`${basename(out)}.`) && f.endsWith('.cache')) fs.rmSync(`${dirname(out)}/${f}`, { force: true });
// Worker threads get bundles of their own (dist/workers/, found by core/paths.ts workerEntry): a
// worker started from the compiled tree resolves, reads and compiles some forty files of dist/
// and node_modules/ in every new isolate — ≈ 50 ms of CPU and, with a cold page cache, as many
// disk reads per apply worker at the start of a pull (CPU profile of a cold `berth pull`:
// readFileUtf8 26–42 ms, module resolution 26–30 ms, compilation 11–21 ms per worker).
// Skipped when the bundle's entry is overridden (BERTH_BUNDLE_ENTRY builds one file only).
if (!process.env.BERTH_BUNDLE_ENTRY) {
  for (const [entry, name] of [['core/images/apply-worker.js', 'apply-worker'], ['wasm/src/thread-worker.js', 'thread-worker']]) {
    buildSync({ ...common, entryPoints: [`${root}/dist/${entry}`], outfile: `${root}/dist/workers/${name}.js` });
  }
}
process.stdout.write('bundle: dist/berth.js, dist/workers/\n');
