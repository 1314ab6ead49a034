// Docker credential helpers (`credsStore`, `credHelpers`) for login, logout, pull and push, with
// real helper programs written by the test: small shell scripts on PATH that keep each server's
// JSON in a temp dir and log every call. Also: `auths` entries keep working beside a helper, and
// helper failures are clear (ERR_ code, program name, its stderr) and never show the secret.
import t from 'tap';
import { chmod, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { berth, tempRoot } from '../helpers/cli';
import { startRegistry } from '../helpers/registry';
import { buildLayout, busyboxLayer, pushLayout } from '../helpers/images';
import { getCredentials, removeCredentials, storeCredentials } from '../../core/images/auth';

/** A working helper: one JSON file per server URL in $BERTH_TEST_CREDS, calls logged to calls.log. */
const GOOD_HELPER = `#!/bin/sh
set -u
dir="\${BERTH_TEST_CREDS:?}"
action="$1"
input=$(cat)
case "$action" in
  get|erase) server="$input" ;;
  store) server=$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/p') ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
echo "$action $server" >> "$dir/calls.log"
file="$dir/$(printf '%s' "$server" | sha256sum | cut -c1-64).json"
case "$action" in
  get) if [ -f "$file" ]; then cat "$file"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store) printf '%s' "$input" > "$file" ;;
  erase) if [ -f "$file" ]; then rm -f "$file"; else echo "credentials not found in native keychain"; exit 1; fi ;;
esac
`;

/**
 * A broken helper: echoes its stdin (the secret, for store) to stderr and fails; with
 * BERTH_TEST_BROKEN=badjson, `get` succeeds with output that is not JSON but holds a secret.
 */
const BROKEN_HELPER = `#!/bin/sh
input=$(cat)
if [ "\${BERTH_TEST_BROKEN:-}" = badjson ]; then printf '{"Username":"alice","Secret":"s3cret"'; exit 0; fi
printf 'helper got: %s\\n' "$input" >&2
echo "keychain locked"
exit 3
`;

async function helpers(t: { teardown(fn: () => unknown): void }) {
  const bin = await tempRoot(t, 'berth-helper-bin-');
  const store = await tempRoot(t, 'berth-helper-store-');
  await writeFile(join(bin, 'docker-credential-berthtest'), GOOD_HELPER);
  await writeFile(join(bin, 'docker-credential-berthbroken'), BROKEN_HELPER);
  await chmod(join(bin, 'docker-credential-berthtest'), 0o755);
  await chmod(join(bin, 'docker-credential-berthbroken'), 0o755);
  const calls = async () => (await readFile(join(store, 'calls.log'), 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
  const stored = async () => {
    const out: Array<{ ServerURL: string; Username: string; Secret: string }> = [];
    for (const f of (await readdir(store)).filter((n) => n.endsWith('.json'))) out.push(JSON.parse(await readFile(join(store, f), 'utf8')));
    return out;
  };
  return { bin, store, calls, stored, env: { PATH: `${bin}:${process.env.PATH}`, BERTH_TEST_CREDS: store } };
}

async function fixture(t: { teardown(fn: () => unknown): void }, host: string, name: string, creds: string) {
  const dir = await tempRoot(t, 'berth-layout-');
  await buildLayout(dir, 'latest', [{ layers: [await busyboxLayer()] }]);
  await pushLayout(dir, 'latest', `${host}/${name}:latest`, { creds });
}

t.test('credsStore: login stores through the helper, pull and push use it, logout erases', async (t) => {
  const h = await helpers(t);
  const reg = await startRegistry(t, { auth: 'token', user: 'alice', password: 's3cret' });
  await fixture(t, reg.directHost, 'priv/bb', 'alice:s3cret');
  const root = await tempRoot(t);
  const cfg = await tempRoot(t, 'berth-dockercfg-');
  await writeFile(join(cfg, 'config.json'), JSON.stringify({ credsStore: 'berthtest', psFormat: 'keep-me' }));
  const env = { ...h.env, DOCKER_CONFIG: cfg };

  const denied = await berth(['pull', `${reg.host}/priv/bb`], { root, env });
  t.equal(denied.code, 1, 'no credentials yet');
  t.match(denied.stderr, /ERR_REGISTRY_UNAUTHORIZED/);
  t.same(await h.calls(), [`get ${reg.host}`], 'the helper was asked with the server URL on stdin');

  const login = await berth(['login', '-u', 'alice', '--password-stdin', reg.host], { root, env, input: 's3cret\n' });
  t.equal(login.code, 0, login.stderr);
  t.match(login.stdout, /Login Succeeded/);
  t.same(await h.stored(), [{ ServerURL: reg.host, Username: 'alice', Secret: 's3cret' }], 'the helper holds the credentials');
  const file = await readFile(join(cfg, 'config.json'), 'utf8');
  t.notMatch(file, /s3cret|YWxpY2U6czNjcmV0/, 'config.json holds no secret');
  const j = JSON.parse(file) as { auths: Record<string, unknown>; credsStore: string; psFormat: string };
  t.same(j.auths, { [reg.host]: {} }, 'only an empty auths entry, as docker login writes');
  t.equal(j.credsStore, 'berthtest');
  t.equal(j.psFormat, 'keep-me', 'other keys kept');

  const ok = await berth(['pull', `${reg.host}/priv/bb`], { root, env });
  t.equal(ok.code, 0, ok.stderr);
  t.ok(reg.log.some((l) => l.url.startsWith('/token') && l.auth === `Basic ${Buffer.from('alice:s3cret').toString('base64')}`), 'the token endpoint got the helper\'s credentials');

  await berth(['tag', `${reg.host}/priv/bb`, `${reg.host}/priv/copy:1`], { root, env });
  const push = await berth(['push', `${reg.host}/priv/copy:1`], { root, env });
  t.equal(push.code, 0, push.stderr);
  t.ok(reg.grantedScopes.some((s) => s.startsWith('repository:priv/copy:') && s.includes('push')), 'push scope granted with the helper\'s credentials');

  const out = await berth(['logout', reg.host], { root, env });
  t.equal(out.code, 0, out.stderr);
  t.equal(out.stdout.trim(), `Removing login credentials for ${reg.host}`);
  t.same(await h.stored(), [], 'erased from the helper');
  t.same((JSON.parse(await readFile(join(cfg, 'config.json'), 'utf8')) as { auths: object }).auths, {}, 'and from the file');
  t.ok((await h.calls()).includes(`erase ${reg.host}`));
  const again = await berth(['logout', reg.host], { root, env });
  t.equal(again.stdout.trim(), `Not logged in to ${reg.host}`);
  const denied2 = await berth(['pull', `${reg.host}/priv/copy:1`], { root: await tempRoot(t), env });
  t.equal(denied2.code, 1, 'logged out: refused again');
  t.match(denied2.stderr, /ERR_REGISTRY_UNAUTHORIZED/);
});

t.test('credHelpers for one registry, auths for another, in one config', async (t) => {
  const h = await helpers(t);
  const viaHelper = await startRegistry(t, { auth: 'basic', user: 'bob', password: 'pw1' });
  const viaFile = await startRegistry(t, { auth: 'basic', user: 'carol', password: 'pw2' });
  await fixture(t, viaHelper.directHost, 'h/bb', 'bob:pw1');
  await fixture(t, viaFile.directHost, 'f/bb', 'carol:pw2');
  const root = await tempRoot(t);
  const cfg = await tempRoot(t, 'berth-dockercfg-');
  await writeFile(join(cfg, 'config.json'), JSON.stringify({
    credHelpers: { [viaHelper.host]: 'berthtest' },
    auths: { [`https://${viaFile.host}`]: { auth: Buffer.from('carol:pw2').toString('base64') } },
  }));
  const env = { ...h.env, DOCKER_CONFIG: cfg };
  const login = await berth(['login', '-u', 'bob', '-p', 'pw1', viaHelper.host], { root, env });
  t.equal(login.code, 0, login.stderr);
  t.same(await h.stored(), [{ ServerURL: viaHelper.host, Username: 'bob', Secret: 'pw1' }]);
  const a = await berth(['pull', `${viaHelper.host}/h/bb`], { root, env });
  t.equal(a.code, 0, a.stderr);
  const b = await berth(['pull', `${viaFile.host}/f/bb`], { root, env });
  t.equal(b.code, 0, b.stderr);
  t.notOk((await h.calls()).some((c) => c.endsWith(viaFile.host)), 'the helper is not asked about the other registry');
  const j = JSON.parse(await readFile(join(cfg, 'config.json'), 'utf8')) as { auths: Record<string, { auth?: string }> };
  t.equal(Buffer.from(j.auths[`https://${viaFile.host}`]!.auth!, 'base64').toString(), 'carol:pw2', 'the other entry is untouched');
});

t.test('helper failures: ERR_ code, program, stderr; the secret never shows', async (t) => {
  const h = await helpers(t);
  const reg = await startRegistry(t, { auth: 'basic', user: 'alice', password: 's3cret' });
  const root = await tempRoot(t);
  const cfg = await tempRoot(t, 'berth-dockercfg-');
  const env = { ...h.env, DOCKER_CONFIG: cfg };
  await writeFile(join(cfg, 'config.json'), JSON.stringify({ credsStore: 'berthbroken' }));

  const login = await berth(['login', '-u', 'alice', '--password-stdin', reg.host], { root, env, input: 's3cret\n' });
  t.equal(login.code, 1, 'login fails when the helper cannot store');
  t.match(login.stderr, /ERR_AUTH_HELPER_FAILED/);
  t.match(login.stderr, /docker-credential-berthbroken store/);
  t.match(login.stderr, /keychain locked/, 'the helper\'s message');
  t.match(login.stderr, /helper got: .*<redacted>/, 'its stderr, with the secret cut out');
  t.notMatch(login.stderr + login.stdout, /s3cret/, 'the secret is never printed');
  t.notMatch(await readFile(join(cfg, 'config.json'), 'utf8'), /s3cret|auth"/, 'nothing stored in the file');

  const pull = await berth(['pull', `${reg.host}/x/y`], { root, env });
  t.equal(pull.code, 1);
  t.match(pull.stderr, /ERR_AUTH_HELPER_FAILED/);
  t.match(pull.stderr, new RegExp(`docker-credential-berthbroken get for ${reg.host.replace(/\./g, '\\.')}`));
  t.match(pull.stderr, /exit status 3/);

  const bad = await berth(['pull', `${reg.host}/x/y`], { root, env: { ...env, BERTH_TEST_BROKEN: 'badjson' } });
  t.equal(bad.code, 1);
  t.match(bad.stderr, /ERR_AUTH_HELPER_FAILED/);
  t.match(bad.stderr, /docker-credential-berthbroken get .* is not the JSON/);
  t.notMatch(bad.stderr, /s3cret/, 'unparsable output is not quoted');

  await writeFile(join(cfg, 'config.json'), JSON.stringify({ credsStore: 'berth-no-such-helper' }));
  const missing = await berth(['pull', `${reg.host}/x/y`], { root, env });
  t.equal(missing.code, 1);
  t.match(missing.stderr, /ERR_AUTH_HELPER_NOT_FOUND/);
  t.match(missing.stderr, /docker-credential-berth-no-such-helper/);

  await writeFile(join(cfg, 'config.json'), JSON.stringify({ credsStore: '../bin/sh' }));
  const evil = await berth(['pull', `${reg.host}/x/y`], { root, env });
  t.equal(evil.code, 1);
  t.match(evil.stderr, /ERR_AUTH_CONFIG_INVALID/, 'a helper name with a path is refused');
});

t.test('in process: identity tokens, fallback to auths, erase of unknown servers', async (t) => {
  const h = await helpers(t);
  const cfg = await tempRoot(t, 'berth-dockercfg-');
  const file = join(cfg, 'config.json');
  const saved = { PATH: process.env.PATH, BERTH_TEST_CREDS: process.env.BERTH_TEST_CREDS };
  process.env.PATH = h.env.PATH;
  process.env.BERTH_TEST_CREDS = h.store;
  t.teardown(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  await writeFile(file, JSON.stringify({ credsStore: 'berthtest', auths: { 'legacy.io': { auth: Buffer.from('u:p').toString('base64') } } }));
  t.same(await getCredentials('legacy.io', file), { username: 'u', password: 'p' }, 'helper has none: inline auths credentials are used');
  t.same(await storeCredentials('docker.io', { username: '<token>', password: 'refresh-tok' }, file), { helper: 'docker-credential-berthtest' });
  t.same(await getCredentials('registry-1.docker.io', file), { identityToken: 'refresh-tok' }, 'Username <token> means an identity token');
  t.ok((await h.calls()).includes('store https://index.docker.io/v1/'), 'Docker Hub is stored under its legacy URL');
  t.equal(await removeCredentials('docker.io', file), true);
  t.equal(await removeCredentials('nowhere.io', file), false, 'helper "not found" on erase: not logged in');
  await writeFile(file, JSON.stringify({ credHelpers: ['x'] }));
  await t.rejects(getCredentials('x.io', file), { code: 'ERR_AUTH_CONFIG_INVALID' });
});
