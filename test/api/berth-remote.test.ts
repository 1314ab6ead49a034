// berth's CLI as a client of `berth serve` (cli/remote.ts, cli/commands/images-remote.ts): the
// same commands with `-H unix://…` (or BERTH_HOST) against a server, and without it on the
// server's own state root, must print the same thing — the image commands' outputs are compared
// line for line, one state root, one real registry. Also: what is not served, an engine that
// is not there, flags that make no sense with -H, and a registry's credentials sent by the
// client (X-Registry-Auth), never read by the engine.
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BERTH, berth, cleanEnv, tempRoot } from '../helpers/cli';
import { buildLayout, busyboxLayer, makeTar, pushLayout } from '../helpers/images';
import { startRegistry } from '../helpers/registry';
import { serve } from '../helpers/serve';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A registry holding library/busybox:latest, a server on a fresh root, a client config dir. */
async function setup(t: { teardown(fn: () => unknown): void }) {
  const reg = await startRegistry(t);
  const layout = await mkdtemp(join(tmpdir(), 'berth-layout-'));
  t.teardown(() => rm(layout, { recursive: true, force: true }));
  const { built, topDigest } = await buildLayout(layout, 'latest', [{ layers: [await busyboxLayer()], history: [{ created_by: 'ADD busybox /' }] }]);
  await pushLayout(layout, 'latest', `${reg.host}/library/busybox:latest`);
  const root = await tempRoot(t);
  const dir = await tempRoot(t, 'berth-serve-');
  const srv = await serve(t, root, dir);
  await mkdir(join(dir, 'cli'), { recursive: true });
  const env = { DOCKER_CONFIG: join(dir, 'cli') };
  /** berth as a client of the server. */
  const remote = (args: string[], input?: string | Buffer) => berth(['-H', `unix://${srv.sock}`, ...args], { env, ...(input !== undefined ? { input } : {}) });
  /** berth on the server's own state root, no server involved. */
  const local = (args: string[], input?: string | Buffer) => berth(args, { root, env, ...(input !== undefined ? { input } : {}) });
  return { reg, layout, built, topDigest, root, dir, srv, env, remote, local };
}

