/**
 * Fixtures for the apply tests: a fresh base dir per case holding `target/` (the layer dir) and a
 * sibling `victim/` (what an escape would damage), plus a hash of a tree that covers names,
 * types, modes, owners, times, sizes, contents and link targets.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Test } from 'tap';

export interface Arena { base: string; target: string; victim: string }

/** base/{target,victim/{file,dir/inner,link}}; removed in teardown. */
export function arena(t: Test): Arena {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-apply-'));
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  const target = path.join(base, 'target');
  const victim = path.join(base, 'victim');
  fs.mkdirSync(target);
  fs.mkdirSync(path.join(victim, 'dir'), { recursive: true });
  fs.writeFileSync(path.join(victim, 'file'), 'precious');
  fs.writeFileSync(path.join(victim, 'dir', 'inner'), 'also precious');
  fs.symlinkSync('file', path.join(victim, 'link'));
  fs.chmodSync(path.join(victim, 'file'), 0o640);
  fs.utimesSync(path.join(victim, 'file'), 1000, 1000);
  fs.utimesSync(path.join(victim, 'dir'), 2000, 2000);
  fs.utimesSync(victim, 3000, 3000);
  return { base, target, victim };
}

/** A digest of everything observable about a tree (and of the tree root itself). */
export function hashTree(dir: string): string {
  const h = createHash('sha256');
  const visit = (p: string, rel: string) => {
    const st = fs.lstatSync(p);
    h.update(`${rel}\0${st.mode}\0${st.uid}\0${st.gid}\0${st.size}\0${st.mtimeMs}\0${st.nlink}\0`);
    if (st.isSymbolicLink()) h.update(fs.readlinkSync(p));
    else if (st.isFile()) h.update(fs.readFileSync(p));
    else if (st.isDirectory()) for (const n of fs.readdirSync(p).sort()) visit(path.join(p, n), `${rel}/${n}`);
  };
  visit(dir, '.');
  return h.digest('hex');
}

/** Names in `base` (only target and victim may exist). */
export function baseNames(base: string): string[] {
  return fs.readdirSync(base).sort();
}
