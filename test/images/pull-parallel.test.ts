// Parallel pull (overlay: every layer applied at once, each before its parent exists, then
// attached — core/images/pull.ts, DetachedApplier) against the sequential pull
// (BERTH_PULL_PARALLEL=0) through the built CLI from a real registry: every layer dir must come out
// identical (names, types, modes, owners, sizes, link targets, hardlink groups), including
// directories a layer creates implicitly under a lower directory with an unusual mode/owner, and
// a layer with a hardlink to a lower layer's file (which cannot be applied detached and falls
// back to the ordinary apply on its committed parent).
import t from 'tap';
import { lstat, mkdtemp, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { berth, tempRoot } from '../helpers/cli';
import { startRegistry } from '../helpers/registry';
import { buildLayout, makeTar, pushLayout } from '../helpers/images';

/** Every entry of a layer dir as one line; hardlinks grouped by first name. */
async function describe(dir: string): Promise<string[]> {
  const out: string[] = [];
  const inodes = new Map<number, string>();
  const walk = async (rel: string) => {
    for (const n of (await readdir(join(dir, rel))).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const st = await lstat(join(dir, r));
      const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? `l->${await readlink(join(dir, r))}` : st.isFile() ? `f${st.size}` : st.isCharacterDevice() ? `c${st.rdev}` : '?';
      let link = '';
      if (st.isFile() && st.nlink > 1) {
        link = ` =${inodes.get(st.ino) ?? r}`;
        if (!inodes.has(st.ino)) inodes.set(st.ino, r);
      }
      out.push(`${r} ${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}${link}`);
      if (st.isDirectory()) await walk(r);
    }
  };
  await walk('');
  return out;
}

/** The image's layer dirs, top first (a committed image mounts as lowerdirs only). */
async function layerDirs(root: string, ref: string): Promise<string[]> {
  const r = await berth(['image', 'inspect', '--format', '{{json .GraphDriver}}', ref], { root });
  const g = JSON.parse(r.stdout) as { Name: string; Data: Record<string, string> };
  t.equal(g.Name, 'overlay', 'the overlay driver');
  return [...(g.Data.UpperDir ? [g.Data.UpperDir] : []), ...(g.Data.LowerDir ?? '').split(':').filter(Boolean)];
}

t.test('parallel and sequential pulls give identical layers (implicit dirs, whiteouts, cross-layer hardlink)', async (t) => {
  const reg = await startRegistry(t);
  const dir = await mkdtemp(join(tmpdir(), 'berth-layout-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const l1 = await makeTar([
    { name: 'opt/', type: 'directory', mode: 0o710, uid: 7, gid: 8 },
    { name: 'opt/app/', type: 'directory', mode: 0o750, uid: 9, gid: 9 },
    { name: 'opt/app/bin', data: 'bin\n', mode: 0o755 },
    { name: 'etc/', type: 'directory', mode: 0o755 },
    { name: 'etc/gone', data: 'gone\n' },
    { name: 'big.bin', data: Buffer.alloc(3 << 20, 5) },
  ]);
  // opt/ and opt/app/ are implicit here; big enough to still be applying when l1 is.
  const l2 = await makeTar([
    { name: 'opt/app/new', data: 'new\n' },
    { name: 'etc/.wh.gone', data: '' },
    { name: 'srv/x/y', data: 'y\n' },
    { name: 'srv/x/y2', type: 'link', linkname: 'srv/x/y' },
    ...Array.from({ length: 200 }, (_, i) => ({ name: `opt/app/many/f${i}`, data: `${i}\n` })),
  ]);
  // A hardlink to a file of layer 1: applied on its committed parent (copy-up), not detached.
  const l3 = await makeTar([{ name: 'opt/app/bin-link', type: 'link', linkname: 'opt/app/bin' }, { name: 'opt/app/more', data: 'm\n' }]);
  await buildLayout(dir, 'v1', [{ layers: [l1, l2, l3] }]);
  const ref = `${reg.host}/par:v1`;
  await pushLayout(dir, 'v1', ref);

  const seqRoot = await tempRoot(t);
  const seq = await berth(['pull', '-q', ref], { root: seqRoot, env: { BERTH_PULL_PARALLEL: '0' } });
  t.equal(seq.code, 0, seq.stderr);
  const parRoot = await tempRoot(t);
  const par = await berth(['pull', '-q', ref], { root: parRoot, env: { BERTH_TRACE_PULL: '1' } });
  t.equal(par.code, 0, par.stderr);
  t.match(par.stderr, /needs its parent: applied after it/, 'the hardlink layer fell back to the ordinary apply');

  const a = await layerDirs(seqRoot, ref);
  const b = await layerDirs(parRoot, ref);
  t.equal(a.length, 3);
  t.equal(b.length, 3);
  for (let i = 0; i < 3; i++) t.same(await describe(b[i]!), await describe(a[i]!), `layer dir ${i} (top first) identical`);
  const mid = await describe(b[1]!);
  t.ok(mid.includes('opt d 710 7:8') && mid.includes('opt/app d 750 9:9'), 'implicit dirs of layer 2 carry layer 1\'s owner and mode');
  t.ok(mid.includes('etc/gone c0 0 0:0'), 'the whiteout device');
  t.ok((await describe(b[0]!)).some((l) => l.startsWith('opt/app/bin-link f4')), 'the hardlinked lower file was copied up');
  for (const root of [seqRoot, parRoot]) {
    const chk = await berth(['system', 'check'], { root });
    t.equal(chk.code, 0, chk.stdout + chk.stderr);
  }
});

t.test('a corrupt layer in a parallel pull fails cleanly: nothing committed, nothing left', async (t) => {
  const reg = await startRegistry(t);
  const dir = await mkdtemp(join(tmpdir(), 'berth-layout-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const l1 = await makeTar([{ name: 'a', data: Buffer.alloc(1 << 20, 1) }]);
  const l2 = await makeTar([{ name: 'b', data: 'b\n' }]);
  const { built } = await buildLayout(dir, 'v1', [{ layers: [l1, l2] }]);
  const ref = `${reg.host}/bad:v1`;
  await pushLayout(dir, 'v1', ref);
  // Tamper with the second layer's blob in the registry's storage: a digest mismatch.
  const { readFile, writeFile } = await import('node:fs/promises');
  const digest = built[0]!.layerDigests[1]!.slice(7);
  const blob = join(reg.storage, 'docker/registry/v2/blobs/sha256', digest.slice(0, 2), digest, 'data');
  const bytes = await readFile(blob);
  bytes[bytes.length - 20] ^= 0xff;
  await writeFile(blob, bytes);
  const root = await tempRoot(t);
  const r = await berth(['pull', '-q', ref], { root, timeoutMs: 60_000 });
  t.not(r.code, 0, 'the pull fails');
  t.match(r.stderr, /ERR_CONTENT_DIGEST_MISMATCH|digest/i, r.stderr);
  const snaps = await berth(['system', 'check'], { root });
  t.equal(snaps.code, 0, snaps.stdout + snaps.stderr);
  const layersDir = join(root, 'plugins/berth.storage.v1.overlay/snapshots');
  const left = (await readdir(layersDir).catch(() => [])).filter((n) => !n.startsWith('.'));
  // The first layer may be committed (it verified); the second never is, and no extract is left.
  t.ok(left.length <= 1, `at most the verified first layer is kept: ${left.join(' ')}`);
});
