// push (monolithic, chunked, cross-repository mount, token scopes) and save/load (both layouts)
// with skopeo as the independent client on the other side.
import t from 'tap';
import { writeFile, readFile, readdir, mkdir } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { berth, tempRoot } from '../helpers/cli';
import { chunkedPushSetup, startRegistry } from '../helpers/registry';
import { buildLayout, busyboxLayer, makeTar, pushLayout } from '../helpers/images';

const run = promisify(execFile);

async function skopeoInspect(ref: string): Promise<{ Digest: string; Layers: string[] }> {
  const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`]);
  return JSON.parse(stdout) as { Digest: string; Layers: string[] };
}

t.test('push an imported image: chunked upload, then re-push skips, tag in another repo mounts', async (t) => {
  const { reg, root, config, dir } = await chunkedPushSetup(t);
  await writeFile(join(dir, 'root.tar'), await busyboxLayer());
  await berth(['import', '-c', 'CMD ["sh"]', join(dir, 'root.tar'), `${reg.host}/team/app:1`], { root });
  const p = await berth(['--config', config, 'push', `${reg.host}/team/app:1`], { root });
  t.equal(p.code, 0, p.stderr);
  t.match(p.stdout, `The push refers to repository [${reg.host}/team/app]`);
  t.match(p.stdout, /: Pushed/);
  const m = /1: digest: (sha256:[a-f0-9]{64}) size: (\d+)/.exec(p.stdout);
  t.ok(m, 'digest line');
  const patches = reg.log.filter((l) => l.method === 'PATCH').length;
  t.ok(patches >= 8, `layer uploaded in chunks (${patches} PATCH requests)`);
  const ins = await skopeoInspect(`${reg.directHost}/team/app:1`);
  t.equal(ins.Digest, m![1], 'skopeo sees the digest berth printed');
  const rd = await berth(['image', 'inspect', '-f', '{{json .RepoDigests}}', `${reg.host}/team/app:1`], { root });
  t.same(JSON.parse(rd.stdout), [`${reg.host}/team/app@${m![1]}`]);

  const again = await berth(['--config', config, 'push', `${reg.host}/team/app:1`], { root });
  t.match(again.stdout, /Layer already exists/);

  await berth(['tag', `${reg.host}/team/app:1`, `${reg.host}/other/app:2`], { root });
  const before = reg.log.length;
  const mounted = await berth(['--config', config, 'push', `${reg.host}/other/app:2`], { root });
  t.equal(mounted.code, 0, mounted.stderr);
  t.match(mounted.stdout, /Mounted from team\/app/);
  t.ok(reg.log.slice(before).some((l) => l.method === 'POST' && /mount=sha256/.test(l.url) && /from=team%2Fapp/.test(l.url)), 'cross-repo mount requested');
  t.notOk(reg.log.slice(before).some((l) => l.method === 'PATCH'), 'no upload needed');
  t.ok(reg.grantedScopes.some((s) => s === 'repository:team/app:pull'), 'token asked for pull on the source repository');
  const noTag = await berth(['push', `${reg.host}/nothing:here`], { root });
  t.equal(noTag.code, 1);
  t.match(noTag.stderr, /An image does not exist locally with the tag/);

  // Round trip: pull what we pushed into a fresh root.
  const root2 = await tempRoot(t);
  const pulled = await berth(['pull', `${reg.host}/other/app:2`], { root: root2 });
  t.equal(pulled.code, 0, pulled.stderr);
});

t.test('save: OCI layout + docker-archive in one tar, readable by skopeo; load round trip', async (t) => {
  const reg = await startRegistry(t);
  const layout = await tempRoot(t, 'berth-layout-');
  const { built, topDigest } = await buildLayout(layout, 'latest', [{ layers: [await busyboxLayer(), await makeTar([{ name: 'etc/motd', data: 'hi\n' }])] }]);
  await pushLayout(layout, 'latest', `${reg.host}/bb:latest`);
  const root = await tempRoot(t);
  t.equal((await berth(['pull', '-q', `${reg.host}/bb`], { root })).code, 0);
  await berth(['tag', `${reg.host}/bb`, 'mine:v1'], { root });
  const out = await tempRoot(t, 'berth-save-');
  const file = join(out, 'img.tar');
  const s = await berth(['save', '-o', file, 'mine:v1'], { root });
  t.equal(s.code, 0, s.stderr);
  const x = join(out, 'x');
  await mkdir(x);
  await run('tar', ['-xf', file, '-C', x]);
  const names = (await readdir(x)).sort();
  t.same(names, ['blobs', 'index.json', 'manifest.json', 'oci-layout', 'repositories']);
  const index = JSON.parse(await readFile(join(x, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations: Record<string, string> }> };
  t.equal(index.manifests[0]!.digest, topDigest, 'the pulled manifest is saved byte for byte');
  t.equal(index.manifests[0]!.annotations['io.containerd.image.name'], 'docker.io/library/mine:v1');
  t.equal(index.manifests[0]!.annotations['org.opencontainers.image.ref.name'], 'v1');
  const mj = JSON.parse(await readFile(join(x, 'manifest.json'), 'utf8')) as Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
  t.same(mj[0]!.RepoTags, ['mine:v1']);
  t.equal(mj[0]!.Config, `blobs/sha256/${built[0]!.configDigest.slice(7)}`);
  t.equal(mj[0]!.Layers.length, 2);

  // skopeo reads both layouts of berth's output.
  const d1 = await tempRoot(t, 'berth-skopeo-');
  await run('skopeo', ['copy', '-q', `oci:${x}:v1`, `dir:${d1}`]);
  t.ok((await readdir(d1)).includes(built[0]!.configDigest.slice(7)), 'skopeo copy oci: works');
  const d2 = await tempRoot(t, 'berth-skopeo-');
  await run('skopeo', ['copy', '-q', `docker-archive:${file}`, `dir:${d2}`]);
  t.ok((await readdir(d2)).includes(built[0]!.configDigest.slice(7)), 'skopeo copy docker-archive: works');
  const d3 = await tempRoot(t, 'berth-skopeo-');
  await run('skopeo', ['copy', '-q', `oci-archive:${file}:v1`, `dir:${d3}`]);
  t.ok((await readdir(d3)).includes(built[0]!.configDigest.slice(7)), 'skopeo copy oci-archive: works');

  // load into a fresh root.
  const root2 = await tempRoot(t);
  const l = await berth(['load', '-i', file], { root: root2 });
  t.equal(l.code, 0, l.stderr);
  t.equal(l.stdout, 'Loaded image: mine:v1\n');
  const id = (await berth(['images', '-q', '--no-trunc', 'mine'], { root: root2 })).stdout.trim();
  t.equal(id, built[0]!.configDigest);
  const chk = await berth(['system', 'check'], { root: root2 });
  t.equal(chk.code, 0, chk.stdout + chk.stderr);
  const until = String(Math.ceil(Date.now() / 1000) + 1);
  const ev1 = (await berth(['events', '--since', '0', '--until', until, '--filter', 'type=image', '--format', '{{.Action}} {{.Actor.Attributes.name}}'], { root })).stdout;
  t.match(ev1, `pull ${reg.host}/bb`);
  t.match(ev1, 'tag mine:v1');
  t.match(ev1, 'save mine:v1');
  const ev2 = (await berth(['events', '--since', '0', '--until', until, '--filter', 'type=image', '--format', '{{.Action}} {{.Actor.Attributes.name}}'], { root: root2 })).stdout;
  t.match(ev2, 'load mine:v1');
});

t.test('load archives written by skopeo (docker-archive and oci-archive); bad archives fail cleanly', async (t) => {
  const reg = await startRegistry(t);
  const layout = await tempRoot(t, 'berth-layout-');
  const { built } = await buildLayout(layout, 'latest', [{ layers: [await busyboxLayer()] }]);
  await pushLayout(layout, 'latest', `${reg.host}/sk:latest`);
  const out = await tempRoot(t, 'berth-arch-');
  await run('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${reg.host}/sk:latest`, `docker-archive:${join(out, 'd.tar')}:sk/loaded:v9`]);
  await run('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${reg.host}/sk:latest`, `oci-archive:${join(out, 'o.tar')}:v9`]);
  const root = await tempRoot(t);
  const a = await berth(['load', '-i', join(out, 'd.tar')], { root });
  t.equal(a.code, 0, a.stderr);
  t.equal(a.stdout, 'Loaded image: sk/loaded:v9\n');
  const root2 = await tempRoot(t);
  const b = await berth(['load', '-i', join(out, 'o.tar')], { root: root2 });
  t.equal(b.code, 0, b.stderr);
  t.equal(b.stdout, `Loaded image ID: ${built[0]!.configDigest}\n`, 'an OCI archive tagged only "v9" has no repository name');
  // The legacy (Docker ≤ 24) docker-archive: <id>/layer.tar, <config hex>.json, repositories.
  const layer = await busyboxLayer();
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  const diff = 'sha256:' + createHash('sha256').update(layer).digest('hex');
  const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [diff] }, history: [{ created_by: 'legacy' }] }));
  const cfgHex = createHash('sha256').update(cfg).digest('hex');
  const layerId = createHash('sha256').update('legacy-layer').digest('hex');
  const legacy = await makeTar([
    { name: `${layerId}/`, type: 'directory' },
    { name: `${layerId}/VERSION`, data: '1.0' },
    { name: `${layerId}/json`, data: JSON.stringify({ id: layerId }) },
    { name: `${layerId}/layer.tar`, data: layer },
    { name: `${cfgHex}.json`, data: cfg },
    { name: 'manifest.json', data: JSON.stringify([{ Config: `${cfgHex}.json`, RepoTags: ['legacy/img:old'], Layers: [`${layerId}/layer.tar`] }]) },
    { name: 'repositories', data: JSON.stringify({ 'legacy/img': { old: layerId } }) },
  ]);
  await writeFile(join(out, 'legacy.tar'), legacy);
  const lg = await berth(['load', '-i', join(out, 'legacy.tar')], { root });
  t.equal(lg.code, 0, lg.stderr);
  t.equal(lg.stdout, 'Loaded image: legacy/img:old\n');
  t.equal((await berth(['images', '-q', '--no-trunc', 'legacy/img'], { root })).stdout.trim(), `sha256:${cfgHex}`);
  // A layer that does not match the config's diff_ids is refused.
  const bad = await makeTar([
    { name: `${layerId}/layer.tar`, data: await makeTar([{ name: 'other', data: 'x' }]) },
    { name: `${cfgHex}.json`, data: cfg },
    { name: 'manifest.json', data: JSON.stringify([{ Config: `${cfgHex}.json`, RepoTags: ['legacy/bad:1'], Layers: [`${layerId}/layer.tar`] }]) },
  ]);
  await writeFile(join(out, 'bad.tar'), bad);
  const root3 = await tempRoot(t);
  const bl = await berth(['load', '-i', join(out, 'bad.tar')], { root: root3 });
  t.equal(bl.code, 1);
  t.match(bl.stderr, /ERR_CONTENT_DIGEST_MISMATCH/);
  t.equal((await berth(['images', '-q'], { root: root3 })).stdout, '');
  // A tar with a path escaping the layout is refused, and nothing is left behind.
  const evil = await makeTar([{ name: '../../etc/evil', data: 'x' }]);
  await writeFile(join(out, 'evil.tar'), evil);
  const c = await berth(['load', '-i', join(out, 'evil.tar')], { root });
  t.equal(c.code, 1);
  t.match(c.stderr, /ERR_IMAGE_ARCHIVE_INVALID/);
  t.same(await readdir(join(root, 'tmp')), [], 'temp dir cleaned');
  const empty = await makeTar([{ name: 'hello', data: 'x' }]);
  await writeFile(join(out, 'empty.tar'), empty);
  const e = await berth(['load', '-i', join(out, 'empty.tar')], { root });
  t.equal(e.code, 1);
  t.match(e.stderr, /ERR_IMAGE_ARCHIVE_INVALID/);
});
