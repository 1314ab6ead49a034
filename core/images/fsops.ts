/**
 * The batched helper for filesystem operations Node cannot do: mknod (device nodes, fifos,
 * overlay whiteouts) and setxattr (PAX xattrs, overlay opaque markers).
 *
 * Vocabulary
 * - *helper*: `berth-fsops`, a ~150-line C program (`native/fsops.c`) compiled with the host's
 *   `cc`/`gcc` on first use and cached by source hash (see docs/decisions/021-apply-helper.md for
 *   why not `setfattr`/`mknod(1)`). It opens every directory component with
 *   `openat(O_NOFOLLOW|O_DIRECTORY)`, so it can never act outside the root it was given.
 * - *batch*: the ops gathered while one layer is applied; one helper process runs them all.
 *
 * Lifecycle
 *   const b = new FsOpsBatch(root);
 *   b.mknod('dev/null', 0o20666, 1, 3); b.setxattr('etc', 'trusted.overlay.opaque', Buffer.from('y'));
 *   await b.flush();            // one child process; rejects with ERR_LAYER_APPLY_FAILED
 *
 * Binary location: `$BERTH_NATIVE_DIR`, else `<package root>/dist/native/`. The compile runs
 * under a lock and renames the binary into place, so concurrent first uses are safe.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defineError } from '../errors';

export const ERR_HELPER_BUILD = defineError('ERR_LAYER_HELPER_UNAVAILABLE', 'failedPrecondition', 'cannot build the fs helper berth-fsops: %s (fix: apt-get install gcc)');
export const ERR_FSOPS_FAILED = defineError('ERR_LAYER_APPLY_FAILED', 'internal', 'applying layer: %s');

function packageRoot(): string {
  let d = __dirname;
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'core'))) return d;
    d = path.dirname(d);
  }
  return path.resolve(__dirname, '..', '..');
}

function sourcePath(): string {
  const root = packageRoot();
  return path.join(root, 'core', 'images', 'native', 'fsops.c');
}

let helperPromise: Promise<string> | undefined;

/** The path of the compiled helper, building it on first use. */
export function fsopsHelper(): Promise<string> {
  helperPromise ??= buildHelper().catch((err) => {
    helperPromise = undefined;
    throw err;
  });
  return helperPromise;
}

