/**
 * The escape suite: malicious layer tars from the known CVE classes (tar breakout with `..`,
 * absolute paths, symlink and hardlink escapes, symlinks swapped for directories and back
 * mid-archive, whiteout abuse, long names smuggled through PAX and GNU records, NUL bytes,
 * device nodes, unsupported entry kinds, corrupt archives).
 *
 * Every case runs in both whiteout modes (overlay, delete) against a fresh `target/` next to a
 * sibling `victim/` directory, and proves that
 *   - the apply fails with the expected stable code (or succeeds, for the cases where the safe
 *     answer is "resolved inside the root"),
 *   - the victim tree is byte-for-byte and metadata-for-metadata unchanged (hash before/after),
 *   - nothing new appeared next to target/ and victim/, and /etc/passwd kept its link count.
 * Needs root (device nodes, chown).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { MessageChannel } from 'node:worker_threads';
import { applyLayer, serveFileWriter } from '../../core/images/apply';
import { hasCode } from '../../core/errors';
import { buildTar, tarEntry, type TarEntry } from '../../core/testsuite/tar';
import { arena, baseNames, hashTree, type Arena } from './fixtures/arena';

interface Case {
  name: string;
  /** The archive: entries (given the arena, for absolute paths) or raw bytes. */
  tar: (a: Arena) => TarEntry[] | Buffer;
  /** Expected error code; undefined when the apply must succeed (resolved inside the root). */
  code?: string;
  /** Extra checks after the apply (on success or failure). */
  check?: (t: Test, a: Arena) => unknown;
}

const V = '../victim';
const deep = (n: number) => Array.from({ length: n }, (_, i) => `d${i}`).join('/');

