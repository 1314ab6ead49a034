// The Docker Engine API server (`berth serve`, plugins/api-docker) driven by the real `docker`
// CLI (Debian's docker.io, installed by .ci/setup): pull from a real registry (anonymous and
// basic auth, by tag and by digest), images, image inspect, tag, rmi, a failing pull that
// changes nothing, and what the CLI shows for parts of the API that are not served yet. The
// server shares its state root with `berth` commands run beside it. Raw HTTP checks the
// conventions the CLI does not exercise (version prefixes, filters, error bodies).
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { berth, cleanEnv, tempRoot } from '../helpers/cli';
import { serve } from '../helpers/serve';
import { buildLayout, busyboxLayer, makeTar, pushLayout } from '../helpers/images';
import { DOCKER } from '../helpers/dockerd';
import { startRegistry } from '../helpers/registry';

/** The docker CLI with `env` (DOCKER_HOST, DOCKER_CONFIG): exit code and output, `input` on stdin. */
function dockerCli(env: NodeJS.ProcessEnv) {
  return (args: string[], input?: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const c = execFile(DOCKER!, args, { env, maxBuffer: 1 << 24 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
      c.stdin!.end(input ?? '');
    });
}

/**
 * A registry holding `library/busybox:latest` (its layout dir kept for further pushes) and a
 * server on a fresh root, with the docker CLI pointed at it.
 */
async function busyboxServed(t: { teardown(fn: () => unknown): void }, history?: Array<{ created_by: string }>) {
  const reg = await startRegistry(t);
  const layout = await mkdtemp(join(tmpdir(), 'berth-layout-'));
  t.teardown(() => rm(layout, { recursive: true, force: true }));
  const { built, topDigest } = await buildLayout(layout, 'latest', [{ layers: [await busyboxLayer()], ...(history ? { history } : {}) }]);
  await pushLayout(layout, 'latest', `${reg.host}/library/busybox:latest`);
  const root = await tempRoot(t);
  const dir = await tempRoot(t, 'berth-serve-');
  const srv = await serve(t, root, dir);
  const docker = dockerCli({ ...cleanEnv(), DOCKER_HOST: `unix://${srv.sock}`, DOCKER_CONFIG: join(dir, 'cli') });
  return { reg, layout, built, topDigest, root, dir, srv, docker };
}

function request(sock: string, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, method, path, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

if (process.getuid?.() !== 0) t.plan(0, 'needs root');
else if (!DOCKER) t.fail('the docker CLI is not installed (.ci/setup installs docker.io)');
else {
  t.test('docker CLI against berth serve: pull, images, inspect, tag, rmi, errors', async (t) => {
    const { reg, layout, built, topDigest, root, dir, srv, docker } = await busyboxServed(t);

    const v = await docker(['version', '--format', '{{.Server.APIVersion}} {{.Server.Os}}']);
    t.equal(v.code, 0, v.stderr);
    t.match(v.stdout.trim(), /^1\.\d+ linux$/, 'the CLI negotiates with the server');

    const ref = `${reg.host}/library/busybox`;
    const p = await docker(['pull', ref]);
    t.equal(p.code, 0, p.stderr + srv.stderr());
    const lines = p.stdout.trim().split('\n');
    t.equal(lines[0], 'Using default tag: latest');
    t.equal(lines[1], 'latest: Pulling from library/busybox', 'Docker CLI shows the stream as dockerd sends it');
    t.ok(lines.includes(`${built[0]!.layerDigests[0]!.slice(7, 19)}: Pull complete`), 'per-layer status');
    t.ok(lines.includes(`Digest: ${topDigest}`));
    t.ok(lines.includes(`Status: Downloaded newer image for ${ref}:latest`));
    t.equal(lines[lines.length - 1], `${ref}:latest`);
    const again = await docker(['pull', `${ref}:latest`]);
    t.match(again.stdout, `Status: Image is up to date for ${ref}:latest`);
    const q = await docker(['pull', '-q', `${ref}@${topDigest}`]);
    t.equal(q.code, 0, q.stderr);
    t.equal(q.stdout.trim(), `${ref}@${topDigest}`, 'by digest, -q prints the reference');

    // The same store, seen by the CLI and by the daemonless berth beside it.
    const ls = await docker(['images', '--no-trunc', '--format', '{{.Repository}} {{.Tag}} {{.ID}}']);
    t.equal(ls.stdout.trim(), `${ref} latest ${built[0]!.configDigest}`);
    t.equal((await berth(['images', '--no-trunc', '--format', '{{.ID}}'], { root })).stdout.trim(), built[0]!.configDigest, 'berth sees what the server pulled');
    const insp = await docker(['image', 'inspect', '--format', '{{.Id}} {{.Os}} {{index .RootFS.Layers 0}}', `${ref}:latest`]);
    t.equal(insp.stdout.trim(), `${built[0]!.configDigest} linux ${built[0]!.diffIds[0]}`);
    t.equal((await docker(['tag', `${ref}:latest`, 'team/bb:2'])).code, 0);
    t.match((await berth(['images', '--format', '{{.Repository}}:{{.Tag}}'], { root })).stdout, /^team\/bb:2$/m, 'tag through the API');
    const rmi = await docker(['rmi', 'team/bb:2']);
    t.equal(rmi.code, 0, rmi.stderr);
    t.equal(rmi.stdout.trim(), 'Untagged: team/bb:2', 'untag, the image stays (still tagged elsewhere)');
    const missing = await docker(['image', 'inspect', 'no/such:image']);
    t.equal(missing.code, 1);
    t.match(missing.stderr, /No such image/i);

    // A pull that fails changes nothing.
    const before = (await docker(['images', '-q', '--no-trunc'])).stdout;
    const bad = await docker(['pull', `${reg.host}/no/such:image`]);
    t.equal(bad.code, 1);
    t.match(bad.stderr, /Error response from daemon: .*(not found|unknown)/i, bad.stderr);
    t.equal((await docker(['images', '-q', '--no-trunc'])).stdout, before, 'store unchanged');
    const badRef = await docker(['pull', `${reg.host}/UPPER/case`]);
    t.not(badRef.code, 0, 'an invalid reference is refused');

    // What is not served yet says so.
    const run = await docker(['run', '--rm', `${ref}:latest`, 'true']);
    t.not(run.code, 0);
    t.match(run.stderr, /not served by berth serve yet/, run.stderr);

    // Basic auth: the CLI sends the credentials of its config.json in X-Registry-Auth.
    const areg = await startRegistry(t, { auth: 'basic', user: 'bob', password: 'pw' });
    await pushLayout(layout, 'latest', `${areg.directHost}/basic/bb:latest`);
    const denied = await docker(['pull', `${areg.host}/basic/bb`]);
    t.equal(denied.code, 1, 'anonymous pull from a basic-auth registry fails');
    await mkdir(join(dir, 'cli'), { recursive: true });
    await writeFile(join(dir, 'cli', 'config.json'), JSON.stringify({ auths: { [areg.host]: { auth: Buffer.from('bob:pw').toString('base64') } } }));
    const authed = await docker(['pull', `${areg.host}/basic/bb`]);
    t.equal(authed.code, 0, authed.stderr);
    t.ok(areg.log.some((l) => l.auth === `Basic ${Buffer.from('bob:pw').toString('base64')}`), 'the registry saw the credentials');

    t.equal(await srv.stop(), 0, 'SIGTERM stops the server cleanly');
    t.notOk(existsSync(srv.sock), 'and removes its socket');
    t.match(srv.stderr(), /POST \/v1\.\d+\/images\/create\?fromImage=/, 'requests are logged with --log-requests');
  });

  t.test('docker CLI against berth serve: history, push, save and load, prune, login', async (t) => {
    const { reg, built, root, dir, srv, docker } = await busyboxServed(t, [{ created_by: 'ADD busybox /' }]);
    const ref = `${reg.host}/library/busybox:latest`;
    t.equal((await docker(['pull', '-q', ref])).code, 0);

    const h = await docker(['history', '--no-trunc', '--format', '{{.ID}}|{{.CreatedBy}}', ref]);
    t.equal(h.code, 0, h.stderr);
    t.equal(h.stdout.trim(), `${built[0]!.configDigest}|ADD busybox /`, 'history through the API');

    // push: a new tag to another repository of the same registry (a cross-repo mount or upload).
    const target = `${reg.host}/pushed/bb:v1`;
    t.equal((await docker(['tag', ref, target])).code, 0);
    const push = await docker(['push', target]);
    t.equal(push.code, 0, push.stderr + srv.stderr());
    t.match(push.stdout, /^v1: digest: sha256:[0-9a-f]{64} size: \d+$/m, 'the CLI prints the pushed digest');
    const fresh = await tempRoot(t);
    const back = await berth(['pull', '-q', target], { root: fresh });
    t.equal(back.code, 0, `what was pushed pulls again: ${back.stderr}`);
    t.equal((await berth(['images', '-q', '--no-trunc'], { root: fresh })).stdout.trim(), built[0]!.configDigest);

    // save → rmi → load, all through the API.
    const tarFile = join(dir, 'saved.tar');
    const save = await docker(['save', '-o', tarFile, ref]);
    t.equal(save.code, 0, save.stderr);
    const listing = await new Promise<string>((resolve) => execFile('tar', ['-tf', tarFile], (_e, out) => resolve(out)));
    t.match(listing, /^manifest\.json$/m, 'a docker-archive');
    t.equal((await docker(['rmi', ref, target])).code, 0);
    t.equal((await docker(['images', '-q'])).stdout.trim(), '', 'gone');
    const load = await docker(['load', '-i', tarFile]);
    t.equal(load.code, 0, load.stderr);
    t.match(load.stdout, `Loaded image: ${ref}`);
    t.equal((await docker(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim(), built[0]!.configDigest, 'same image back');
    const missing = await docker(['save', '-o', join(dir, 'none.tar'), 'no/such:image']);
    t.equal(missing.code, 1);
    t.match(missing.stderr, /No such image/);

    // prune: an untagged image (imported beside the server) goes with the default; -a takes the rest.
    const imp = await berth(['import', '-'], { root, input: gzipSync(await makeTar([{ name: 'x.txt', data: 'x' }])) });
    t.equal(imp.code, 0, imp.stderr);
    const p1 = await docker(['image', 'prune', '-f']);
    t.equal(p1.code, 0, p1.stderr);
    t.match(p1.stdout, `deleted: ${imp.stdout.trim()}`);
    t.match(p1.stdout, /Total reclaimed space: /);
    t.equal((await docker(['images', '-q', '--no-trunc'])).stdout.trim(), built[0]!.configDigest, 'the tagged image stays');
    const p2 = await docker(['image', 'prune', '-a', '-f']);
    t.equal(p2.code, 0, p2.stderr);
    t.equal((await docker(['images', '-q'])).stdout.trim(), '', '-a removes unused tagged images too');

    // login: the server checks the credentials with the registry, the CLI stores them.
    const areg = await startRegistry(t, { auth: 'basic', user: 'bob', password: 'pw' });
    const bad = await docker(['login', '-u', 'bob', '--password-stdin', areg.host], 'wrong\n');
    t.equal(bad.code, 1, 'a wrong password is refused');
    const good = await docker(['login', '-u', 'bob', '--password-stdin', areg.host], 'pw\n');
    t.equal(good.code, 0, good.stderr);
    t.match(good.stdout, /Login Succeeded/);
  });

  t.test('concurrent pulls, a client that goes away, SIGTERM during a pull', async (t) => {
    const reg = await startRegistry(t);
    // Three images with a 24 MiB incompressible layer each: pulls long enough to interrupt.
    const { randomBytes } = await import('node:crypto');
    const layout = await mkdtemp(join(tmpdir(), 'berth-layout-'));
    t.teardown(() => rm(layout, { recursive: true, force: true }));
    const names = ['one', 'two', 'three'];
    for (const n of names) {
      const dir = join(layout, n);
      await mkdir(dir);
      await buildLayout(dir, 'latest', [{ layers: [await busyboxLayer(), await makeTar([{ name: `big-${n}.bin`, data: randomBytes(24 << 20) }])] }]);
      await pushLayout(dir, 'latest', `${reg.host}/slow/${n}:latest`);
    }
    const root = await tempRoot(t);
    const dir = await tempRoot(t, 'berth-serve-');
    const srv = await serve(t, root, dir);
    const env = { ...cleanEnv(), DOCKER_HOST: `unix://${srv.sock}`, DOCKER_CONFIG: join(dir, 'cli') };
    const pull = (ref: string, quiet = true) => {
      const child = spawn(DOCKER!, ['pull', ...(quiet ? ['-q'] : []), ref], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      return { child, output: () => out, done: new Promise<{ code: number | null; out: string }>((r) => child.on('exit', (code) => r({ code, out }))) };
    };
    const images = async () => (await berth(['images', '--format', '{{.Repository}}'], { root })).stdout.trim().split('\n').filter(Boolean).sort();

    // Two at once: both complete (they run one after the other inside the server).
    const a = pull(`${reg.host}/slow/one`);
    const b = pull(`${reg.host}/busybox-is-not-here`);
    const [ra, rb] = await Promise.all([a.done, b.done]);
    t.equal(ra.code, 0, ra.out);
    t.not(rb.code, 0, 'the failing one fails on its own');
    t.same(await images(), [`${reg.host}/slow/one`]);

    // The client goes away mid-pull: the server carries on, and stays usable.
    const c = pull(`${reg.host}/slow/two`, false);
    const cUntil = Date.now() + 20_000;
    while (!/Pulling fs layer/.test(c.output()) && Date.now() < cUntil) await new Promise((r) => setTimeout(r, 5));
    t.notMatch(c.output(), /Status:/, 'the client is killed while the pull streams');
    c.child.kill('SIGKILL');
    await c.done;
    const again = pull(`${reg.host}/slow/two`);
    t.equal((await again.done).code, 0, 'the same pull again, after the client was killed');
    t.same(await images(), [`${reg.host}/slow/one`, `${reg.host}/slow/two`]);

    // SIGTERM while a pull runs: the pull finishes, then the server exits 0.
    const d = pull(`${reg.host}/slow/three`, false);
    const until = Date.now() + 20_000;
    while (!/Pulling fs layer/.test(d.output()) && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    t.notMatch(d.output(), /Status:/, 'SIGTERM arrives while the pull streams');
    srv.child.kill('SIGTERM');
    const rd = await d.done;
    t.equal(rd.code, 0, `the pull in progress completes: ${rd.out}`);
    t.match(rd.out, /Status: Downloaded newer image/);
    t.equal(await srv.stop(), 0, 'then the server exits cleanly');
    t.same(await images(), names.map((n) => `${reg.host}/slow/${n}`).sort());
    const chk = await berth(['system', 'check'], { root });
    t.equal(chk.code, 0, chk.stdout + chk.stderr);
    t.match(chk.stdout, /^No problems found\./);
  });

  t.test('API conventions: versions, headers, filters, errors', async (t) => {
    const root = await tempRoot(t);
    const dir = await tempRoot(t, 'berth-serve-');
    const imp = await berth(['import', '-', 'local/bb:1'], { root, input: gzipSync(await busyboxLayer()) });
    t.equal(imp.code, 0, imp.stderr);
    const srv = await serve(t, root, dir);
    const ping = await request(srv.sock, 'HEAD', '/_ping');
    t.equal(ping.status, 200);
    t.equal(ping.headers['api-version'], '1.45');
    t.equal(ping.headers.ostype, 'linux');
    t.equal((await request(srv.sock, 'GET', '/_ping')).body, 'OK');
    const old = await request(srv.sock, 'GET', '/v1.12/version');
    t.equal(old.status, 400);
    t.match(JSON.parse(old.body) as object, { message: /client version 1\.12 is too old\. Minimum supported API version is 1\.24/ });
    const young = await request(srv.sock, 'GET', '/v1.99/images/json');
    t.equal(young.status, 400);
    t.match(young.body, /too new\. Maximum supported API version is 1\.45/);
    const unversioned = await request(srv.sock, 'GET', '/images/json');
    t.equal(unversioned.status, 200, 'unversioned paths are served (dockerode)');
    t.match(JSON.parse(unversioned.body) as object, [{ RepoTags: ['local/bb:1'], Containers: -1 }]);
    const mapForm = await request(srv.sock, 'GET', `/v1.41/images/json?filters=${encodeURIComponent(JSON.stringify({ reference: { 'local/*': true } }))}`);
    t.equal((JSON.parse(mapForm.body) as unknown[]).length, 1, 'filters in the map form (CLI)');
    const listForm = await request(srv.sock, 'GET', `/v1.41/images/json?filters=${encodeURIComponent(JSON.stringify({ reference: ['other/*'] }))}`);
    t.same(JSON.parse(listForm.body), [], 'filters in the list form (docker-py)');
    const badFilter = await request(srv.sock, 'GET', '/images/json?filters=%7Bnope');
    t.equal(badFilter.status, 400);
    t.match(badFilter.body, /invalid filters/);
    const inspect = await request(srv.sock, 'GET', '/v1.45/images/local/bb:1/json');
    t.equal(inspect.status, 200);
    t.match(JSON.parse(inspect.body) as object, { RepoTags: ['local/bb:1'], GraphDriver: { Name: String } });
    const nf = await request(srv.sock, 'GET', '/images/none:here/json');
    t.equal(nf.status, 404);
    t.match(JSON.parse(nf.body) as object, { message: /No such image/ });
    t.equal((await request(srv.sock, 'GET', '/what/is/this')).status, 404);
    const malformed = await request(srv.sock, 'GET', '/images/%E0%A4%A/json');
    t.equal(malformed.status, 400, 'a malformed escape is a bad request, not a crash');
    const later = await request(srv.sock, 'GET', '/v1.41/containers/json');
    t.equal(later.status, 501);
    t.match(later.body, /not served by berth serve yet/);
    const noRepo = await request(srv.sock, 'POST', '/images/local/bb:1/tag');
    t.equal(noRepo.status, 400);
    const tagged = await request(srv.sock, 'POST', '/images/local/bb:1/tag?repo=local/bb&tag=2');
    t.equal(tagged.status, 201);
    const del = await request(srv.sock, 'DELETE', '/images/local/bb:2?force=False');
    t.same(JSON.parse(del.body), [{ Untagged: 'local/bb:2' }], 'docker-py spells booleans False');
    const noFrom = await request(srv.sock, 'POST', '/images/create');
    t.equal(noFrom.status, 400);
    t.equal((await request(srv.sock, 'POST', '/images/create?fromSrc=-')).status, 501);

    // A second server on the same socket is refused; a stale socket file is replaced.
    const second = await berth(['serve', '-H', `unix://${srv.sock}`], { root, timeoutMs: 30_000 });
    t.equal(second.code, 1);
    t.match(second.stderr, /another server is listening there/);
    srv.child.kill('SIGKILL');
    await new Promise((r) => srv.child.once('exit', r));
    t.ok(existsSync(srv.sock), 'a killed server leaves its socket file');
    const again = await serve(t, root, dir);
    t.equal((await request(again.sock, 'GET', '/_ping')).status, 200, 'the next server replaces it');
    const badHost = await berth(['serve', '-H', 'tcp://127.0.0.1:2375'], { root });
    t.equal(badHost.code, 125);
    t.match(badHost.stderr, /want unix:\/\/\/absolute\/path/);
  });
}
