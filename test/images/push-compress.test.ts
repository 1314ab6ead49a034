// Push of layers berth holds only as plain tars (images made by `berth import`): they go out
// gzip-compressed, with a manifest naming the compressed blobs and an unchanged config; the
// compressed blobs are kept and reused (second push, `berth save`); skopeo and a fresh berth root
// read the result and get the same image id.
import t from 'tap';
import { writeFile, readFile, readdir, mkdir } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { berth, tempRoot } from '../helpers/cli';
import { blobDataPath, chunkedPushSetup } from '../helpers/registry';
import { busyboxLayer, makeTar, sha256 } from '../helpers/images';

const run = promisify(execFile);

interface Manifest { mediaType: string; config: { digest: string }; layers: Array<{ mediaType: string; digest: string; size: number }> }

async function rawManifest(ref: string): Promise<Manifest> {
  const { stdout } = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]);
  return JSON.parse(stdout) as Manifest;
}

const blobsOf = async (root: string) => (await readdir(join(root, 'content/blobs/sha256')).catch(() => [] as string[])).map((h) => `sha256:${h}`).sort();

t.test('an imported image is pushed gzip-compressed; pull, skopeo, re-push and save agree', async (t) => {
  // Token auth (requests go through the test proxy, which logs them); small chunks: the
  // compressed layer (about 1 MiB) goes up in PATCH chunks.
  const { reg, root, config, dir } = await chunkedPushSetup(t);
  const tar = await busyboxLayer();
  const tarDigest = sha256(tar);
  await writeFile(join(dir, 'root.tar'), tar);
  const imp = await berth(['import', '-c', 'CMD ["sh"]', join(dir, 'root.tar'), `${reg.host}/c/app:1`], { root });
  t.equal(imp.code, 0, imp.stderr);
  const id = imp.stdout.trim();
  t.same(await blobsOf(root), [id, tarDigest].sort(), 'before the push berth holds the plain tar only');

  const p = await berth(['--config', config, 'push', `${reg.host}/c/app:1`], { root });
  t.equal(p.code, 0, p.stderr);
  t.match(p.stdout, /: Pushed/);
  const digest = /1: digest: (sha256:[a-f0-9]{64}) size: \d+/.exec(p.stdout)?.[1];
  t.ok(digest, 'digest line');

  // The registry's view, through skopeo.
  const m = await rawManifest(`${reg.host}/c/app:1`);
  t.equal(m.config.digest, id, 'config unchanged: same image id');
  t.equal(m.layers.length, 1);
  const layer = m.layers[0]!;
  t.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip', 'a gzip layer media type');
  t.not(layer.digest, tarDigest, 'the compressed blob, not the tar');
  const pushed = await readFile(blobDataPath(reg, layer.digest));
  t.equal(pushed.length, layer.size, 'descriptor size = blob size');
  t.equal(sha256(pushed), layer.digest, 'descriptor digest = blob digest');
  t.ok(pushed.length < tar.length * 0.7, `compressed (${pushed.length} of ${tar.length} bytes)`);
  t.equal(sha256(gunzipSync(pushed)), tarDigest, 'decompresses to the tar: the diff id');
  const cfg = JSON.parse(await readFile(blobDataPath(reg, id), 'utf8')) as { rootfs: { diff_ids: string[] } };
  t.same(cfg.rootfs.diff_ids, [tarDigest], 'diff_ids name the uncompressed tar');
  const patches = reg.log.filter((l) => l.method === 'PATCH').length;
  t.ok(patches >= Math.floor(layer.size / 65536), `uploaded in chunks (${patches} PATCH requests)`);

  // berth kept the compressed blob and the manifest, and the record now names them.
  const held = await blobsOf(root);
  t.ok(held.includes(layer.digest), 'compressed blob kept in the content store');
  t.ok(held.includes(digest!), 'manifest kept');
  const chk = await berth(['system', 'check'], { root });
  t.equal(chk.code, 0, chk.stdout + chk.stderr);
  const prune = await berth(['system', 'prune', '-f'], { root, env: { BERTH_PRUNE_GRACE_MS: '0' } });
  t.equal(prune.code, 0, prune.stderr);
  t.same(await blobsOf(root), [id, digest!, layer.digest].sort(), 'the record names the compressed blob; the plain tar is unreferenced and pruned');

  // A second push (another repository, no compression needed) sends the same bytes.
  const before = reg.log.length;
  await berth(['tag', `${reg.host}/c/app:1`, `${reg.host}/c/other:2`], { root });
  const p2 = await berth(['--config', config, 'push', `${reg.host}/c/other:2`], { root });
  t.equal(p2.code, 0, p2.stderr);
  t.match(p2.stdout, new RegExp(`2: digest: ${digest} `), 'same manifest digest');
  t.notOk(reg.log.slice(before).some((l) => l.method === 'PATCH'), 'no layer upload: mounted or already there');

  // Another image with the same layer reuses the compressed blob berth holds.
  const imp2 = await berth(['import', '-c', 'CMD ["true"]', join(dir, 'root.tar'), `${reg.host}/c/app:third`], { root });
  t.equal(imp2.code, 0, imp2.stderr);
  const p3 = await berth(['push', `${reg.host}/c/app:third`], { root });
  t.equal(p3.code, 0, p3.stderr);
  t.match(p3.stdout, /Layer already exists/);
  t.equal((await rawManifest(`${reg.host}/c/app:third`)).layers[0]!.digest, layer.digest, 'same compressed blob');

  // A fresh root pulls it: same image id; skopeo copies it (verifying every digest).
  const root2 = await tempRoot(t);
  const pulled = await berth(['pull', `${reg.host}/c/app:1`], { root: root2 });
  t.equal(pulled.code, 0, pulled.stderr);
  t.equal((await berth(['images', '-q', '--no-trunc'], { root: root2 })).stdout.trim(), id, 'same image id after the round trip');
  const oci = await tempRoot(t, 'berth-skopeo-');
  await run('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${reg.host}/c/app:1`, `oci:${oci}:x`]);
  t.ok((await readdir(join(oci, 'blobs/sha256'))).includes(layer.digest.slice(7)), 'skopeo copy holds the compressed layer');

  // save after the push writes what was pushed (the compressed layer), and load gives the same id.
  const out = await tempRoot(t, 'berth-save-');
  const s = await berth(['save', '-o', join(out, 'img.tar'), `${reg.host}/c/app:1`], { root });
  t.equal(s.code, 0, s.stderr);
  const x = join(out, 'x');
  await mkdir(x);
  await run('tar', ['-xf', join(out, 'img.tar'), '-C', x]);
  const mj = JSON.parse(await readFile(join(x, 'manifest.json'), 'utf8')) as Array<{ Layers: string[] }>;
  t.same(mj[0]!.Layers, [`blobs/sha256/${layer.digest.slice(7)}`]);
  const index = JSON.parse(await readFile(join(x, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  t.equal(index.manifests[0]!.digest, digest, 'the pushed manifest, byte for byte');
  const root3 = await tempRoot(t);
  const l = await berth(['load', '-i', join(out, 'img.tar')], { root: root3 });
  t.equal(l.code, 0, l.stderr);
  t.equal((await berth(['images', '-q', '--no-trunc'], { root: root3 })).stdout.trim(), id);
});

t.test('save of an imported image never pushed writes the plain tar, as docker save does', async (t) => {
  const root = await tempRoot(t);
  const dir = await tempRoot(t, 'berth-tar-');
  const tar = await makeTar([{ name: 'etc/motd', data: 'hello\n' }]);
  await writeFile(join(dir, 'l.tar'), tar);
  const imp = await berth(['import', join(dir, 'l.tar'), 'plain:1'], { root });
  t.equal(imp.code, 0, imp.stderr);
  const s = await berth(['save', '-o', join(dir, 'img.tar'), 'plain:1'], { root });
  t.equal(s.code, 0, s.stderr);
  const x = join(dir, 'x');
  await mkdir(x);
  await run('tar', ['-xf', join(dir, 'img.tar'), '-C', x]);
  const mj = JSON.parse(await readFile(join(x, 'manifest.json'), 'utf8')) as Array<{ Layers: string[] }>;
  t.same(mj[0]!.Layers, [`blobs/sha256/${sha256(tar).slice(7)}`], 'the uncompressed layer');
});