const cases: Case[] = [
  // --- tar breakout with '..' and absolute paths
  { name: 'file ../victim/pwn', tar: () => [{ name: `${V}/pwn`, data: 'x' }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'file a/../../victim/pwn', tar: () => [{ name: 'a/', type: 'dir' }, { name: `a/../${V}/pwn`, data: 'x' }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'file ./../victim/file overwrite', tar: () => [{ name: `./${V}/file`, data: 'x' }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'directory ../victim/newdir', tar: () => [{ name: `${V}/newdir/`, type: 'dir' }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'bare ".." entry', tar: () => [{ name: '..', type: 'dir', mode: 0o777 }], code: 'ERR_LAYER_UNSAFE_PATH' },
  {
    name: 'absolute path to the victim is taken relative to the root',
    tar: (a) => [{ name: `${a.victim}/file`, data: 'x' }],
    check: (t, a) => t.equal(fs.readFileSync(path.join(a.target, a.victim, 'file'), 'utf8'), 'x', 'landed inside target'),
  },
  {
    name: 'inner ".." that stays inside is resolved lexically',
    tar: () => [{ name: 'a/', type: 'dir' }, { name: 'a/../b', data: 'x' }],
    check: (t, a) => t.equal(fs.readFileSync(path.join(a.target, 'b'), 'utf8'), 'x'),
  },
  // --- symlink escapes
  { name: 'symlink to victim, then write through it', tar: () => [{ name: 'ln', type: 'symlink', linkname: V }, { name: 'ln/pwn', data: 'x' }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'absolute symlink to /, then write through it', tar: (a) => [{ name: 'root', type: 'symlink', linkname: '/' }, { name: `root${a.victim}/pwn`, data: 'x' }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'symlink chain a -> b -> victim', tar: () => [{ name: 'b', type: 'symlink', linkname: V }, { name: 'a', type: 'symlink', linkname: 'b' }, { name: 'a/pwn', data: 'x' }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'symlink deep in a real directory', tar: () => [{ name: 'a/', type: 'dir' }, { name: 'a/b', type: 'symlink', linkname: `../${V}` }, { name: 'a/b/c/pwn', data: 'x' }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'symlink loop a -> a', tar: () => [{ name: 'a', type: 'symlink', linkname: 'a' }, { name: 'a/x', data: 'x' }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'relative symlink pointing inside is still never traversed', tar: () => [{ name: 'real/', type: 'dir' }, { name: 'alias', type: 'symlink', linkname: 'real' }, { name: 'alias/x', data: 'x' }], code: 'ERR_LAYER_UNSAFE_PATH' },
  {
    name: 'file entry over a symlink to a victim file replaces the link',
    tar: () => [{ name: 'ln', type: 'symlink', linkname: `${V}/file` }, { name: 'ln', data: 'x', mode: 0o777 }],
    check: (t, a) => t.ok(fs.lstatSync(path.join(a.target, 'ln')).isFile(), 'ln is now a regular file'),
  },
  {
    name: 'directory entry over a symlink to the victim replaces the link (mode not applied through it)',
    tar: () => [{ name: 'ln', type: 'symlink', linkname: V }, { name: 'ln/', type: 'dir', mode: 0o777, mtime: 5 }, { name: 'ln/inside', data: 'x' }],
    check: (t, a) => {
      t.ok(fs.lstatSync(path.join(a.target, 'ln')).isDirectory(), 'ln is now a real directory');
      t.equal(fs.readFileSync(path.join(a.target, 'ln', 'inside'), 'utf8'), 'x');
    },
  },
  {
    name: 'symlink replaced by a directory mid-archive',
    tar: () => [{ name: 'x', type: 'symlink', linkname: V }, { name: 'x/', type: 'dir' }, { name: 'x/pwn', data: 'x' }],
    check: (t, a) => t.ok(fs.existsSync(path.join(a.target, 'x', 'pwn'))),
  },
  { name: 'directory replaced by a symlink mid-archive, then written through', tar: () => [{ name: 'x/', type: 'dir' }, { name: 'x/a', data: '1' }, { name: 'x', type: 'symlink', linkname: V }, { name: 'x/pwn', data: 'x' }], code: 'ERR_LAYER_UNSAFE_PATH' },
  {
    // x/dir was known; forgetting x must forget it too, or the write below it (whose parent would
    // still look known) goes through the symlink into victim/dir
    name: 'nested directories replaced by a symlink at the top, then written below a former subdirectory',
    tar: () => [{ name: 'x/', type: 'dir' }, { name: 'x/dir/', type: 'dir' }, { name: 'x/dir/inner', data: '1', pax: { 'SCHILY.xattr.user.a': 'v' } }, { name: 'x/dir/p', type: 'fifo' }, { name: 'x', type: 'symlink', linkname: V }, { name: 'x/dir/pwn', data: 'x' }],
    code: 'ERR_LAYER_UNSAFE_PATH',
  },
  {
    name: 'a directory tree replaced by a file, then by a directory again: the subdirectories are made anew',
    tar: () => [{ name: 'x/', type: 'dir' }, { name: 'x/dir/', type: 'dir' }, { name: 'x/dir/sub/', type: 'dir' }, { name: 'x/dir/sub/f', data: 'old', pax: { 'SCHILY.xattr.user.a': 'v' } }, { name: 'x', data: 'file' }, { name: 'x/', type: 'dir' }, { name: 'x/dir/sub/g', data: 'new' }],
    check: (t, a) => {
      t.equal(fs.readFileSync(path.join(a.target, 'x/dir/sub/g'), 'utf8'), 'new', 'written in fresh directories');
      t.notOk(fs.existsSync(path.join(a.target, 'x/dir/sub/f')), 'nothing of the old tree is left');
    },
  },
  {
    name: 'directory metadata never applied through a later symlink',
    tar: () => [{ name: 'd/', type: 'dir', mode: 0o777, mtime: 1 }, { name: 'd', type: 'symlink', linkname: V }],
    check: (t, a) => t.ok(fs.lstatSync(path.join(a.target, 'd')).isSymbolicLink()),
  },
  {
    name: 'device metadata never applied through a later symlink',
    tar: () => [{ name: 'n', type: 'char', devmajor: 1, devminor: 3, mode: 0o777 }, { name: 'n', type: 'symlink', linkname: `${V}/file` }],
    check: (t, a) => t.ok(fs.lstatSync(path.join(a.target, 'n')).isSymbolicLink()),
  },
  // --- hardlink escapes
  { name: 'hardlink to /etc/passwd', tar: () => [{ name: 'pw', type: 'link', linkname: '/etc/passwd' }], code: 'ERR_LAYER_BAD_LINK' },
  { name: 'hardlink to ../victim/file', tar: () => [{ name: 'pw', type: 'link', linkname: `${V}/file` }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'hardlink to the victim by absolute path', tar: (a) => [{ name: 'pw', type: 'link', linkname: `${a.victim}/file` }], code: 'ERR_LAYER_BAD_LINK' },
  { name: 'hardlink through a symlinked directory', tar: () => [{ name: 'd', type: 'symlink', linkname: V }, { name: 'pw', type: 'link', linkname: 'd/file' }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'hardlink whose PAX linkpath escapes', tar: () => [{ name: 'pw', type: 'link', linkname: 'x', pax: { linkpath: `${'a/'.repeat(60)}${'../'.repeat(62)}victim/file` } }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'hardlink to a directory', tar: () => [{ name: 'd/', type: 'dir' }, { name: 'h', type: 'link', linkname: 'd' }], code: 'ERR_LAYER_BAD_LINK' },
  {
    name: 'hardlink to a symlink links the symlink, never its target',
    tar: () => [{ name: 's', type: 'symlink', linkname: `${V}/file` }, { name: 'h', type: 'link', linkname: 's' }, { name: 'h', data: 'overwrite' }],
    check: (t, a) => {
      t.ok(fs.lstatSync(path.join(a.target, 's')).isSymbolicLink(), 's is still a symlink');
      t.equal(fs.readFileSync(path.join(a.target, 'h'), 'utf8'), 'overwrite', 'h replaced, not written through');
    },
  },
  // --- whiteout abuse
  { name: 'whiteout ".wh..."', tar: () => [{ name: '.wh...' }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'whiteout ".wh." (empty name)', tar: () => [{ name: 'a/.wh.' }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'whiteout inside ../victim', tar: () => [{ name: `${V}/.wh.file` }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'whiteout through a symlinked directory', tar: () => [{ name: 'd', type: 'symlink', linkname: V }, { name: 'd/.wh.file' }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'opaque whiteout in a symlinked directory', tar: () => [{ name: 'd', type: 'symlink', linkname: V }, { name: 'd/.wh..wh..opq' }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'opaque marker on a directory later swapped for a symlink', tar: () => [{ name: 'd/', type: 'dir' }, { name: 'd/.wh..wh..opq' }, { name: 'd', type: 'symlink', linkname: V }] },
  { name: 'opaque marker under a parent later swapped for a symlink', tar: () => [{ name: 'p/', type: 'dir' }, { name: 'p/dir/', type: 'dir' }, { name: 'p/dir/.wh..wh..opq' }, { name: 'p', type: 'symlink', linkname: V }] },
  {
    name: 'whiteout of a symlink to the victim removes only the link',
    tar: () => [{ name: 'd', type: 'symlink', linkname: V }, { name: '.wh.d' }],
  },
  { name: 'whiteout entry typed as a symlink', tar: () => [{ name: '.wh.x', type: 'symlink', linkname: V }], code: 'ERR_LAYER_UNSAFE_PATH' },
  // --- long names and encodings
  { name: 'PAX path with ../ escape', tar: () => [{ name: 'harmless', data: 'x', pax: { path: `${deep(60)}/${'../'.repeat(61)}victim/pwn` } }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'GNU long name with ../ escape', tar: () => [{ name: `${deep(60)}/${'../'.repeat(61)}victim/pwn`, data: 'x', gnuLongName: true }], code: 'ERR_LAYER_UNSAFE_PATH' },
  {
    name: 'long legitimate PAX and GNU names are fine',
    tar: () => [{ name: `${deep(40)}/f`, data: 'pax' }, { name: `${deep(45)}/g`, data: 'gnu', gnuLongName: true }],
    check: (t, a) => {
      t.equal(fs.readFileSync(path.join(a.target, deep(40), 'f'), 'utf8'), 'pax');
      t.equal(fs.readFileSync(path.join(a.target, deep(45), 'g'), 'utf8'), 'gnu');
    },
  },
  { name: 'NUL byte in a PAX path', tar: () => [{ name: 'ok', data: 'x', pax: { path: `ok\0/../../victim/pwn` } }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'NUL byte in a PAX symlink target', tar: () => [{ name: 's', type: 'symlink', linkname: 'x', pax: { linkpath: `a\0b` } }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'name component longer than NAME_MAX', tar: () => [{ name: 'x'.repeat(300), data: 'x' }], code: 'ERR_LAYER_UNSAFE_PATH' },
  // --- device nodes and special files
  { name: 'char device at ../victim/null', tar: () => [{ name: `${V}/null`, type: 'char', devmajor: 1, devminor: 3 }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'block device through a symlinked directory', tar: () => [{ name: 'd', type: 'symlink', linkname: V }, { name: 'd/sda', type: 'block', devmajor: 8, devminor: 0 }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'fifo at ../victim/fifo', tar: () => [{ name: `${V}/fifo`, type: 'fifo' }], code: 'ERR_LAYER_UNSAFE_PATH' },
  { name: 'a file cannot replace the layer root', tar: () => [{ name: './', data: 'x' }], code: 'ERR_LAYER_UNSAFE_PATH' },
  // --- unsupported entries and corrupt archives
  { name: 'GNU sparse (S)', tar: () => [{ name: 'sparse', type: 'S', data: 'x' }], code: 'ERR_LAYER_UNSUPPORTED_ENTRY' },
  { name: 'GNU dumpdir (D)', tar: () => [{ name: 'dump', type: 'D' }], code: 'ERR_LAYER_UNSUPPORTED_ENTRY' },
  { name: 'GNU multi-volume (M)', tar: () => [{ name: 'mv', type: 'M', data: 'x' }], code: 'ERR_LAYER_UNSUPPORTED_ENTRY' },
  { name: 'volume label (V)', tar: () => [{ name: 'label', type: 'V' }], code: 'ERR_LAYER_UNSUPPORTED_ENTRY' },
  { name: 'PAX GNU.sparse on a regular file', tar: () => [{ name: 'f', data: 'x', pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': 'f' } }], code: 'ERR_LAYER_UNSUPPORTED_ENTRY' },
  { name: 'bad header checksum', tar: () => [{ name: 'f', data: 'x', badChecksum: true }], code: 'ERR_LAYER_CORRUPT' },
  { name: 'truncated archive', tar: () => tarEntry({ name: 'f', data: Buffer.alloc(4096, 1) }).subarray(0, 1500), code: 'ERR_LAYER_CORRUPT' },
  { name: 'not a tar at all', tar: () => Buffer.alloc(2048, 0x41), code: 'ERR_LAYER_CORRUPT' },
  { name: 'bad PAX uid', tar: () => [{ name: 'f', data: 'x', pax: { uid: '-1' } }], code: 'ERR_LAYER_CORRUPT' },
];

const passwdBefore = fs.statSync('/etc/passwd');

/**
 * A detached apply split over two threads' worth of code (apply.ts FileOffload): regular files
 * are created by `serveFileWriter` on the other end of a MessageChannel (here in-process, as the
 * pool's second worker does it), every other entry by the applier.
 */
async function applySplit(bytes: Buffer, target: string): Promise<void> {
  const ch = new MessageChannel();
  const served = serveFileWriter(ch.port2, target);
  try {
    await applyLayer(Readable.from([bytes]), target, { whiteoutMode: 'overlay', detached: true, writer: ch.port1 });
  } finally {
    ch.port1.close();
    await served;
  }
}

/**
 * Detached: a hardlink to a file the layer does not hold needs the parent (the pull applies the
 * layer again on it, the ordinary way, where these cases get their ERR_LAYER_BAD_LINK).
 */
const NEEDS_PARENT = new Set(['hardlink to /etc/passwd', 'hardlink to the victim by absolute path']);
const detachedCode = (code: string | undefined, c: Case) => (NEEDS_PARENT.has(c.name) ? 'ERR_LAYER_NEEDS_PARENT' : code);

for (const mode of ['overlay', 'delete', 'split'] as const) {
  t.test(`whiteout mode ${mode}`, async (t) => {
    for (const c of cases) {
      t.test(c.name, async (t) => {
        const a = arena(t);
        const before = hashTree(a.victim);
        const built = c.tar(a);
        const bytes = Buffer.isBuffer(built) ? built : buildTar(built);
        let err: unknown;
        try {
          if (mode === 'split') await applySplit(bytes, a.target);
          else await applyLayer(Readable.from([bytes]), a.target, { whiteoutMode: mode });
        } catch (e) {
          err = e;
        }
        const code = mode === 'split' ? detachedCode(c.code, c) : c.code;
        if (code) {
          t.ok(hasCode(err, code), `rejected with ${code} (got ${(err as { code?: string })?.code}: ${(err as Error)?.message})`);
          t.equal((err as { cls?: string })?.cls, code === 'ERR_LAYER_APPLY_FAILED' ? 'internal' : code === 'ERR_LAYER_NEEDS_PARENT' ? 'failedPrecondition' : 'invalidArgument', 'class');
        } else {
          t.equal(err, undefined, `applied (${(err as Error)?.message ?? 'ok'})`);
        }
        t.equal(hashTree(a.victim), before, 'victim untouched');
        t.same(baseNames(a.base), ['target', 'victim'], 'nothing created next to target');
        const pw = fs.statSync('/etc/passwd');
        t.same([pw.nlink, pw.mtimeMs, pw.ino], [passwdBefore.nlink, passwdBefore.mtimeMs, passwdBefore.ino], '/etc/passwd untouched');
        if (c.check) await c.check(t, a);
      });
    }
  });
}

t.test('the suite is big enough', async (t) => {
  t.ok(cases.filter((c) => c.code).length >= 30, `${cases.filter((c) => c.code).length} rejecting cases`);
});