if (process.getuid?.() !== 0) t.plan(0, 'needs root');
else {
  t.test('berth -H prints what berth prints: pull, images, inspect, history, tag, rmi', async (t) => {
    const { reg, built, topDigest, srv, env, remote, local } = await setup(t);
    const name = `${reg.host}/library/busybox`;

    const p = await remote(['pull', name]);
    t.equal(p.code, 0, p.stderr + srv.stderr());
    // The same pull daemonless, into a root of its own: the same lines (plain output, not a TTY).
    const other = await tempRoot(t);
    const lp = await berth(['pull', name], { root: other });
    t.equal(lp.code, 0, lp.stderr);
    t.equal(p.stdout, lp.stdout, 'pull output as daemonless');
    t.match(p.stdout, new RegExp(`^Using default tag: latest\\nlatest: Pulling from library/busybox\\n[\\s\\S]*Status: Downloaded newer image for ${name}:latest\\n${name}:latest\\n$`));
    t.match(p.stdout, `Digest: ${topDigest}`);
    const again = await remote(['pull', `${name}:latest`]);
    t.match(again.stdout, `Status: Image is up to date for ${name}:latest`);
    const q = await remote(['pull', '-q', `${name}@${topDigest}`]);
    t.equal(q.code, 0, q.stderr);
    t.equal(q.stdout, `${name}@${topDigest}\n`, '-q by digest prints the reference only');

    // A second image, pulled by digest only (no tag): listings then have something to filter. Its
    // config's date is fixed, so "CREATED" reads the same in both listings.
    const second = await mkdtemp(join(tmpdir(), 'berth-layout-'));
    t.teardown(() => rm(second, { recursive: true, force: true }));
    const two = await buildLayout(second, 'latest', [{ layers: [await busyboxLayer(), await makeTar([{ name: 'x.txt', data: 'x' }])] }]);
    await pushLayout(second, 'latest', `${reg.host}/library/two:latest`);
    const byDigest = await remote(['pull', '-q', `${reg.host}/library/two@${two.topDigest}`]);
    t.equal(byDigest.code, 0, byDigest.stderr);
    for (const args of [[], ['-a'], ['--digests'], ['--no-trunc'], ['-q'], ['--format', '{{json .}}'], ['--filter', 'dangling=true'], ['--filter', 'dangling=false'], [name], ['--format', 'table {{.ID}}\t{{.Repository}}']]) {
      const [r, l] = await Promise.all([remote(['images', ...args]), local(['images', ...args])]);
      t.equal(r.code, 0, r.stderr);
      t.equal(r.stdout, l.stdout, `images ${args.join(' ')}`);
    }
    for (const args of [[`${name}:latest`], ['--format', '{{.Id}} {{.Os}}', `${name}:latest`, two.built[0]!.configDigest]]) {
      const [r, l] = await Promise.all([remote(['image', 'inspect', ...args]), local(['image', 'inspect', ...args])]);
      t.equal(r.code, 0, r.stderr);
      t.equal(r.stdout, l.stdout, `image inspect ${args.join(' ')}`);
    }
    t.equal(JSON.parse((await remote(['image', 'inspect', name])).stdout)[0].Id, built[0]!.configDigest);
    for (const args of [[], ['--no-trunc'], ['-q'], ['--human=false'], ['--format', '{{.ID}}|{{.CreatedBy}}|{{.Size}}'], ['--human=false', '--format', '{{.CreatedAt}}|{{.CreatedSince}}']]) {
      const [r, l] = await Promise.all([remote(['history', ...args, name]), local(['history', ...args, name])]);
      t.equal(r.code, 0, r.stderr);
      t.equal(r.stdout, l.stdout, `history ${args.join(' ')}`);
    }
    t.match((await remote(['history', '--human=false', '--format', '{{.CreatedAt}}', name])).stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m, 'RFC 3339 at whole seconds, as Docker prints it');

    // Failures: the engine's error, printed and exited as daemonless.
    const [ri, li] = await Promise.all([remote(['image', 'inspect', name, 'no/such:image']), local(['image', 'inspect', name, 'no/such:image'])]);
    t.equal(ri.code, 1);
    t.equal(ri.stderr, li.stderr, 'a missing image among others: the same message');
    t.equal(ri.stdout, li.stdout, 'and the found one still printed');
    t.match(ri.stderr, /^Error response from daemon: No such image: no\/such:image \(ERR_IMAGE_NOT_FOUND\)$/m);
    const [rh, lh] = await Promise.all([remote(['history', 'no/such:image']), local(['history', 'no/such:image'])]);
    t.equal(rh.code, lh.code);
    t.equal(rh.stderr, lh.stderr);
    const badPull = await remote(['pull', `${reg.host}/no/such:image`]);
    t.equal(badPull.code, 1, 'a failing pull exits 1');
    t.match(badPull.stderr, /^Error: .*(not found|unknown)/im, badPull.stderr);

    // tag and rmi go through the server.
    t.equal((await remote(['tag', `${name}:latest`, 'team/bb:2'])).code, 0);
    t.match((await local(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout, /^team\/bb:2$/m, 'tagged on the server');
    const rmi = await remote(['rmi', 'team/bb:2', 'no/such:image']);
    t.equal(rmi.code, 1, 'one of two failed');
    t.equal(rmi.stdout, 'Untagged: team/bb:2\n');
    t.match(rmi.stderr, /^Error response from daemon: No such image: no\/such:image/m);
    const badTag = await remote(['tag', `${name}:latest`, `${reg.host}/UPPER/case`]);
    t.equal(badTag.code, 1);
    t.match(badTag.stderr, /invalid reference format/);

    // BERTH_HOST is -H from the environment.
    const viaEnv = await berth(['images', '-q'], { env: { ...env, BERTH_HOST: `unix://${srv.sock}` } });
    t.equal(viaEnv.stdout, (await local(['images', '-q'])).stdout, 'BERTH_HOST');
    t.match(srv.stderr(), /GET \/images\/json/, 'the listing came from the server');

    const chk = await local(['system', 'check']);
    t.equal(chk.code, 0, chk.stdout + chk.stderr);
  });

  t.test('on a terminal, berth -H pull redraws per-layer lines as berth pull does', async (t) => {
    const { reg, srv, built } = await setup(t);
    const ref = `${reg.host}/library/busybox:latest`;
    const pty = require('@lydell/node-pty') as typeof import('@lydell/node-pty');
    const onTerminal = (args: string[]) => new Promise<{ code: number; out: string }>((resolve) => {
      const p = pty.spawn(process.execPath, [BERTH, ...args], { name: 'xterm', cols: 150, rows: 40, env: cleanEnv() as Record<string, string> });
      let out = '';
      p.onData((d) => (out += d));
      p.onExit((e) => resolve({ code: e.exitCode, out }));
    });
    const other = await tempRoot(t);
    for (const [what, args] of [['berth -H', ['-H', `unix://${srv.sock}`, 'pull', ref]], ['berth', ['--root', other, 'pull', ref]]] as Array<[string, string[]]>) {
      const r = await onTerminal(args);
      t.equal(r.code, 0, `${what}: ${r.out}`);
      const layer = built[0]!.layerDigests[0]!.slice(7, 19);
      t.match(r.out, `\x1b[1A\x1b[2K\r${layer}: Pull complete`, `${what}: the layer's line is redrawn in place`);
      t.match(r.out, new RegExp(`Status: Downloaded newer image for ${ref.replace(/[.]/g, '\\.')}\r\n${ref.replace(/[.]/g, '\\.')}\r\n$`), `${what}: then the summary and the reference`);
    }
  });

  t.test('berth -H: push, save and load, prune, login', async (t) => {
    const { reg, built, dir, srv, remote, local } = await setup(t);
    const ref = `${reg.host}/library/busybox:latest`;
    t.equal((await remote(['pull', '-q', ref])).code, 0);

    const target = `${reg.host}/pushed/bb:v1`;
    t.equal((await remote(['tag', ref, target])).code, 0);
    const push = await remote(['push', target]);
    t.equal(push.code, 0, push.stderr + srv.stderr());
    t.match(push.stdout, new RegExp(`^The push refers to repository \\[${reg.host}/pushed/bb\\]$`, 'm'));
    t.match(push.stdout, /^v1: digest: sha256:[0-9a-f]{64} size: \d+$/m);
    const pq = await remote(['push', '-q', target]);
    t.equal(pq.stdout, `${target}\n`, 'push -q prints the reference');
    const fresh = await tempRoot(t);
    t.equal((await berth(['pull', '-q', target], { root: fresh })).code, 0, 'what was pushed pulls again');
    t.equal((await berth(['images', '-q', '--no-trunc'], { root: fresh })).stdout.trim(), built[0]!.configDigest);

    // save: the archive the server writes is the one berth writes on the same root.
    const remoteTar = join(dir, 'remote.tar');
    const localTar = join(dir, 'local.tar');
    const rs = await remote(['save', '-o', remoteTar, ref, target]);
    t.equal(rs.code, 0, rs.stderr);
    t.equal((await local(['save', '-o', localTar, ref, target])).code, 0);
    t.equal(sha(await readFile(remoteTar)), sha(await readFile(localTar)), 'save -o: byte for byte');
    const none = await remote(['save', '-o', join(dir, 'none.tar'), ref, 'no/such:image']);
    t.equal(none.code, 1);
    t.match(none.stderr, /No such image: no\/such:image/);
    t.notOk(existsSync(join(dir, 'none.tar')), 'a failed save leaves no file');
    t.same((await import('node:fs')).readdirSync(dir).filter((f) => f.includes('.tmp')), [], 'nor a temporary one');

    t.equal((await remote(['rmi', ref, target])).code, 0);
    t.equal((await local(['images', '-q'])).stdout, '', 'gone');
    const load = await remote(['load', '-i', remoteTar]);
    t.equal(load.code, 0, load.stderr);
    t.equal(load.stdout, `Loaded image: ${ref}\nLoaded image: ${target}\n`);
    t.equal((await remote(['rmi', target])).code, 0);
    const fromStdin = await remote(['load'], await readFile(remoteTar));
    t.equal(fromStdin.code, 0, fromStdin.stderr);
    t.match(fromStdin.stdout, `Loaded image: ${target}`, 'load from stdin');
    const badLoad = await remote(['load'], Buffer.from('this is not a tar archive, not at all'.repeat(40)));
    t.equal(badLoad.code, 1, 'a malformed archive is refused');
    t.equal((await local(['images', '-q', '--no-trunc'])).stdout.trim(), built[0]!.configDigest, 'store unchanged');

    // prune: the answer "n" keeps everything; -f removes the dangling image; -a the rest.
    const imp = await local(['import', '-'], gzipSync(await makeTar([{ name: 'x.txt', data: 'x' }])));
    t.equal(imp.code, 0, imp.stderr);
    const declined = await remote(['image', 'prune'], 'n\n');
    t.equal(declined.code, 0);
    t.equal(declined.stdout, 'WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ');
    t.match((await local(['images', '-q', '--no-trunc'])).stdout, imp.stdout.trim(), 'declined: kept');
    const p1 = await remote(['image', 'prune', '-f']);
    t.equal(p1.code, 0, p1.stderr);
    t.match(p1.stdout, `Deleted Images:\ndeleted: ${imp.stdout.trim()}\n`);
    t.match(p1.stdout, /Total reclaimed space: \S+\n$/);
    const p2 = await remote(['image', 'prune', '-a', '-f']);
    t.equal(p2.code, 0, p2.stderr);
    t.equal((await local(['images', '-q'])).stdout, '', '-a removes unused tagged images too');

    // login: the engine checks with the registry; the client stores (DOCKER_CONFIG) and sends.
    const areg = await startRegistry(t, { auth: 'basic', user: 'bob', password: 'pw' });
    const bad = await remote(['login', '-u', 'bob', '--password-stdin', areg.host], 'wrong\n');
    t.equal(bad.code, 1, 'a wrong password is refused');
    t.notOk(existsSync(join(dir, 'cli', 'config.json')), 'and nothing is stored');
    const good = await remote(['login', '-u', 'bob', '--password-stdin', areg.host], 'pw\n');
    t.equal(good.code, 0, good.stderr);
    t.equal(good.stdout, 'Login Succeeded\n');
    const cfg = JSON.parse(await readFile(join(dir, 'cli', 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
    t.equal(cfg.auths[areg.host]?.auth, Buffer.from('bob:pw').toString('base64'), 'stored by the client');
  });

  t.test('berth -H: credentials go with the request; errors of the client itself', async (t) => {
    const areg = await startRegistry(t, { auth: 'basic', user: 'bob', password: 'pw' });
    const layout = await mkdtemp(join(tmpdir(), 'berth-layout-'));
    t.teardown(() => rm(layout, { recursive: true, force: true }));
    await buildLayout(layout, 'latest', [{ layers: [await busyboxLayer()] }]);
    await pushLayout(layout, 'latest', `${areg.directHost}/basic/bb:latest`, { creds: 'bob:pw' });
    const root = await tempRoot(t);
    const dir = await tempRoot(t, 'berth-serve-');
    const srv = await serve(t, root, dir);
    const h = `unix://${srv.sock}`;
    const env = { DOCKER_CONFIG: join(dir, 'cli') };
    const denied = await berth(['-H', h, 'pull', `${areg.host}/basic/bb`], { env });
    t.equal(denied.code, 1, 'no credentials: refused by the registry');
    await mkdir(join(dir, 'cli'), { recursive: true });
    await writeFile(join(dir, 'cli', 'config.json'), JSON.stringify({ auths: { [areg.host]: { auth: Buffer.from('bob:pw').toString('base64') } } }));
    const ok = await berth(['-H', h, 'pull', '-q', `${areg.host}/basic/bb`], { env });
    t.equal(ok.code, 0, ok.stderr + srv.stderr());
    t.ok(areg.log.some((l) => l.auth === `Basic ${Buffer.from('bob:pw').toString('base64')}`), 'the registry saw the client\'s credentials');

    // version and info describe the engine at -H, not this process.
    const localVersion = (await berth(['version', '--format', '{{.Client.Version}}'])).stdout.trim();
    const ver = await berth(['-H', h, 'version']);
    t.equal(ver.code, 0, ver.stderr);
    t.match(ver.stdout, new RegExp(`^Engine: berth at ${h.replace(/[/.]/g, '\\$&')}\n Version: +${localVersion.replace(/\./g, '\\.')}\n`, 'm'));
    t.equal((await berth(['-H', h, 'version', '--format', '{{.Server.Platform.Name}} {{.Server.ApiVersion}}'])).stdout, 'berth 1.45\n');
    const info = await berth(['-H', h, 'info']);
    t.equal(info.code, 0, info.stderr);
    t.match(info.stdout, `Engine at ${h}:`);
    t.match(info.stdout, / Storage Driver: overlay\n/);
    t.match(info.stdout, ` Root Dir: ${root}\n`);
    t.equal((await berth(['-H', h, 'info', '--format', '{{.Images}} {{.Driver}}'])).stdout, '1 overlay\n', 'the engine\'s own counts');

    // What the server does not serve fails, and never runs on a local engine instead.
    const ps = await berth(['-H', h, 'ps']);
    t.equal(ps.code, 1);
    t.match(ps.stderr, /`berth ps` is not served by the engine API yet.*\(ERR_REMOTE_NOT_SERVED\)/);
    const imp = await berth(['-H', h, 'import', '-'], { input: gzipSync(await makeTar([{ name: 'a', data: 'a' }])) });
    t.equal(imp.code, 1);
    t.match(imp.stderr, /ERR_REMOTE_NOT_SERVED/);
    t.equal((await berth(['images', '-q'], { root })).stdout.trim().split('\n').length, 1, 'nothing imported anywhere');
    const logout = await berth(['-H', h, 'logout', areg.host], { env });
    t.equal(logout.code, 0, 'logout touches only the client\'s config');
    t.match(logout.stdout, `Removing login credentials for ${areg.host}`);

    // No engine there; flags that configure a local engine; bad addresses.
    const gone = await berth(['-H', `unix://${dir}/nothing.sock`, 'images']);
    t.equal(gone.code, 1);
    t.match(gone.stderr, new RegExp(`^Error: Cannot connect to the berth engine at unix://${dir}/nothing\\.sock \\(ENOENT\\)\\. Is \`berth serve\` running\\? \\(ERR_REMOTE_UNREACHABLE\\)$`, 'm'));
    const refused = await berth(['-H', 'tcp://127.0.0.1:1', 'images']);
    t.equal(refused.code, 1);
    t.match(refused.stderr, /Cannot connect to the berth engine at tcp:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/);
    for (const [args, re] of [
      [['-H', h, '--root', root, 'images'], /--root and --config configure an engine run here/],
      [['-H', h, 'pull', '--insecure-registry', areg.host, `${areg.host}/basic/bb`], /--insecure-registry configures an engine run here/],
      [['-H', h, 'serve'], /-H\/--host selects an engine to talk to; `berth serve` runs one/],
    ] as Array<[string[], RegExp]>) {
      const r = await berth(args);
      t.equal(r.code, 125, args.join(' '));
      t.match(r.stderr, re);
    }
    for (const bad of ['ssh://box', 'unix://relative.sock', 'tcp://127.0.0.1:99999', 'nonsense']) {
      const r = await berth(['-H', bad, 'images']);
      t.equal(r.code, 1, bad);
      t.match(r.stderr, /invalid engine address .*\(ERR_REMOTE_HOST_INVALID\)/);
    }
  });
}
