#!/usr/bin/env node
/*
 * Compiles the layer-apply helper (core/images/native/fsops.c: batched mknod / setxattr /
 * getxattr, O_NOFOLLOW walks) at build time, into the cache core/images/fsops.ts looks in:
 * $BERTH_NATIVE_DIR, else <repo>/dist/native/berth-fsops-<first 12 hex of sha256(source)>.
 * Run by `npm run build:native` (plugins/build-native.js). When the binary is missing, apply
 * compiles it on first use the same way, so a checkout built with `tsc` alone still works.
 * The overlay plugin needs it most (whiteout devices, opaque xattrs); vfs uses it for device
 * nodes and xattrs.
 */
'use strict';
const { execFileSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const { existsSync, mkdirSync, readFileSync, renameSync, rmSync } = require('node:fs');
const { join, resolve } = require('node:path');

const repo = resolve(__dirname, '..', '..', '..');
const src = join(repo, 'core', 'images', 'native', 'fsops.c');
const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 12);
const dir = process.env.BERTH_NATIVE_DIR || join(repo, 'dist', 'native');
const out = join(dir, `berth-fsops-${hash}`);
if (!existsSync(out)) {
  mkdirSync(dir, { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    execFileSync('cc', ['-O2', '-Wall', '-o', tmp, src], { stdio: 'inherit' });
    renameSync(tmp, out);
  } finally {
    rmSync(tmp, { force: true });
  }
}
process.stdout.write(`berth-fsops: ${out}\n`);
