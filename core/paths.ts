/**
 * Where berth's own files are at run time. Code runs from `*.ts` (tests), from `dist/**` (the
 * compiled CLI) and from `dist/berth.js` (the bundle), so `__dirname` differs between them; the
 * package root (the folder with berth's package.json) does not.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

let cached: string | undefined;

export function packageRoot(): string {
  if (cached) return cached;
  let dir = __dirname;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'berth') return (cached = dir);
      } catch {
        /* keep walking */
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`berth: cannot find the package root above ${__dirname}`);
    dir = up;
  }
}

/** A file shipped in the package, by its path relative to the package root. */
export function packageFile(...parts: string[]): string {
  return join(packageRoot(), ...parts);
}
