/**
 * Layer apply, positive side: what a correct layer turns into on disk, in both whiteout modes.
 * Overlay results are also checked through a real overlayfs mount (mount(8) in a child
 * process, unmounted in teardown). Needs root.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import t from 'tap';
import { applyLayer } from '../../core/images/apply';
import { getXattr, getXattrs, opaqueDirs } from '../../core/images/fsops';
import { withMounted } from '../../core/images/mount';
import { hasCode } from '../../core/errors';
import { buildTar, type TarEntry } from '../../core/testsuite/tar';
import { listTree } from '../../core/testsuite/storage';
import { arena } from './fixtures/arena';

const tar = (entries: TarEntry[]) => Readable.from([buildTar(entries)]);

t.test('overlay mode: whiteouts become 0/0 char devices, opaque dirs get the xattr, the merged mount hides lower content', async (t) => {
  const a = arena(t);
  const lower = path.join(a.base, 'lower');
  fs.mkdirSync(path.join(lower, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(lower, 'etc', 'gone'), 'x');
  fs.writeFileSync(path.join(lower, 'etc', 'kept'), 'k');
  fs.mkdirSync(path.join(lower, 'opt', 'old'), { recursive: true });
  fs.writeFileSync(path.join(lower, 'opt', 'old', 'f'), 'o');
  fs.writeFileSync(path.join(lower, 'opt', 'lowerfile'), 'l');
  fs.mkdirSync(path.join(lower, 'tree', 'sub'), { recursive: true });
  fs.mkdirSync(path.join(lower, 'deep', 'er'), { recursive: true });
  fs.writeFileSync(path.join(lower, 'deep', 'er', 'x'), 'x');
  const res = await applyLayer(tar([
    { name: 'etc/', type: 'dir' }, { name: 'etc/.wh.gone' },
    { name: 'opt/', type: 'dir' }, { name: 'opt/.wh..wh..opq' }, { name: 'opt/new', data: 'n' },
    { name: '.wh.tree' },
    { name: 'deep/er/.wh.x' },
    { name: '.wh..wh.plnk' },
  ]), a.target, { whiteoutMode: 'overlay', lowerDirs: [lower] });
  t.same(res, { entries: 8, bytes: 1 });
  for (const wh of ['etc/gone', 'tree', 'deep/er/x']) {
    const st = fs.lstatSync(path.join(a.target, wh));
    t.ok(st.isCharacterDevice() && st.rdev === 0, `${wh} is a 0/0 char device`);
  }
  t.equal((await getXattr(a.target, 'opt', 'trusted.overlay.opaque'))?.toString(), 'y', 'opt is opaque');
  t.equal(await getXattr(a.target, 'etc', 'trusted.overlay.opaque'), undefined, 'etc is not');
  t.notOk(fs.existsSync(path.join(a.target, '.wh..wh.plnk')), 'AUFS meta entries are not materialised');
  t.notOk(fs.readdirSync(a.target, { recursive: true }).some((n) => String(n).includes('.wh.')), 'no .wh. name anywhere');
  const work = path.join(a.base, 'work');
  fs.mkdirSync(work);
  await withMounted([{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lower}`, `upperdir=${a.target}`, `workdir=${work}`] }], async (m) => {
    t.same(await listTree(m), ['deep/', 'deep/er/', 'etc/', 'etc/kept = k', 'opt/', 'opt/new = n'], 'merged view');
  }, { dir: path.join(a.base, 'mnt') });
});

t.test('delete mode: whiteouts delete, opaque dirs keep only this layer\'s entries (marker before or after)', async (t) => {
  const a = arena(t);
  fs.mkdirSync(path.join(a.target, 'etc'));
  fs.writeFileSync(path.join(a.target, 'etc', 'gone'), 'x');
  fs.writeFileSync(path.join(a.target, 'etc', 'kept'), 'k');
  for (const d of ['opt1', 'opt2']) {
    fs.mkdirSync(path.join(a.target, d, 'old', 'deeper'), { recursive: true });
    fs.mkdirSync(path.join(a.target, d, 'mixed'), { recursive: true });
    fs.writeFileSync(path.join(a.target, d, 'mixed', 'lowerfile'), 'l');
  }
  fs.mkdirSync(path.join(a.target, 'tree', 'sub'), { recursive: true });
  await applyLayer(tar([
    { name: 'etc/.wh.gone' }, { name: 'etc/.wh.never-existed' }, { name: 'nodir/.wh.x' },
    { name: 'opt1/', type: 'dir' }, { name: 'opt1/.wh..wh..opq' }, { name: 'opt1/new', data: 'n' }, { name: 'opt1/mixed/', type: 'dir' }, { name: 'opt1/mixed/mine', data: 'm' },
    { name: 'opt2/new', data: 'n' }, { name: 'opt2/mixed/mine', data: 'm' }, { name: 'opt2/.wh..wh..opq' },
    { name: '.wh.tree' },
  ]), a.target, { whiteoutMode: 'delete' });
  t.same(await listTree(a.target), [
    'etc/', 'etc/kept = k',
    'opt1/', 'opt1/mixed/', 'opt1/mixed/mine = m', 'opt1/new = n',
    'opt2/', 'opt2/mixed/', 'opt2/mixed/mine = m', 'opt2/new = n',
  ]);
});

t.test('ownership, modes (setuid/setgid/sticky), times, xattrs (binary too), hardlinks, devices', async (t) => {
  const a = arena(t);
  const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
  const res = await applyLayer(tar([
    { name: 'bin/', type: 'dir', mode: 0o751, uid: 0, gid: 0, mtime: 1_000_000 },
    { name: 'bin/su', data: 'su', mode: 0o4755, uid: 0, gid: 0, mtime: 1_100_000 },
    { name: 'bin/wall', data: 'wall', mode: 0o2755, gid: 5, mtime: 1_200_000 },
    { name: 'bin/link', type: 'link', linkname: 'bin/su' },
    { name: 'tmp/', type: 'dir', mode: 0o1777, mtime: 1_300_000 },
    { name: 'home/', type: 'dir', mode: 0o755, uid: 1000, gid: 1000, mtime: 1_400_000 },
    { name: 'home/u', data: 'hi', uid: 1000, gid: 1000, mode: 0o600, mtime: 1_500_000 },
    { name: 'home/none', data: '', mode: 0o000 },
    { name: 'home/all', data: '', mode: 0o777 },
    { name: 'home/big-id', data: 'x', uid: 7, gid: 7, pax: { uid: '3000000', gid: '3000001', mtime: '1600000000.5' } },
    { name: 'home/sym', type: 'symlink', linkname: '/nowhere', uid: 1000, gid: 1000, mtime: 1_700_000 },
    { name: 'home/x', data: 'x', pax: { 'SCHILY.xattr.user.note': 'hello', 'SCHILY.xattr.user.bin': cap, 'SCHILY.xattr.trusted.overlay.redirect': '/etc' } },
    { name: 'dev/', type: 'dir', mtime: 1_800_000 },
    { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666, mtime: 1_900_000 },
    { name: 'dev/sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o660, gid: 6 },
    { name: 'dev/fifo', type: 'fifo', mode: 0o620, uid: 1000 },
  ]), a.target, { whiteoutMode: 'overlay' });
  t.same(res, { entries: 16, bytes: 2 + 4 + 2 + 1 + 1 });
  const st = (p: string) => fs.lstatSync(path.join(a.target, p));
  t.equal(st('bin/su').mode & 0o7777, 0o4755, 'setuid kept (chmod after chown)');
  t.equal(st('bin/wall').mode & 0o7777, 0o2755, 'setgid kept');
  t.equal(st('bin/wall').gid, 5);
  t.equal(st('tmp').mode & 0o7777, 0o1777, 'sticky dir');
  t.equal(st('bin').mode & 0o7777, 0o751);
  t.equal(st('bin/link').ino, st('bin/su').ino, 'hardlink shares the inode');
  t.equal(st('bin/su').nlink, 2);
  t.same([st('home/u').uid, st('home/u').gid, st('home/u').mode & 0o777], [1000, 1000, 0o600]);
  t.equal(st('home/none').mode & 0o7777, 0o000, 'mode 000');
  t.equal(st('home/all').mode & 0o7777, 0o777, 'mode 777 despite the umask');
  t.same([st('home/big-id').uid, st('home/big-id').gid], [3000000, 3000001], 'PAX uid/gid beat the header');
  t.equal(st('home/big-id').mtimeMs, 1600000000500, 'PAX sub-second mtime');
  t.same([st('home/sym').uid, st('home/sym').mtimeMs], [1000, 1_700_000_000], 'symlink owner and lutimes');
  t.equal(st('bin').mtimeMs, 1_000_000_000, 'dir mtime set after its children were written');
  t.equal(st('home').mtimeMs, 1_400_000_000);
  t.equal(st('dev').mtimeMs, 1_800_000_000, 'dir mtime survives the helper creating nodes in it');
  t.equal(st('bin/su').mtimeMs, 1_100_000_000);
  t.equal((await getXattr(a.target, 'home/x', 'user.note'))?.toString(), 'hello');
  t.same(await getXattr(a.target, 'home/x', 'user.bin'), cap, 'binary xattr value byte-exact');
  t.equal(await getXattr(a.target, 'home/x', 'trusted.overlay.redirect'), undefined, 'overlay xattrs are never taken from a tar');
  const nul = st('dev/null');
  t.ok(nul.isCharacterDevice() && nul.rdev === (1 << 8 | 3) && (nul.mode & 0o7777) === 0o666 && nul.mtimeMs === 1_900_000_000, 'char device 1:3 0666 with its mtime');
  const sda = st('dev/sda');
  t.ok(sda.isBlockDevice() && sda.rdev === (8 << 8) && (sda.mode & 0o7777) === 0o660 && sda.gid === 6, 'block device 8:0');
  const fifo = st('dev/fifo');
  t.ok(fifo.isFIFO() && (fifo.mode & 0o7777) === 0o620 && fifo.uid === 1000, 'fifo');
});

t.test('replacement rules: file over dir removes the tree, dir over dir merges, link over file replaces', async (t) => {
  const a = arena(t);
  await applyLayer(tar([
    { name: 'd/', type: 'dir' }, { name: 'd/a', data: 'a' }, { name: 'd/sub/', type: 'dir' }, { name: 'd/sub/b', data: 'b' },
    { name: 'd', data: 'now a file' },
    { name: 'm/', type: 'dir', mode: 0o700 }, { name: 'm/x', data: 'x' }, { name: 'm/', type: 'dir', mode: 0o755 }, { name: 'm/y', data: 'y' },
    { name: 'f', data: 'f' }, { name: 'f', type: 'symlink', linkname: 'm/x' },
    { name: 'g', data: 'old' }, { name: 'g', data: 'new' },
  ]), a.target, { whiteoutMode: 'delete' });
  t.same(await listTree(a.target), ['d = now a file', 'f -> m/x', 'g = new', 'm/', 'm/x = x', 'm/y = y']);
  t.equal(fs.statSync(path.join(a.target, 'm')).mode & 0o777, 0o755, 'the last directory entry sets the mode');
});

t.test('overlay lower dirs: implicit parents copy the lower dir\'s owner/mode; a hardlink to a lower file copies it up', async (t) => {
  const a = arena(t);
  const lower = path.join(a.base, 'lower');
  fs.mkdirSync(path.join(lower, 'srv', 'data'), { recursive: true });
  fs.chmodSync(path.join(lower, 'srv'), 0o710);
  fs.chownSync(path.join(lower, 'srv'), 33, 33);
  fs.writeFileSync(path.join(lower, 'srv', 'data', 'big'), 'lower content');
  fs.chownSync(path.join(lower, 'srv', 'data', 'big'), 44, 44);
  await applyLayer(tar([
    { name: 'srv/new', data: 'n' },
    { name: 'srv/data/alias', type: 'link', linkname: 'srv/data/big' },
  ]), a.target, { whiteoutMode: 'overlay', lowerDirs: [lower] });
  const srv = fs.statSync(path.join(a.target, 'srv'));
  t.same([srv.mode & 0o7777, srv.uid, srv.gid], [0o710, 33, 33], 'implicit parent copied from the lower layer');
  const big = fs.statSync(path.join(a.target, 'srv', 'data', 'big'));
  const alias = fs.statSync(path.join(a.target, 'srv', 'data', 'alias'));
  t.equal(alias.ino, big.ino, 'alias is a hardlink to the copied-up file');
  t.same([big.uid, fs.readFileSync(path.join(a.target, 'srv', 'data', 'alias'), 'utf8')], [44, 'lower content']);
  t.equal(fs.readFileSync(path.join(lower, 'srv', 'data', 'big'), 'utf8'), 'lower content', 'lower untouched');
  t.equal(fs.statSync(path.join(lower, 'srv', 'data', 'big')).nlink, 1, 'lower file not linked');
});

t.test('empty archives, and errors of the source stream come through unchanged', async (t) => {
  const a = arena(t);
  t.same(await applyLayer(Readable.from([Buffer.alloc(1024)]), a.target, { whiteoutMode: 'overlay' }), { entries: 0, bytes: 0 }, 'two zero blocks');
  t.same(await applyLayer(Readable.from([]), a.target, { whiteoutMode: 'overlay' }), { entries: 0, bytes: 0 }, 'zero bytes');
  const src = new PassThrough();
  const boom = Object.assign(new Error('digest mismatch upstream'), { code: 'ERR_TEST_UPSTREAM' });
  const p = applyLayer(src, a.target, { whiteoutMode: 'overlay' });
  src.write(buildTar([{ name: 'f', data: Buffer.alloc(100_000) }]).subarray(0, 20_000));
  setTimeout(() => src.destroy(boom), 20);
  await t.rejects(p, { code: 'ERR_TEST_UPSTREAM' }, 'the source\'s error, not a tar error');
  const cut = new PassThrough();
  const p2 = applyLayer(cut, a.target, { whiteoutMode: 'overlay' });
  cut.write(buildTar([{ name: 'g', data: Buffer.alloc(100_000) }]).subarray(0, 20_000));
  setTimeout(() => cut.destroy(), 20);
  await t.rejects(p2, { code: 'ERR_LAYER_CORRUPT' }, 'a source destroyed without an error is a truncated layer, not a hang');
  const bad = await applyLayer(Readable.from([buildTar([{ name: '../x', data: 'x' }])]), a.target, { whiteoutMode: 'overlay' }).catch((e: unknown) => e);
  t.ok(hasCode(bad, 'ERR_LAYER_UNSAFE_PATH'));
});

t.test('mount helper: long overlay option strings are mounted from a common parent with relative paths', async (t) => {
  const a = arena(t);
  const layers: string[] = [];
  // 80 lower dirs with long absolute names: ~9 KB of options, more than a page.
  for (let i = 0; i < 80; i++) {
    const d = path.join(a.base, 'layers', `layer-with-a-long-descriptive-name-${String(i).padStart(4, '0')}`, 'fs');
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, `f${i}`), String(i));
    layers.unshift(d);
  }
  const upper = path.join(a.base, 'up');
  const work = path.join(a.base, 'wk');
  fs.mkdirSync(upper);
  fs.mkdirSync(work);
  const opts = [`lowerdir=${layers.join(':')}`, `upperdir=${upper}`, `workdir=${work}`];
  t.ok(opts.join(',').length > 4096, `options are ${opts.join(',').length} bytes`);
  await withMounted([{ type: 'overlay', source: 'overlay', options: opts }], async (m) => {
    t.equal(fs.readdirSync(m).length, 80, 'every layer visible');
    const mi = spawnSync('findmnt', ['-n', '-o', 'FSTYPE', m]).stdout.toString().trim();
    t.equal(mi, 'overlay');
  }, { dir: path.join(a.base, 'mnt') });
});

t.test('opaqueDirs / getXattrs read back overlay markers in one helper call, never through symlinks', async (t) => {
  const a = arena(t);
  await applyLayer(tar([
    { name: '.wh..wh..opq' },
    { name: 'a/', type: 'dir' }, { name: 'a/.wh..wh..opq' }, { name: 'a/b/', type: 'dir' }, { name: 'a/b/c/', type: 'dir' }, { name: 'a/b/c/.wh..wh..opq' },
    { name: 'plain/', type: 'dir' }, { name: 'link', type: 'symlink', linkname: 'a' },
  ]), a.target, { whiteoutMode: 'overlay' });
  t.same([...(await opaqueDirs(a.target))].sort(), ['', 'a', 'a/b/c']);
  const m = await getXattrs(a.target, ['a', 'plain'], 'trusted.overlay.opaque');
  t.same([m.get('a')?.toString(), m.get('plain')], ['y', undefined]);
  await t.rejects(getXattrs(a.target, ['link/b'], 'trusted.overlay.opaque'), { code: 'ERR_LAYER_APPLY_FAILED' }, 'a symlink component is refused');
});

t.test('device nodes replace what is there (a parent layer\'s copy in vfs, an earlier entry, a directory)', async (t) => {
  for (const mode of ['delete', 'overlay'] as const) {
    const a = arena(t);
    fs.mkdirSync(path.join(a.target, 'dev', 'dir'), { recursive: true });
    fs.writeFileSync(path.join(a.target, 'dev', 'null'), 'a regular file from the parent');
    await applyLayer(tar([
      { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/zero', data: 'file first' }, { name: 'dev/zero', type: 'char', devmajor: 1, devminor: 5, mode: 0o666 },
      { name: 'dev/dir', type: 'fifo', mode: 0o600 },
    ]), a.target, { whiteoutMode: mode });
    t.ok(fs.lstatSync(path.join(a.target, 'dev', 'null')).isCharacterDevice(), `${mode}: null replaced`);
    t.equal(fs.lstatSync(path.join(a.target, 'dev', 'zero')).rdev, (1 << 8) | 5, `${mode}: zero replaced`);
    t.ok(fs.lstatSync(path.join(a.target, 'dev', 'dir')).isFIFO(), `${mode}: directory replaced by a fifo`);
  }
});

t.test('queued helper work (xattrs, nodes, whiteouts) follows replacements: dropped with what it was for, kept for everything else', async (t) => {
  const layer = (): TarEntry[] => {
    const entries: TarEntry[] = [
      { name: 'd/', type: 'dir' },
      { name: 'd/sub/', type: 'dir' },
      { name: 'd/sub/f', data: 'f', pax: { 'SCHILY.xattr.user.a': 'under d' } },
      { name: 'd/sub/p', type: 'fifo' },
      { name: 'd/sub/.wh.gone' },
      { name: 'd', data: 'now a file' }, // replaces the directory: everything queued below it goes
      { name: 'e/', type: 'dir' },
      { name: 'e/g', data: 'g', pax: { 'SCHILY.xattr.user.e': 'under e' } },
      { name: 'e', type: 'symlink', linkname: 'd' }, // the same with a symlink
      { name: 'x', data: 'first', pax: { 'SCHILY.xattr.user.b': 'old' } },
      { name: 'x', data: 'second' }, // a file replaced by a file without the xattr
      { name: 'keep/', type: 'dir' },
    ];
    // many queued xattrs around the replacements: each must reach its own file
    for (let i = 0; i < 300; i++) entries.push({ name: `keep/k${i}`, data: String(i), pax: { 'SCHILY.xattr.user.n': `v${i}` } });
    entries.push({ name: 'keep/k7', data: 'again' }); // replaced late: its xattr goes, the others stay
    return entries;
  };
  for (const mode of ['overlay', 'overlay detached', 'delete'] as const) {
    const a = arena(t);
    await applyLayer(tar(layer()), a.target, mode === 'delete' ? { whiteoutMode: 'delete' } : { whiteoutMode: 'overlay', ...(mode === 'overlay detached' ? { detached: true } : {}) });
    const st = (p: string) => fs.lstatSync(path.join(a.target, p));
    t.ok(st('d').isFile() && fs.readFileSync(path.join(a.target, 'd'), 'utf8') === 'now a file', `${mode}: d is the file`);
    t.ok(st('e').isSymbolicLink(), `${mode}: e is the symlink`);
    t.equal(fs.readFileSync(path.join(a.target, 'x'), 'utf8'), 'second', `${mode}: x is the second file`);
    t.equal(await getXattr(a.target, 'x', 'user.b'), undefined, `${mode}: the first x's xattr is gone with it`);
    const rels = Array.from({ length: 300 }, (_, i) => `keep/k${i}`);
    const got = await getXattrs(a.target, rels, 'user.n');
    t.equal(got.get('keep/k7'), undefined, `${mode}: replaced k7 has no xattr`);
    t.equal(rels.filter((r, i) => got.get(r)?.toString() === `v${i}`).length, 299, `${mode}: every other file has its own xattr`);
  }
});
