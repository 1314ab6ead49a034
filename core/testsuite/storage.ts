/**
 * Conformance suite for storage drivers (contracts/storage.ts):
 *
 *   runStorageDriverSuite(t, 'overlay', async (root) => new OverlayDriver(root));
 *
 * `factory(root)` returns a driver keeping all its state in `root`; two drivers on one root share
 * it (that is how concurrent berth processes see each other). Every case is a subtest with its
 * own temp root, removed in teardown, and every mount it makes goes through core/images/mount.ts
 * (mount(8) in a child process) and is unmounted in a `finally`. Needs root (mounts, mknod).
 *
 * What it pins down: the snapshot lifecycle (prepare/view/commit/remove, kinds, parents, labels),
 * the error codes of every misuse, walk never listing half-made snapshots and cleanup removing
 * them, whiteouts and opaque directories seen through the driver's mounts, read-only views and
 * committed snapshots, du-style usage, a 128-layer chain that still mounts, two driver
 * instances racing on one root, and — when the driver offers them — DetachedApplier (a layer
 * applied before its parent exists ends up equal to an ordinary apply) and `givesBackChunks`
 * (apply gives every lent chunk back once and never reads it afterwards).
 */
import type { Test } from 'tap';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import * as zlib from 'node:zlib';
import { isCleaner, isDetachedApplier, type StorageDriver } from '../contracts/storage';
import { classOf, hasCode } from '../errors';
import { withMounted } from '../images/mount';
import { buildTar, type TarEntry } from './tar';
import { lendFrom, stopLending } from '../lent';

type T = Test;

async function expectCode(t: T, p: Promise<unknown>, code: string, cls: string, what: string): Promise<void> {
  try {
    await p;
    t.fail(`${what}: expected ${code}`);
  } catch (e) {
    t.ok(hasCode(e, code), `${what}: code ${code} (got ${(e as { code?: string }).code}: ${(e as Error).message})`);
    t.equal(classOf(e), cls, `${what}: class ${cls}`);
  }
}

/** Lists a tree as sorted `relpath type[ content]` lines (files' content, links' targets). */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    for (const n of (await fsp.readdir(path.join(dir, rel))).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const st = await fsp.lstat(path.join(dir, r));
      if (st.isDirectory()) {
        out.push(`${r}/`);
        await walk(r);
      } else if (st.isSymbolicLink()) out.push(`${r} -> ${await fsp.readlink(path.join(dir, r))}`);
      else if (st.isFile()) out.push(`${r} = ${await fsp.readFile(path.join(dir, r), 'utf8')}`);
      else out.push(`${r} (special)`);
    }
  };
  await walk('');
  return out;
}

const tarStream = (entries: TarEntry[]) => Readable.from([buildTar(entries)]);

/** A plain directory holding `entries` (files, dirs, symlinks only), to compare trees with. */
async function treeOf(entries: TarEntry[], root: string): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(root, 'expect-'));
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.type === 'dir') await fsp.mkdir(p, { recursive: true });
    else {
      await fsp.mkdir(path.dirname(p), { recursive: true });
      if (e.type === 'symlink') await fsp.symlink(e.linkname!, p);
      else await fsp.writeFile(p, e.data ?? '');
    }
  }
  return dir;
}

/** Applies `entries` as a new layer on `parent` and commits it as `name`. */
async function layer(d: StorageDriver, name: string, parent: string, entries: TarEntry[]): Promise<void> {
  const key = `extract-${name}`;
  await d.prepare(key, parent);
  await d.apply(key, tarStream(entries));
  await d.commit(name, key);
}

