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

/**
 * How to start the worker thread whose entry is `<repo dir>/<name>.ts|.js` (repo dir relative to
 * the package root, e.g. `core/images`), from whatever `callerFile` is running: compiled, the
 * worker's own bundle (dist/workers/<name>.js, made by cli/bundle.js: one file to read and
 * compile instead of a module tree), else the compiled file beside the caller or under dist/;
 * under a TypeScript loader, ESM hooks (`--import`, as tap uses) reach workers by URL, a CommonJS
 * require hook needs the entry loaded through require() (`eval`).
 */
export function workerEntry(callerFile: string, repoDir: string, name: string): { file: string | URL; eval: boolean } {
  const ts = callerFile.endsWith('.ts');
  const beside = join(dirname(callerFile), `${name}${ts ? '.ts' : '.js'}`);
  if (!ts) {
    const bundled = bundledWorker(name);
    if (bundled) return { file: bundled, eval: false };
  }
  const file = ts || existsSync(beside) ? beside : packageFile('dist', ...repoDir.split('/'), `${name}.js`);
  if (!ts) return { file, eval: false };
  if (process.execArgv.some((a) => a.startsWith('--import') || a.startsWith('--loader') || a.startsWith('--experimental-loader'))) {
    const { pathToFileURL } = require('node:url') as typeof import('node:url');
    return { file: pathToFileURL(file), eval: false };
  }
  return { file: `require(${JSON.stringify(file)});`, eval: true };
}

const bundles = new Map<string, string | undefined>();
/** dist/workers/<name>.js when the build made it (looked up once per process). */
function bundledWorker(name: string): string | undefined {
  if (!bundles.has(name)) {
    let f: string | undefined;
    try {
      f = packageFile('dist', 'workers', `${name}.js`);
      if (!existsSync(f)) f = undefined;
    } catch {
      f = undefined;
    }
    bundles.set(name, f);
  }
  return bundles.get(name);
}
