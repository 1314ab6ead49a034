#!/usr/bin/env node
// Builds the native helpers that plugins ship as C sources: runs every plugins/<kind>/<id>/build.js.
// Each build.js compiles with the system C compiler (gcc from Debian's packages) into its own
// plugin folder and exits non-zero on failure.
'use strict';
const { readdirSync, existsSync } = require('node:fs');
const { join } = require('node:path');
const { execFileSync } = require('node:child_process');

const root = __dirname;
let built = 0;
for (const kind of readdirSync(root, { withFileTypes: true })) {
  if (!kind.isDirectory()) continue;
  for (const plugin of readdirSync(join(root, kind.name), { withFileTypes: true })) {
    const script = join(root, kind.name, plugin.name, 'build.js');
    if (!plugin.isDirectory() || !existsSync(script)) continue;
    execFileSync(process.execPath, [script], { stdio: 'inherit' });
    built++;
  }
}
process.stdout.write(`native helpers: ${built} built\n`);
