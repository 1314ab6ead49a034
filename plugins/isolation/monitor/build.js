#!/usr/bin/env node
/*
 * Compiles the per-container monitor (monitor.c) into plugins/isolation/monitor/bin/berth-monitor.
 * Run by `npm run build` (ask: add `node plugins/isolation/monitor/build.js` to "build") and, when
 * the binary is missing or older than its source, by the oci plugin's init (so a fresh checkout
 * works after `tsc`). Needs a C compiler (`cc`); tries a static link first (no libc drift), then
 * a dynamic one.
 */
'use strict';
const { execFileSync } = require('node:child_process');
const { mkdirSync, statSync, renameSync } = require('node:fs');
const { join } = require('node:path');

const dir = __dirname.endsWith(join('dist', 'plugins', 'isolation', 'monitor'))
  ? join(__dirname, '..', '..', '..', '..', 'plugins', 'isolation', 'monitor')
  : __dirname;
const src = join(dir, 'monitor.c');
const out = join(dir, 'bin', 'berth-monitor');

function fresh() {
  try {
    return statSync(out).mtimeMs >= statSync(src).mtimeMs;
  } catch {
    return false;
  }
}

function build(force = false) {
  if (!force && fresh()) return out;
  mkdirSync(join(dir, 'bin'), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  const base = ['-O2', '-Wall', '-Wextra', '-Wno-unused-parameter', '-o', tmp, src];
  try {
    execFileSync('cc', ['-static', ...base], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch {
    execFileSync('cc', base, { stdio: ['ignore', 'inherit', 'inherit'] });
  }
  renameSync(tmp, out);
  return out;
}

module.exports = { build, monitorPath: out, monitorSource: src };

if (require.main === module) {
  process.stdout.write(`${build(process.argv.includes('--force'))}\n`);
}