async function buildHelper(): Promise<string> {
  const src = sourcePath();
  let code: Buffer;
  try {
    code = fs.readFileSync(src);
  } catch (err) {
    throw ERR_HELPER_BUILD.with({ cause: err }, `source ${src} missing`);
  }
  const hash = createHash('sha256').update(code).digest('hex').slice(0, 12);
  const dir = process.env.BERTH_NATIVE_DIR ?? path.join(packageRoot(), 'dist', 'native');
  const bin = path.join(dir, `berth-fsops-${hash}`);
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${bin}.tmp-${process.pid}`;
  const cc = ['cc', 'gcc'];
  let lastErr: unknown;
  for (const compiler of cc) {
    try {
      await new Promise<void>((resolve, reject) => {
        execFile(compiler, ['-O2', '-o', tmp, src], (err, _out, stderr) => (err ? reject(new Error(`${compiler}: ${stderr || err.message}`)) : resolve()));
      });
      fs.renameSync(tmp, bin);
      return bin;
    } catch (err) {
      lastErr = err;
      fs.rmSync(tmp, { force: true });
    }
  }
  throw ERR_HELPER_BUILD.with({ cause: lastErr }, (lastErr as Error).message);
}

/**
 * Reads xattr `name` of each of `rels` under `root` in one helper process, never following
 * symlinks. The map holds undefined for entries without it.
 */
export async function getXattrs(root: string, rels: string[], name: string): Promise<Map<string, Buffer | undefined>> {
  const result = new Map<string, Buffer | undefined>();
  if (rels.length === 0) return result;
  const bin = await fsopsHelper();
  const out = await new Promise<Buffer>((resolve, reject) => {
    const child = spawn(bin, [root], { stdio: ['pipe', 'pipe', 'pipe'] });
    const o: Buffer[] = [];
    const e: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => o.push(d));
    child.stderr.on('data', (d: Buffer) => e.push(d));
    child.on('error', (err) => reject(ERR_FSOPS_FAILED.with({ cause: err }, err.message)));
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(o)) : reject(ERR_FSOPS_FAILED(Buffer.concat(e).toString().trim()))));
    child.stdin.on('error', () => undefined);
    child.stdin.end(Buffer.concat(rels.map((r) => Buffer.from(`G${r}\0${name}\0`, 'utf8'))));
  });
  let off = 0;
  for (const r of rels) {
    const nl = out.indexOf(10, off);
    const head = out.subarray(off, nl).toString();
    if (head === '-') {
      result.set(r, undefined);
      off = nl + 1;
    } else {
      const len = Number(head);
      result.set(r, out.subarray(nl + 1, nl + 1 + len));
      off = nl + 1 + len;
    }
  }
  return result;
}

/**
 * Reads xattr `name` of `rel` under `root` without following symlinks (used to read overlay
 * opaque markers when exporting a layer, and by tests). Undefined when unset.
 */
export async function getXattr(root: string, rel: string, name: string): Promise<Buffer | undefined> {
  return (await getXattrs(root, [rel], name)).get(rel);
}

/**
 * The directories (relative paths, '' for the root) under an overlay layer dir that carry
 * `trusted.overlay.opaque=y` — what `berth commit`/export turn into `.wh..wh..opq` entries.
 * Walks with lstat (symlinks are never followed) and reads all xattrs in one helper process.
 */
export async function opaqueDirs(root: string): Promise<Set<string>> {
  const dirs: string[] = [''];
  for (let i = 0; i < dirs.length; i++) {
    const rel = dirs[i]!;
    for (const d of fs.readdirSync(rel === '' ? root : path.join(root, rel), { withFileTypes: true })) {
      if (d.isDirectory()) dirs.push(rel === '' ? d.name : `${rel}/${d.name}`);
    }
  }
  const vals = await getXattrs(root, dirs, 'trusted.overlay.opaque');
  const out = new Set<string>();
  for (const [k, v] of vals) if (v?.toString() === 'y') out.add(k);
  return out;
}

/** The directories above a relative path, nearest last: `a/b/c` → '', 'a', 'a/b'. */
function* ancestors(rel: string): Generator<string> {
  if (rel === '') return;
  yield '';
  for (let i = rel.indexOf('/'); i > 0; i = rel.indexOf('/', i + 1)) yield rel.slice(0, i);
}

/** A batch of helper ops against one root. Paths are relative, already validated. */
export class FsOpsBatch {
  private readonly chunks: Buffer[] = [];
  /** Paths with a pending op, so a later write to the same path can cancel it. */
  private readonly pending = new Map<string, Array<{ i: number; op: 'N' | 'X' }>>();
  /**
   * For each directory with pending paths below it, those paths ('' for the root): a subtree
   * cancel visits only them, not every pending path (a scan per cancel made an apply that
   * replaces many directories quadratic).
   */
  private readonly below = new Map<string, Set<string>>();
  private count = 0;

  constructor(readonly root: string) {}

  get size(): number {
    return this.count;
  }

  has(rel: string): boolean {
    return this.pending.has(rel);
  }

  private push(rel: string, op: 'N' | 'X', buf: Buffer): void {
    const i = this.chunks.push(buf) - 1;
    const list = this.pending.get(rel);
    if (list) list.push({ i, op });
    else {
      this.pending.set(rel, [{ i, op }]);
      for (const a of ancestors(rel)) {
        let set = this.below.get(a);
        if (!set) this.below.set(a, (set = new Set()));
        set.add(rel);
      }
    }
    this.count++;
  }

  /** Drops pending ops (of kind `only`, default all) on `rel` and, when `subtree`, below it. */
  cancel(rel: string, subtree: boolean, only?: 'N' | 'X'): void {
    if (this.pending.size === 0) return;
    const drop = (p: string) => {
      const list = this.pending.get(p);
      if (!list) return;
      const keep = list.filter((x) => only !== undefined && x.op !== only);
      for (const x of list) {
        if (keep.includes(x)) continue;
        this.chunks[x.i] = Buffer.alloc(0);
        this.count--;
      }
      if (keep.length) {
        this.pending.set(p, keep);
        return;
      }
      this.pending.delete(p);
      for (const a of ancestors(p)) {
        const set = this.below.get(a);
        if (set?.delete(p) && set.size === 0) this.below.delete(a);
      }
    };
    drop(rel);
    if (subtree) {
      const set = this.below.get(rel);
      if (set) for (const p of [...set]) drop(p);
    }
  }

  mknod(rel: string, mode: number, major: number, minor: number): void {
    this.push(rel, 'N', Buffer.from(`N${rel}\0${mode.toString(8)}\0${major}\0${minor}\0`, 'utf8'));
  }

  setxattr(rel: string, name: string, value: Buffer): void {
    this.push(rel, 'X', Buffer.concat([Buffer.from(`X${rel}\0${name}\0${value.length}\0`, 'utf8'), value]));
  }

  /** Runs every pending op in one helper process, in order. */
  async flush(): Promise<void> {
    if (this.count === 0) {
      this.chunks.length = 0;
      this.pending.clear();
      this.below.clear();
      return;
    }
    const input = Buffer.concat(this.chunks);
    this.chunks.length = 0;
    this.pending.clear();
    this.below.clear();
    this.count = 0;
    const bin = await fsopsHelper();
    await new Promise<void>((resolve, reject) => {
      const child = spawn(bin, [this.root], { stdio: ['pipe', 'ignore', 'pipe'] });
      const err: Buffer[] = [];
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', (e) => reject(ERR_FSOPS_FAILED.with({ cause: e }, e.message)));
      child.on('close', (code, signal) => {
        if (code === 0) resolve();
        else reject(ERR_FSOPS_FAILED(Buffer.concat(err).toString().trim() || `berth-fsops exited ${signal ?? code}`));
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    });
  }
}
