#!/usr/bin/env node
/* Builds plugins/isolation/ns/bin/berth-nsrun: a static C binary (no runtime
 * dependencies in a container's path). Falls back to a dynamic link when the
 * static libc is missing. Rebuilds only when a source is newer than the binary.
 * Usage: node plugins/isolation/ns/build.js [--force] */
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const dir = __dirname;
const sources = ['nsrun.c', 'spec.c', 'cgroup.c', 'init.c', 'json.c'].map((f) => path.join(dir, f));
const headers = ['nsrun.h', 'json.h'].map((f) => path.join(dir, f));
const out = path.join(dir, 'bin', 'berth-nsrun');

function upToDate() {
  if (process.argv.includes('--force')) return false;
  let st;
  try { st = fs.statSync(out); } catch { return false; }
  return [...sources, ...headers].every((f) => fs.statSync(f).mtimeMs <= st.mtimeMs);
}

function build() {
  if (upToDate()) return out;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const cc = process.env.CC || 'cc';
  const flags = ['-O2', '-Wall', '-Wextra', '-Wno-unused-parameter', '-D_GNU_SOURCE', '-o', `${out}.tmp`, ...sources];
  try {
    execFileSync(cc, ['-static', ...flags], { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (err) {
    process.stderr.write('berth-nsrun: static link failed, trying a dynamic link\n');
    execFileSync(cc, flags, { stdio: ['ignore', 'inherit', 'inherit'] });
  }
  fs.renameSync(`${out}.tmp`, out);
  return out;
}

module.exports = { build, binaryPath: out };
if (require.main === module) process.stdout.write(`${build()}\n`);