export function runStorageDriverSuite(t: T, name: string, factory: (root: string) => Promise<StorageDriver>): void {
  if (process.getuid?.() !== 0) {
    t.test(`${name}: storage conformance`, { skip: 'needs root (mount(8), mknod, chown)' }, async () => undefined);
    return;
  }
  const fresh = async (t: T) => {
    const root = await fsp.mkdtemp(path.join(os.tmpdir(), `berth-storage-suite-${name}-`));
    t.teardown(() => fsp.rm(root, { recursive: true, force: true }));
    return { root, d: await factory(root) };
  };
  const mnt = (t: T, root: string) => path.join(root, 'mnt');

  t.test(`${name}: basic layering — prepare, apply, commit, child sees parent, mounts merge`, async (t) => {
    const { root, d } = await fresh(t);
    const dir = await d.prepare('base-active', '', { 'x.label': 'a' });
    t.ok(fs.statSync(dir).isDirectory(), 'prepare returns an existing directory');
    t.equal(await d.writableDir('base-active'), dir, 'writableDir is the prepared dir');
    await fsp.mkdir(path.join(dir, 'etc'));
    await fsp.writeFile(path.join(dir, 'etc', 'hostname'), 'base');
    await d.commit('L1', 'base-active', { 'y.label': 'b' });
    const st = await d.stat('L1');
    t.same({ name: st.name, parent: st.parent, kind: st.kind }, { name: 'L1', parent: '', kind: 'committed' });
    t.same(st.labels, { 'x.label': 'a', 'y.label': 'b' }, 'labels of prepare and commit merged');
    await expectCode(t, d.stat('base-active'), 'ERR_SNAPSHOT_NOT_FOUND', 'notFound', 'the active key is gone after commit');
    await layer(d, 'L2', 'L1', [{ name: 'etc/', type: 'dir' }, { name: 'etc/motd', data: 'hello' }, { name: 'bin/', type: 'dir' }, { name: 'bin/sh', data: '#!', mode: 0o755 }]);
    await d.prepare('c1', 'L2');
    const c1 = await d.stat('c1');
    t.same({ parent: c1.parent, kind: c1.kind }, { parent: 'L2', kind: 'active' });
    await withMounted(await d.mounts('c1'), async (m) => {
      t.same(await listTree(m), ['bin/', 'bin/sh = #!', 'etc/', 'etc/hostname = base', 'etc/motd = hello'], 'merged tree');
      await fsp.writeFile(path.join(m, 'etc', 'hostname'), 'changed');
      await fsp.writeFile(path.join(m, 'new'), 'n');
    }, { dir: mnt(t, root) });
    await withMounted(await d.mounts('L2'), async (m) => {
      t.equal(await fsp.readFile(path.join(m, 'etc', 'hostname'), 'utf8'), 'base', 'a container write does not change the committed layers');
      t.notOk(fs.existsSync(path.join(m, 'new')));
    }, { dir: mnt(t, root) });
    await withMounted(await d.mounts('c1'), async (m) => {
      t.equal(await fsp.readFile(path.join(m, 'etc', 'hostname'), 'utf8'), 'changed', 'the active snapshot keeps its writes across mounts');
    }, { dir: mnt(t, root) });
  });

  t.test(`${name}: misuse gives stable error codes`, async (t) => {
    const { d } = await fresh(t);
    await d.prepare('a', '');
    await expectCode(t, d.prepare('a', ''), 'ERR_SNAPSHOT_EXISTS', 'alreadyExists', 'prepare an existing key');
    await expectCode(t, d.prepare('b', 'nope'), 'ERR_SNAPSHOT_NOT_FOUND', 'notFound', 'prepare on a missing parent');
    await expectCode(t, d.prepare('b', 'a'), 'ERR_SNAPSHOT_PARENT_NOT_COMMITTED', 'failedPrecondition', 'prepare on an active parent');
    await expectCode(t, d.commit('x', 'nope'), 'ERR_SNAPSHOT_NOT_FOUND', 'notFound', 'commit a missing key');
    await d.commit('A', 'a');
    await expectCode(t, d.commit('B', 'A'), 'ERR_SNAPSHOT_NOT_ACTIVE', 'failedPrecondition', 'commit a committed snapshot');
    await d.view('v', 'A');
    await expectCode(t, d.commit('B', 'v'), 'ERR_SNAPSHOT_NOT_ACTIVE', 'failedPrecondition', 'commit a view');
    await expectCode(t, d.writableDir('v'), 'ERR_SNAPSHOT_NOT_ACTIVE', 'failedPrecondition', 'writableDir of a view');
    await expectCode(t, d.writableDir('A'), 'ERR_SNAPSHOT_NOT_ACTIVE', 'failedPrecondition', 'writableDir of a committed snapshot');
    await expectCode(t, d.apply('A', tarStream([])), 'ERR_SNAPSHOT_NOT_ACTIVE', 'failedPrecondition', 'apply into a committed snapshot');
    await d.prepare('b', 'A');
    await expectCode(t, d.commit('A', 'b'), 'ERR_SNAPSHOT_EXISTS', 'alreadyExists', 'commit onto a taken name');
    t.equal((await d.stat('b')).kind, 'active', 'the failed commit left the key active');
    await expectCode(t, d.remove('nope'), 'ERR_SNAPSHOT_NOT_FOUND', 'notFound', 'remove a missing key');
    await expectCode(t, d.stat('nope'), 'ERR_SNAPSHOT_NOT_FOUND', 'notFound', 'stat a missing key');
    await expectCode(t, d.mounts('nope'), 'ERR_SNAPSHOT_NOT_FOUND', 'notFound', 'mounts of a missing key');
    for (const bad of ['', 'a\0b', 'x'.repeat(2000)]) {
      await expectCode(t, d.prepare(bad, ''), 'ERR_SNAPSHOT_INVALID_KEY', 'invalidArgument', `key ${JSON.stringify(bad.slice(0, 10))}`);
    }
  });

  t.test(`${name}: keys with any characters (chain ids, slashes, dots) are opaque names`, async (t) => {
    const { d } = await fresh(t);
    const keys = ['sha256:' + 'a'.repeat(64), 'extract/../../etc', '../../x', 'with space', 'ünïcode'];
    for (const k of keys) await d.prepare(k, '');
    const seen: string[] = [];
    await d.walk((i) => { seen.push(i.name); });
    t.same(seen, [...keys].sort(), 'walk returns every key verbatim, sorted');
    for (const k of keys) t.ok((await d.writableDir(k)).startsWith(path.dirname(path.dirname(await d.writableDir(keys[0]!)))), `dir of ${k} stays inside the driver`);
    for (const k of keys) await d.remove(k);
  });

  t.test(`${name}: removing a snapshot with children fails; top-down removal works`, async (t) => {
    const { root, d } = await fresh(t);
    await layer(d, 'L1', '', [{ name: 'a', data: '1' }]);
    await layer(d, 'L2', 'L1', [{ name: 'b', data: '2' }]);
    await d.prepare('c', 'L2');
    await d.view('v', 'L1');
    await expectCode(t, d.remove('L2'), 'ERR_SNAPSHOT_IN_USE', 'failedPrecondition', 'remove a layer a container uses');
    await expectCode(t, d.remove('L1'), 'ERR_SNAPSHOT_IN_USE', 'failedPrecondition', 'remove an intermediate layer');
    await withMounted(await d.mounts('c'), async (m) => t.same(await listTree(m), ['a = 1', 'b = 2']), { dir: mnt(t, root) });
    await d.remove('c');
    await d.remove('L2');
    await expectCode(t, d.remove('L1'), 'ERR_SNAPSHOT_IN_USE', 'failedPrecondition', 'a view is a child too');
    await d.remove('v');
    await d.remove('L1');
    let n = 0;
    await d.walk(() => { n++; });
    t.equal(n, 0, 'nothing left');
    const left = fs.readdirSync(path.join(root)).filter((x) => x !== 'mnt');
    t.ok(left.length >= 0);
  });

  t.test(`${name}: views and committed snapshots mount read-only`, async (t) => {
    const { root, d } = await fresh(t);
    await layer(d, 'L1', '', [{ name: 'f', data: 'one' }]);
    await layer(d, 'L2', 'L1', [{ name: 'g', data: 'two' }]);
    for (const [key, parent] of [['v1', 'L1'], ['v2', 'L2']] as const) {
      await d.view(key, parent);
      t.equal((await d.stat(key)).kind, 'view');
      await withMounted(await d.mounts(key), async (m) => {
        t.same(await listTree(m), parent === 'L1' ? ['f = one'] : ['f = one', 'g = two'], `view of ${parent} shows the parent`);
        t.throws(() => fs.writeFileSync(path.join(m, 'x'), 'x'), { code: 'EROFS' }, `view of ${parent} is read-only`);
      }, { dir: mnt(t, root) });
    }
    await withMounted(await d.mounts('L2'), async (m) => {
      t.throws(() => fs.writeFileSync(path.join(m, 'x'), 'x'), { code: 'EROFS' }, 'committed mounts read-only');
    }, { dir: mnt(t, root) });
  });

  t.test(`${name}: whiteouts and opaque directories hide lower content`, async (t) => {
    const { root, d } = await fresh(t);
    await layer(d, 'L1', '', [
      { name: 'etc/', type: 'dir' }, { name: 'etc/passwd', data: 'root' }, { name: 'etc/shadow', data: 'x' },
      { name: 'opt/', type: 'dir' }, { name: 'opt/app/', type: 'dir' }, { name: 'opt/app/old', data: 'old' }, { name: 'opt/app/sub/', type: 'dir' }, { name: 'opt/app/sub/deep', data: 'd' },
      { name: 'tree/', type: 'dir' }, { name: 'tree/a/', type: 'dir' }, { name: 'tree/a/b', data: 'b' },
      { name: 'fresh/', type: 'dir' }, { name: 'fresh/stale', data: 's' },
    ]);
    await layer(d, 'L2', 'L1', [
      { name: 'etc/', type: 'dir' }, { name: 'etc/.wh.shadow' },
      { name: 'opt/app/', type: 'dir' }, { name: 'opt/app/.wh..wh..opq' }, { name: 'opt/app/new', data: 'new' },
      { name: '.wh.tree' },
      // Deleted and re-created in the same layer: a fresh, empty directory.
      { name: '.wh.fresh' }, { name: 'fresh/', type: 'dir' }, { name: 'fresh/only', data: 'o' },
    ]);
    await d.prepare('c', 'L2');
    await withMounted(await d.mounts('c'), async (m) => {
      t.same(await listTree(m), ['etc/', 'etc/passwd = root', 'fresh/', 'fresh/only = o', 'opt/', 'opt/app/', 'opt/app/new = new'], 'deleted file, deleted tree and opaque dir are gone');
    }, { dir: mnt(t, root) });
    await layer(d, 'L3', 'L2', [{ name: 'tree/', type: 'dir' }, { name: 'tree/again', data: 'a' }, { name: 'etc/shadow', data: 'back' }]);
    await withMounted(await d.mounts('L3'), async (m) => {
      t.same(await listTree(m), ['etc/', 'etc/passwd = root', 'etc/shadow = back', 'fresh/', 'fresh/only = o', 'opt/', 'opt/app/', 'opt/app/new = new', 'tree/', 'tree/again = a'], 'a later layer can re-create deleted paths');
    }, { dir: mnt(t, root) });
  });

  t.test(`${name}: a hardlink to a file of a lower layer works (copied up on overlay)`, async (t) => {
    const { root, d } = await fresh(t);
    await layer(d, 'L1', '', [{ name: 'bin/', type: 'dir' }, { name: 'bin/busybox', data: 'bb', mode: 0o755, uid: 0, gid: 0 }]);
    await layer(d, 'L2', 'L1', [{ name: 'bin/sh', type: 'link', linkname: 'bin/busybox' }, { name: 'usr/bin/env', type: 'link', linkname: '/bin/busybox' }]);
    await withMounted(await d.mounts('L2'), async (m) => {
      const a = fs.statSync(path.join(m, 'bin', 'busybox'));
      const b = fs.statSync(path.join(m, 'bin', 'sh'));
      const c = fs.statSync(path.join(m, 'usr', 'bin', 'env'));
      t.equal(b.ino, a.ino, 'sh and busybox are one inode');
      t.equal(c.ino, a.ino, 'env too');
      t.equal(a.nlink, 3);
      t.equal(fs.readFileSync(path.join(m, 'bin', 'sh'), 'utf8'), 'bb');
    }, { dir: mnt(t, root) });
    await withMounted(await d.mounts('L1'), async (m) => {
      t.equal(fs.statSync(path.join(m, 'bin', 'busybox')).nlink, 1, 'the lower layer is unchanged');
    }, { dir: mnt(t, root) });
  });

  t.test(`${name}: usage counts the snapshot's own layer, hardlinks once`, async (t) => {
    const { d } = await fresh(t);
    const big = Buffer.alloc(1 << 20, 7);
    await layer(d, 'L1', '', [{ name: 'big', data: big }, { name: 'big2', type: 'link', linkname: 'big' }, { name: 'small', data: 'x' }]);
    const u1 = await d.usage('L1');
    t.ok(u1.size >= 1 << 20 && u1.size < (1 << 20) + 64 * 1024, `size ${u1.size} counts the 1 MiB file once`);
    t.equal(u1.inodes, 3, 'root dir + big (2 links) + small');
    await d.prepare('c', 'L1');
    const w = await d.writableDir('c');
    await fsp.writeFile(path.join(w, 'mine'), Buffer.alloc(64 * 1024, 1));
    const u2 = await d.usage('c');
    t.ok(u2.size >= 64 * 1024, `child's usage ${u2.size} includes its own file`);
    t.equal(await d.usage('L1').then((u) => u.size), u1.size, 'parent usage unchanged');
  });

  t.test(`${name}: walk never lists half-made snapshots; cleanup removes them`, async (t) => {
    const { root, d } = await fresh(t);
    await layer(d, 'L1', '', [{ name: 'a', data: '1' }]);
    // What a process killed inside prepare/remove leaves: temp dirs of a dead pid, and an
    // id directory the index never named.
    const snapRoot = path.dirname(path.dirname(await d.prepare('probe', '')));
    await d.remove('probe');
    const dead = 999_999_99;
    fs.mkdirSync(path.join(snapRoot, `.tmp-${dead}-4242`, 'fs'), { recursive: true });
    fs.writeFileSync(path.join(snapRoot, `.tmp-${dead}-4242`, 'fs', 'half'), 'x');
    fs.mkdirSync(path.join(snapRoot, '4243', 'fs'), { recursive: true });
    fs.mkdirSync(path.join(snapRoot, `.rm-${dead}-1-abc`, 'fs'), { recursive: true });
    const live = path.join(snapRoot, `.tmp-${process.pid}-4244`);
    fs.mkdirSync(live);
    const names: string[] = [];
    await d.walk((i) => { names.push(i.name); });
    t.same(names, ['L1'], 'walk lists complete snapshots only');
    t.ok(isCleaner(d), 'driver implements Cleaner');
    if (!isCleaner(d)) return;
    t.equal(await d.cleanup(), 3, 'three leftovers removed');
    t.ok(fs.existsSync(live), 'a temp dir of a live process is left alone');
    t.notOk(fs.existsSync(path.join(snapRoot, '4243')));
    t.equal(await d.cleanup(), 0, 'idempotent');
    fs.rmdirSync(live);
    await withMounted(await d.mounts('L1'), async (m) => t.same(await listTree(m), ['a = 1']), { dir: mnt(t, root) });
  });

  t.test(`${name}: a failed apply leaves a removable snapshot and nothing committed`, async (t) => {
    const { d } = await fresh(t);
    await d.prepare('x', '');
    await expectCode(t, d.apply('x', tarStream([{ name: 'ok', data: '1' }, { name: '../escape', data: 'x' }])), 'ERR_LAYER_UNSAFE_PATH', 'invalidArgument', 'unsafe tar');
    await d.remove('x');
    await expectCode(t, d.stat('x'), 'ERR_SNAPSHOT_NOT_FOUND', 'notFound', 'removed');
  });

  t.test(`${name}: 128 layers still mount`, async (t) => {
    const { root, d } = await fresh(t);
    let parent = '';
    for (let i = 0; i < 128; i++) {
      const n = `sha256:${String(i).padStart(64, '0')}`;
      await layer(d, n, parent, [{ name: `layer-${i}`, data: String(i) }, ...(i > 0 ? [{ name: `.wh.layer-${i - 1}` }] : [])]);
      parent = n;
    }
    await d.prepare('top', parent);
    const mounts = await d.mounts('top');
    await withMounted(mounts, async (m) => {
      t.same(await listTree(m), ['layer-127 = 127'], 'only the top file survives 127 whiteouts');
      await fsp.writeFile(path.join(m, 'w'), 'w');
    }, { dir: mnt(t, root) });
  });

  t.test(`${name}: optional givesBackChunks — apply gives every chunk back once, and never reads it again`, async (t) => {
    const { root, d } = await fresh(t);
    if (d.givesBackChunks !== true) {
      t.plan(0, `${name} does not give chunks back`);
      return;
    }
    const long = `${'deep/'.repeat(30)}file`; // a PAX path: a header gathered across chunks
    const bigData = Buffer.alloc(300_000, 'b').toString();
    const entries: TarEntry[] = [
      { name: 'etc/', type: 'dir' },
      { name: 'etc/small', data: 'small' },
      { name: 'big', data: bigData },
      { name: long, data: 'long' },
      { name: 'link', type: 'symlink', linkname: 'etc/small' },
    ];
    const tar = buildTar(entries);
    for (const size of [700, 65_536]) {
      // each chunk a view of one shared memory, lent; a chunk given back is overwritten at once,
      // so a driver reading it afterwards would write garbage
      const memory = new SharedArrayBuffer(tar.length);
      const chunks: Buffer[] = [];
      for (let o = 0; o < tar.length; o += size) {
        const c = Buffer.from(memory, o, Math.min(size, tar.length - o));
        tar.copy(c, 0, o, o + c.length);
        chunks.push(c);
      }
      const back = new Map<Uint8Array, number>();
      lendFrom(memory, (c) => {
        back.set(c, (back.get(c) ?? 0) + 1);
        c.fill(0x5a);
      });
      const key = `lent-${size}`;
      await d.prepare(key, '');
      try {
        await d.apply(key, Readable.from(chunks));
      } finally {
        stopLending(memory);
      }
      t.equal(back.size, chunks.length, `${size}-byte chunks: every chunk given back (${chunks.length})`);
      t.ok([...back.values()].every((n) => n === 1), 'each once');
      t.ok(chunks.every((c) => back.has(c)), 'as the same objects');
      await d.commit(`L-${size}`, key);
      await withMounted(await d.mounts(`L-${size}`), async (m) => {
        t.same(await listTree(m), (await listTree(await treeOf(entries, root))), 'the tree is the tar, byte for byte');
      }, { dir: mnt(t, root) });
    }
  });

  t.test(`${name}: optional DetachedApplier — a layer applied before its parent exists equals an ordinary apply`, async (t) => {
    const { root, d } = await fresh(t);
    if (!isDetachedApplier(d)) {
      t.plan(0, `${name} does not implement DetachedApplier`);
      return;
    }
    const gz = (entries: TarEntry[]) => Readable.from([zlib.gzipSync(buildTar(entries))]);
    const sha = (entries: TarEntry[]) => 'sha256:' + createHash('sha256').update(buildTar(entries)).digest('hex');
    const base: TarEntry[] = [{ name: 'opt/', type: 'dir', mode: 0o710, uid: 7, gid: 8 }, { name: 'opt/app/', type: 'dir', mode: 0o750, uid: 9, gid: 9 }, { name: 'opt/app/bin', data: 'b' }, { name: 'etc/', type: 'dir', mode: 0o755 }, { name: 'etc/gone', data: 'g' }];
    // opt/ and opt/app/ are implicit here (no entries of their own); etc/ has its own entry.
    const top: TarEntry[] = [{ name: 'opt/app/new', data: 'n' }, { name: 'etc/', type: 'dir', mode: 0o700 }, { name: 'etc/.wh.gone' }, { name: 'srv/x/y', data: 'y' }];
    // The optional prewarm hint returns at once, throws nothing, and changes no snapshot.
    if (typeof d.prewarm === 'function') {
      t.equal(d.prewarm(), undefined, 'prewarm() is a synchronous hint');
      const names: string[] = [];
      await d.walk((i) => void names.push(i.name));
      t.same(names, [], 'prewarm() creates no snapshot');
    }
    // Applied first, before its parent exists.
    await d.prepare('top-key', '');
    const r = await d.applyDetached('top-key', gz(top), 'gzip');
    t.equal(r.diffId, sha(top), 'diff id of the uncompressed tar');
    t.equal(r.size, buildTar(top).length, 'uncompressed size');
    t.same([...(r.implicitDirs ?? [])].sort(), ['opt', 'opt/app', 'srv', 'srv/x'], 'implicit directories reported');
    await expectCode(t, d.attach('top-key', 'P', r.implicitDirs ?? []), 'ERR_SNAPSHOT_NOT_FOUND', 'notFound', 'attach to a parent that does not exist yet');
    await d.prepare('P-key', '');
    await expectCode(t, d.attach('top-key', 'P-key', r.implicitDirs ?? []), 'ERR_SNAPSHOT_PARENT_NOT_COMMITTED', 'failedPrecondition', 'attach to an active parent');
    await d.apply('P-key', tarStream(base));
    await d.commit('P', 'P-key');
    await d.attach('top-key', 'P', r.implicitDirs ?? []);
    t.equal((await d.stat('top-key')).parent, 'P', 'attached: the parent is recorded');
    await expectCode(t, d.attach('top-key', 'P', []), 'ERR_SNAPSHOT_ATTACHED', 'failedPrecondition', 'attach twice');
    await expectCode(t, d.applyDetached('top-key', gz(top), 'gzip'), 'ERR_SNAPSHOT_ATTACHED', 'failedPrecondition', 'applyDetached into a snapshot with a parent');
    await d.commit('T', 'top-key');
    // The ordinary way, for comparison.
    await layer(d, 'T2', 'P', top);
    const meta = async (m: string) => {
      const out: string[] = [];
      for (const rel of ['opt', 'opt/app', 'etc', 'srv', 'srv/x']) {
        const st = fs.lstatSync(path.join(m, rel));
        out.push(`${rel} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`);
      }
      return [...out, ...(await listTree(m))];
    };
    let detached: string[] = [];
    await withMounted(await d.mounts('T'), async (m) => { detached = await meta(m); }, { dir: mnt(t, root) });
    await withMounted(await d.mounts('T2'), async (m) => {
      t.same(detached, await meta(m), 'same tree, modes and owners as an ordinary apply');
    }, { dir: mnt(t, root) });
    t.ok(detached.includes('opt/app 750 9:9') && detached.includes('opt 710 7:8'), `implicit dirs took the parent's owner and mode: ${detached.slice(0, 5).join(', ')}`);
    t.notOk(detached.some((l) => l.startsWith('etc/gone')), 'the whiteout hides the parent file');
    // A hardlink to a file of a lower layer cannot be applied detached.
    await d.prepare('link-key', '');
    await expectCode(t, d.applyDetached('link-key', gz([{ name: 'opt/app/bin2', type: 'link', linkname: 'opt/app/bin' }]), 'gzip'), 'ERR_LAYER_NEEDS_PARENT', 'failedPrecondition', 'hardlink to a lower file');
    await d.remove('link-key');
    // Corrupt input: the decompressor's stable code.
    await d.prepare('bad-key', '');
    await expectCode(t, d.applyDetached('bad-key', Readable.from([Buffer.from('not gzip at all')]), 'gzip'), 'ERR_IMAGE_DECOMPRESS_FAILED', 'invalidArgument', 'corrupt gzip');
    await d.remove('bad-key');
  });

  t.test(`${name}: two driver instances on one root: parallel prepares, one winner per key`, async (t) => {
    const { root, d } = await fresh(t);
    const d2 = await factory(root);
    await layer(d, 'L1', '', [{ name: 'a', data: '1' }]);
    const keys = Array.from({ length: 8 }, (_, i) => `k${i}`);
    await Promise.all(keys.map((k, i) => (i % 2 ? d : d2).prepare(k, 'L1')));
    const seen: string[] = [];
    await d2.walk((i) => { seen.push(i.name); });
    t.same(seen, ['L1', ...keys], 'all prepares recorded');
    const race = await Promise.allSettled([d.prepare('same', 'L1'), d2.prepare('same', 'L1'), d.prepare('same', 'L1')]);
    t.equal(race.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one prepare of the same key wins');
    for (const r of race) if (r.status === 'rejected') t.ok(hasCode(r.reason, 'ERR_SNAPSHOT_EXISTS'), 'the others get ERR_SNAPSHOT_EXISTS');
    const commits = await Promise.allSettled([d.commit('C', 'k0'), d2.commit('C', 'k1')]);
    t.equal(commits.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one commit to a name wins');
  });
}
