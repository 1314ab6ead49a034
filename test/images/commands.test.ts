// Image commands through the built CLI on images made by `berth import` (no registry needed):
// tag, images (filters, --format, -q, --digests), rmi untag/delete/conflict semantics, image
// inspect shape, history, image prune, import with --change, and the events they publish.
import t from 'tap';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { berth, tempRoot } from '../helpers/cli';
import { busyboxLayer, makeTar } from '../helpers/images';


async function tarFile(t: { teardown(fn: () => unknown): void }, data: Buffer): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'berth-tar-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  const f = join(d, 'rootfs.tar');
  await writeFile(f, data);
  return f;
}

t.test('import, tag, images, inspect, history', async (t) => {
  const root = await tempRoot(t);
  const file = await tarFile(t, await busyboxLayer());
  const imp = await berth(['import', '-c', 'CMD ["sh"]', '-c', 'ENV A=1 B=2', '-c', 'LABEL team=core', '-c', 'EXPOSE 80', '-c', 'WORKDIR /tmp', '-m', 'hello', file, 'bb:1'], { root });
  t.equal(imp.code, 0, imp.stderr);
  const id = imp.stdout.trim();
  t.match(id, /^sha256:[a-f0-9]{64}$/);
  // stdin import, untagged
  const { gzipSync } = require('node:zlib') as typeof import('node:zlib');
  const small = gzipSync(await makeTar([{ name: 'hello.txt', data: 'hi\n' }]));
  const imp2 = await berth(['import', '-', 'other/img'], { root, input: small });
  t.equal(imp2.code, 0, imp2.stderr);

  t.equal((await berth(['tag', 'bb:1', 'bb:latest'], { root })).code, 0);
  t.equal((await berth(['tag', id.slice(7, 19), '127.0.0.1:5000/team/bb:v1'], { root })).code, 0);
  const badTag = await berth(['tag', 'bb:1', 'Bad/Name'], { root });
  t.equal(badTag.code, 1);
  t.match(badTag.stderr, /ERR_IMAGE_INVALID_REFERENCE/);
  const noSuch = await berth(['tag', 'nope', 'x'], { root });
  t.equal(noSuch.code, 1);
  t.match(noSuch.stderr, /No such image: nope/);

  const table = await berth(['images'], { root });
  t.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trim().split('\n');
  t.match(lines[0]!, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
  t.equal(lines.length, 5, 'four tags, one row each, plus the header');
  const fmt = await berth(['images', '--format', '{{.Repository}}:{{.Tag}}', '--filter', 'reference=bb'], { root });
  t.same(fmt.stdout.trim().split('\n').sort(), ['bb:1', 'bb:latest']);
  const byLabel = await berth(['images', '-q', '--filter', 'label=team=core'], { root });
  t.equal(byLabel.stdout.trim(), id.slice(7, 19), '-q prints each id once');
  const json = await berth(['images', '--format', 'json', 'other/img'], { root });
  t.match(JSON.parse(json.stdout.trim()) as object, { Repository: 'other/img', Tag: 'latest' });
  const badFilter = await berth(['images', '--filter', 'color=red'], { root });
  t.equal(badFilter.code, 1);
  t.match(badFilter.stderr, /ERR_IMAGE_FILTER_INVALID/);

  const insp = JSON.parse((await berth(['image', 'inspect', 'bb:1'], { root })).stdout) as Array<Record<string, any>>;
  const i = insp[0]!;
  t.equal(i.Id, id);
  t.same(i.RepoTags.sort(), ['127.0.0.1:5000/team/bb:v1', 'bb:1', 'bb:latest']);
  t.same(i.Config.Cmd, ['sh']);
  t.same(i.Config.Env, ['A=1', 'B=2']);
  t.same(i.Config.Labels, { team: 'core' });
  t.same(i.Config.ExposedPorts, { '80/tcp': {} });
  t.equal(i.Config.WorkingDir, '/tmp');
  t.equal(i.Comment, 'hello');
  t.equal(i.RootFS.Type, 'layers');
  t.equal(i.RootFS.Layers.length, 1);
  t.ok(i.Size > 1_000_000);
  t.match(i.GraphDriver, { Name: String });
  t.equal((await berth(['image', 'inspect', '-f', '{{.Os}}/{{.Architecture}}', 'bb:1'], { root })).stdout.trim(), 'linux/amd64');
  const missing = await berth(['image', 'inspect', 'nope'], { root });
  t.equal(missing.code, 1);
  t.match(missing.stderr, /No such image: nope/);

  const hist = await berth(['history', 'bb:1'], { root });
  t.equal(hist.code, 0, hist.stderr);
  const h = hist.stdout.trim().split('\n');
  t.match(h[0]!, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
  t.match(h[1]!, new RegExp(`^${id.slice(7, 19)}\\s+.*ago\\s+.*MB\\s+hello$`));
});

t.test('rmi: untag vs delete, conflicts, force, containers bucket', async (t) => {
  const root = await tempRoot(t);
  const file = await tarFile(t, await busyboxLayer());
  const id = (await berth(['import', file, 'a:1'], { root })).stdout.trim();
  await berth(['tag', 'a:1', 'a:2'], { root });
  await berth(['tag', 'a:1', 'b:1'], { root });
  const untag = await berth(['rmi', 'a:2'], { root });
  t.equal(untag.stdout, 'Untagged: a:2\n');
  const conflict = await berth(['rmi', id.slice(7, 19)], { root });
  t.equal(conflict.code, 1);
  t.match(conflict.stderr, /unable to delete .* \(must be forced\) - image is referenced in multiple repositories/);
  t.match(conflict.stderr, /ERR_IMAGE_CONFLICT/);
  // A container record naming the image blocks deletion without -f.
  const { Engine } = require('../../core/engine') as typeof import('../../core/engine');
  const engine = await Engine.open({ registrations: [], root });
  await engine.metadata.put('containers', 'c0ffee', { id: 'c0ffee0000000000', image: id });
  await engine.close();
  t.equal((await berth(['rmi', 'b:1'], { root })).stdout, 'Untagged: b:1\n', 'untagging a tag is fine while in use');
  const inUse = await berth(['rmi', 'a:1'], { root });
  t.equal(inUse.code, 1);
  t.match(inUse.stderr, /container c0ffee000000 is using its referenced image/);
  const df = await berth(['system', 'df', '--format', '{{json .}}'], { root });
  t.match(df.stdout, /"Images"/);
  const forced = await berth(['rmi', '-f', 'a:1'], { root });
  t.equal(forced.code, 0, forced.stderr);
  t.equal(forced.stdout, 'Untagged: a:1\n', 'forced while used: untagged, image kept');
  t.equal((await berth(['images', '-aq'], { root })).stdout.trim(), id.slice(7, 19));
  const eng2 = await Engine.open({ registrations: [], root });
  await eng2.metadata.delete('containers', 'c0ffee');
  await eng2.close();
  const del = await berth(['rmi', id], { root });
  t.equal(del.stdout, `Deleted: ${id}\n`);
  t.equal((await berth(['images', '-aq'], { root })).stdout, '');
  const chk = await berth(['system', 'check'], { root });
  t.equal(chk.code, 0, chk.stdout + chk.stderr);
  const gone = await berth(['rmi', 'a:1', 'zzz'], { root });
  t.equal(gone.code, 1);
  t.match(gone.stderr, /No such image: a:1/);
  t.match(gone.stderr, /No such image: zzz/);

  // Events: import, tag, untag, delete in Docker's shape.
  const ev = await berth(['events', '--since', '0', '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', 'type=image', '--format', '{{.Action}}'], { root });
  const actions = ev.stdout.trim().split('\n');
  for (const a of ['import', 'tag', 'untag', 'delete']) t.ok(actions.includes(a), `event ${a}`);
});

t.test('corrupt tarballs fail import with stable codes and leave nothing behind', async (t) => {
  const root = await tempRoot(t);
  const { gzipSync } = require('node:zlib') as typeof import('node:zlib');
  const good = gzipSync(await makeTar([{ name: 'f', data: Buffer.alloc(200_000, 3) }]));
  const cases: Array<[string, Buffer, RegExp]> = [
    ['bad gzip header', Buffer.from('\x1f\x8bgarbage-garbage', 'latin1'), /ERR_IMAGE_DECOMPRESS_FAILED/],
    ['truncated gzip', good.subarray(0, good.length >> 1), /ERR_IMAGE_DECOMPRESS_FAILED/],
    ['not a tar', Buffer.alloc(5000, 0x41), /ERR_LAYER_CORRUPT/],
  ];
  for (const [what, data, code] of cases) {
    const f = await tarFile(t, data);
    const r = await berth(['import', f, 'bad:x'], { root });
    t.equal(r.code, 1, what);
    t.match(r.stderr, code, what);
  }
  t.equal((await berth(['images', '-q'], { root })).stdout, '');
  const chk = await berth(['system', 'check'], { root });
  t.equal(chk.code, 0, chk.stdout + chk.stderr);
  const { readdir } = require('node:fs/promises') as typeof import('node:fs/promises');
  t.same(await readdir(join(root, 'tmp')), [], 'no temp files left');
});

t.test('image prune removes dangling images; -a removes unused ones', async (t) => {
  const root = await tempRoot(t);
  const f1 = await tarFile(t, await makeTar([{ name: 'one', data: '1' }]));
  const f2 = await tarFile(t, await makeTar([{ name: 'two', data: '2' }]));
  const dangling = (await berth(['import', f1], { root })).stdout.trim();
  const tagged = (await berth(['import', f2, 'keep:me'], { root })).stdout.trim();
  const p = await berth(['image', 'prune', '-f'], { root });
  t.equal(p.code, 0, p.stderr);
  t.match(p.stdout, `deleted: ${dangling}`);
  t.match(p.stdout, /Total reclaimed space: /);
  t.equal((await berth(['images', '-q', '--no-trunc'], { root })).stdout.trim(), tagged);
  const pa = await berth(['image', 'prune', '-af'], { root });
  t.match(pa.stdout, `untagged: keep:me`);
  t.match(pa.stdout, `deleted: ${tagged}`);
  t.equal((await berth(['images', '-q'], { root })).stdout, '');
  // Nothing is left in the content store or the snapshot index.
  const blobs = await readFile(join(root, 'content/blobs/sha256'), 'utf8').catch((e: NodeJS.ErrnoException) => e.code);
  t.ok(blobs === 'EISDIR' || blobs === 'ENOENT');
  const { readdir } = require('node:fs/promises') as typeof import('node:fs/promises');
  t.same(await readdir(join(root, 'content/blobs/sha256')).catch(() => []), [], 'no blobs left');
});
