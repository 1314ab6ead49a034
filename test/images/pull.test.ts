// Pull through the built CLI from a real docker-registry: the FROM-scratch busybox image (OCI and
// Docker schema2), a multi-layer image with whiteouts/hardlinks (checked on the mounted rootfs),
// a multi-arch index with --platform, zstd layers, progress output, -q, and "up to date".
import t from 'tap';
import { mkdtemp, rm, readFile, stat, readlink, readdir, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { berth, tempRoot } from '../helpers/cli';
import { startRegistry } from '../helpers/registry';
import { buildLayout, busyboxLayer, makeTar, pushDockerLayout, pushLayout, whiteoutLayers } from '../helpers/images';

async function layoutDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'berth-layout-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

/** Reads a file of an image's rootfs through the vfs driver's layer dir (a full copy). */
async function vfsRootfs(root: string, ref: string): Promise<string> {
  const r = await berth(['--config', '/dev/null', 'image', 'inspect', '--format', '{{json .GraphDriver}}', ref], { root });
  const g = JSON.parse(r.stdout) as { Name: string; Data: Record<string, string> };
  return g.Data.Dir ?? g.Data.UpperDir ?? '';
}

t.test('pull busybox (OCI, gzip) end to end', async (t) => {
  const reg = await startRegistry(t);
  const dir = await layoutDir(t);
  const { built, topDigest } = await buildLayout(dir, 'latest', [{ layers: [await busyboxLayer()] }]);
  await pushLayout(dir, 'latest', `${reg.host}/library/busybox:latest`);
  const root = await tempRoot(t);
  const ref = `${reg.host}/library/busybox`;
  const r = await berth(['pull', ref], { root });
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.equal(lines[0], 'Using default tag: latest');
  t.equal(lines[1], 'latest: Pulling from library/busybox');
  t.ok(lines.includes(`${built[0]!.layerDigests[0]!.slice(7, 19)}: Pull complete`), 'per-layer status lines');
  t.ok(lines.includes(`Digest: ${topDigest}`));
  t.ok(lines.includes(`Status: Downloaded newer image for ${ref}:latest`));
  t.equal(lines[lines.length - 1], `${ref}:latest`);

  const ls = await berth(['images', '--format', '{{.Repository}} {{.Tag}} {{.ID}}', '--no-trunc'], { root });
  t.equal(ls.stdout.trim(), `${ref} latest ${built[0]!.configDigest}`);
  const insp = JSON.parse((await berth(['image', 'inspect', `${ref}:latest`], { root })).stdout) as Array<Record<string, unknown>>;
  t.equal(insp[0]!.Id, built[0]!.configDigest);
  t.same(insp[0]!.RepoDigests, [`${ref}@${topDigest}`]);
  t.same((insp[0]!.RootFS as { Layers: string[] }).Layers, built[0]!.diffIds);
  t.equal(insp[0]!.Os, 'linux');

  // The unpacked layer has busybox and its applet links.
  const upper = await vfsRootfs(root, `${ref}:latest`);
  t.ok(upper, 'graph driver names the layer dir');
  const bb = await stat(join(upper, 'bin/busybox'));
  t.equal(bb.mode & 0o777, 0o755);
  t.equal(bb.size, (await stat('/bin/busybox')).size);
  t.equal(await readlink(join(upper, 'bin/sh')), 'busybox');

  // Second pull: up to date, nothing fetched again.
  const again = await berth(['pull', ref], { root });
  t.equal(again.code, 0, again.stderr);
  t.notMatch(again.stdout, /Already exists|Pull complete/, 'no layer lines for a complete image');
  t.match(again.stdout, new RegExp(`Status: Image is up to date for ${ref.replace(/[.]/g, '\\.')}:latest`));

  // -q prints only the reference; pull by digest works and records no tag.
  const root2 = await tempRoot(t);
  const q = await berth(['pull', '-q', `${ref}@${topDigest}`], { root: root2 });
  t.equal(q.code, 0, q.stderr);
  t.equal(q.stdout, `${ref}@${topDigest}\n`);
  const ls2 = await berth(['images', '--digests', '--format', '{{.Repository}} {{.Tag}} {{.Digest}}'], { root: root2 });
  t.equal(ls2.stdout.trim(), `${ref} <none> ${topDigest}`);
  const chk = await berth(['system', 'check'], { root: root2 });
  t.equal(chk.code, 0, chk.stdout + chk.stderr);
});

t.test('Docker schema2 manifest, multi-layer image with whiteouts and hardlinks', async (t) => {
  const reg = await startRegistry(t);
  const dir = await layoutDir(t);
  const layers = await whiteoutLayers();
  const { built } = await buildLayout(dir, 'v1', [{ layers, docker: true }]);
  await pushDockerLayout(dir, built[0]!, `${reg.host}/test/wh:v1`);
  const root = await tempRoot(t);
  const r = await berth(['--config', '/dev/null', 'pull', `${reg.host}/test/wh:v1`], { root });
  t.equal(r.code, 0, r.stderr);
  const insp = JSON.parse((await berth(['image', 'inspect', `${reg.host}/test/wh:v1`], { root })).stdout) as Array<{ GraphDriver: { Name: string; Data: Record<string, string> }; RootFS: { Layers: string[] } }>;
  t.equal(insp[0]!.RootFS.Layers.length, 3);
  // Mount the complete rootfs through the storage driver's helper and look at the merged view.
  const { mountAll, unmountAll } = require('../../core/images/mount') as typeof import('../../core/images/mount');
  const { Engine } = require('../../core/engine') as typeof import('../../core/engine');
  const { builtins } = require('../../plugins/builtins') as typeof import('../../plugins/builtins');
  const engine = await Engine.open({ registrations: builtins, root, onlyTypes: ['berth.storage.v1'] });
  t.teardown(() => engine.close());
  const { imageService } = require('../../core/images/service') as typeof import('../../core/images/service');
  const img = await engine.use(imageService).get(`${reg.host}/test/wh:v1`);
  const d = engine.storage();
  const key = `view-test-${process.pid}`;
  await d.view(key, img.chainIds[img.chainIds.length - 1]!);
  t.teardown(() => d.remove(key).catch(() => undefined));
  const target = await mkdtemp(join(tmpdir(), 'berth-mnt-'));
  t.teardown(() => rm(target, { recursive: true, force: true }));
  const mounts = await d.mounts(key);
  await mountAll(mounts, target);
  t.teardown(() => unmountAll(target).catch(() => undefined));
  t.equal(await readFile(join(target, 'data/keep.txt'), 'utf8'), 'keep\n');
  await t.rejects(stat(join(target, 'data/gone.txt')), { code: 'ENOENT' }, 'whiteout deleted the lower file');
  t.same((await readdir(join(target, 'opaque'))).sort(), ['new'], 'opaque dir hides lower entries');
  const a = await stat(join(target, 'data/linked.txt'));
  const b = await stat(join(target, 'data/hardlink.txt'));
  t.equal(a.ino, b.ino, 'hardlink shares the inode');
  t.ok((await stat(join(target, 'swap'))).isDirectory(), 'file replaced by a directory');
  t.equal(await readFile(join(target, 'swap/inside'), 'utf8'), 'now a dir\n');
  t.equal((await stat(join(target, 'big.bin'))).size, 256 * 1024);
});

t.test('multi-arch index: host platform by default, --platform picks another', async (t) => {
  const reg = await startRegistry(t);
  const dir = await layoutDir(t);
  const bb = await busyboxLayer();
  const { makeTar } = require('../helpers/images') as typeof import('../helpers/images');
  const armLayer = await makeTar([{ name: 'arch', data: 'arm64\n' }]);
  const { built, topDigest } = await buildLayout(dir, 'multi', [
    { layers: [bb], platform: { os: 'linux', architecture: 'amd64' } },
    { layers: [armLayer], platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  ]);
  await pushLayout(dir, 'multi', `${reg.host}/multi:latest`, { all: true });
  const root = await tempRoot(t);
  const r = await berth(['pull', `${reg.host}/multi`], { root });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, `Digest: ${topDigest}`);
  const id = (await berth(['images', '-q', '--no-trunc'], { root })).stdout.trim();
  t.equal(id, built[0]!.configDigest, 'amd64 picked on this host');
  const r2 = await berth(['pull', '--platform', 'linux/arm64', `${reg.host}/multi:latest`], { root });
  t.equal(r2.code, 0, r2.stderr);
  const insp = JSON.parse((await berth(['image', 'inspect', `${reg.host}/multi:latest`], { root })).stdout) as Array<{ Id: string; Architecture: string }>;
  t.equal(insp[0]!.Id, built[1]!.configDigest);
  t.equal(insp[0]!.Architecture, 'arm64');
  // The amd64 image lost its tag: it is dangling now, as in Docker.
  const dangling = await berth(['images', '-q', '--no-trunc', '--filter', 'dangling=true'], { root });
  t.equal(dangling.stdout.trim(), built[0]!.configDigest);
  const none = await berth(['pull', '--platform', 'linux/s390x', `${reg.host}/multi:latest`], { root });
  t.not(none.code, 0);
  t.match(none.stderr, /no matching manifest for linux\/s390x/);
  t.match(none.stderr, /ERR_IMAGE_NO_MATCHING_PLATFORM/);
});

t.test('zstd and uncompressed layers', async (t) => {
  const reg = await startRegistry(t);
  const dir = await layoutDir(t);
  const layers = await whiteoutLayers();
  await buildLayout(dir, 'zstd', [{ layers, compression: 'zstd' }]);
  await pushLayout(dir, 'zstd', `${reg.host}/z:zstd`);
  const dir2 = await layoutDir(t);
  await buildLayout(dir2, 'plain', [{ layers, compression: 'none' }]);
  await pushLayout(dir2, 'plain', `${reg.host}/z:plain`);
  const root = await tempRoot(t);
  const r = await berth(['pull', `${reg.host}/z:zstd`], { root });
  t.equal(r.code, 0, r.stderr);
  const r2 = await berth(['pull', `${reg.host}/z:plain`], { root });
  t.equal(r2.code, 0, r2.stderr);
  // Same diff ids → same chain ids: the second pull reuses every layer.
  t.equal((r2.stdout.match(/Already exists/g) ?? []).length, 3);
  const chk = await berth(['system', 'check'], { root });
  t.equal(chk.code, 0, chk.stdout + chk.stderr);
});

t.test('two pulls of one image at once both succeed and share the layers', async (t) => {
  const reg = await startRegistry(t);
  const dir = await layoutDir(t);
  const layers = await whiteoutLayers();
  await buildLayout(dir, 'x', [{ layers: [await busyboxLayer(), ...layers] }]);
  await pushLayout(dir, 'x', `${reg.host}/both:x`);
  const root = await tempRoot(t);
  const [a, b] = await Promise.all([berth(['pull', '-q', `${reg.host}/both:x`], { root }), berth(['pull', '-q', `${reg.host}/both:x`], { root })]);
  t.equal(a.code, 0, a.stderr);
  t.equal(b.code, 0, b.stderr);
  t.equal((await berth(['images', '-q'], { root })).stdout.trim().split('\n').length, 1);
  const chk = await berth(['system', 'check'], { root });
  t.equal(chk.code, 0, chk.stdout + chk.stderr);
});

t.test('bad references and unknown images fail with stable codes', async (t) => {
  const reg = await startRegistry(t);
  const root = await tempRoot(t);
  const bad = await berth(['pull', 'Upper/Case'], { root });
  t.equal(bad.code, 1);
  t.match(bad.stderr, /ERR_IMAGE_INVALID_REFERENCE/);
  const missing = await berth(['pull', `${reg.host}/nothing:here`], { root });
  t.equal(missing.code, 1);
  t.match(missing.stderr, /manifest for .*nothing:here not found/);
  t.match(missing.stderr, /ERR_REGISTRY_NOT_FOUND/);
  const closed = await berth(['pull', '127.0.0.1:1/x'], { root });
  t.equal(closed.code, 1);
  t.match(closed.stderr, /ERR_REGISTRY_UNAVAILABLE/);
});

t.test('layers of 8 MiB and more: read straight into pieces, a cut mid-layer resumed, files exact', async (t) => {
  // 9.5 MB of random bytes in two files (gzip cannot shrink them): above the transport's 8 MiB
  // threshold for direct reads, on both pull paths (overlay: detached apply; vfs: stream apply).
  const a = randomBytes(6_000_000);
  const b = randomBytes(3_500_000);
  const dir = await layoutDir(t);
  await buildLayout(dir, 'latest', [{ layers: [await busyboxLayer(), await makeTar([{ name: 'data/', type: 'directory' }, { name: 'data/a', data: a }, { name: 'data/b', data: b }])] }]);
  for (const driver of ['overlay', 'vfs']) {
    const reg = await startRegistry(t, { cutBlobOnce: true });
    await pushLayout(dir, 'latest', `${reg.directHost}/big/random:latest`);
    const root = await tempRoot(t);
    const cfg = await tempRoot(t, 'berth-cfg-');
    await writeFile(join(cfg, 'config.yaml'), `storage-driver: ${driver}\n`);
    const r = await berth(['--config', join(cfg, 'config.yaml'), 'pull', '-q', `${reg.host}/big/random`], { root });
    t.equal(r.code, 0, `${driver}: ${r.stderr}`);
    t.ok(reg.log.some((l) => l.range === 'bytes=32768-'), `${driver}: resumed right after the 32 KiB that arrived before the cut`);
    const g = JSON.parse((await berth(['--config', join(cfg, 'config.yaml'), 'image', 'inspect', '--format', '{{json .GraphDriver}}', `${reg.host}/big/random`], { root })).stdout) as { Data: Record<string, string> };
    // vfs: Dir, a full copy; overlay: the image's top layer is LowerDir's first entry
    const top = g.Data.Dir ?? g.Data.LowerDir?.split(':')[0] ?? '';
    const sha = (x: Buffer) => createHash('sha256').update(x).digest('hex');
    t.equal(sha(await readFile(join(top, 'data/a'))), sha(a), `${driver}: data/a byte for byte`);
    t.equal(sha(await readFile(join(top, 'data/b'))), sha(b), `${driver}: data/b byte for byte`);
    const chk = await berth(['system', 'check'], { root });
    t.equal(chk.code, 0, chk.stdout + chk.stderr);
  }
});

t.test('vfs, a layer decoded on a worker thread: applied from lent chunks, files exact (gzip, zstd)', async (t) => {
  // BERTH_DECODE_THREAD=1 decodes every layer on a worker; vfs's apply gives chunks back
  // (givesBackChunks), so the worker lends its output (docs/decisions/011): ~8 MB of tar is ~8
  // lent 1 MiB chunks, counted by BERTH_TRACE_PULL.
  const a = randomBytes(3_000_000);
  const text = Buffer.from('a line of text that compresses well\n'.repeat(150_000));
  const tar = await makeTar([{ name: 'data/', type: 'directory' }, { name: 'data/a', data: a }, { name: 'data/text', data: text }]);
  const cfg = await tempRoot(t, 'berth-cfg-');
  await writeFile(join(cfg, 'config.yaml'), 'storage-driver: vfs\n');
  const sha = (x: Buffer) => createHash('sha256').update(x).digest('hex');
  for (const compression of ['gzip', 'zstd'] as const) {
    const dir = await layoutDir(t);
    await buildLayout(dir, 'latest', [{ layers: [tar], compression }]);
    const reg = await startRegistry(t);
    const ref = `${reg.host}/lent/${compression}:latest`;
    await pushLayout(dir, 'latest', ref);
    const root = await tempRoot(t);
    const r = await berth(['--config', join(cfg, 'config.yaml'), 'pull', '-q', ref], { root, env: { BERTH_DECODE_THREAD: '1', BERTH_TRACE_PULL: '1' } });
    t.equal(r.code, 0, `${compression}: ${r.stderr}`);
    const lent = /(\d+) lent chunks/.exec(r.stderr);
    t.ok(lent && Number(lent[1]) >= 7, `${compression}: the tar came as lent chunks (${lent?.[1] ?? 'none'})`);
    const top = await vfsRootfs(root, ref);
    t.equal(sha(await readFile(join(top, 'data/a'))), sha(a), `${compression}: data/a byte for byte`);
    t.equal(sha(await readFile(join(top, 'data/text'))), sha(text), `${compression}: data/text byte for byte`);
    const chk = await berth(['system', 'check'], { root });
    t.equal(chk.code, 0, chk.stdout + chk.stderr);
  }
});
