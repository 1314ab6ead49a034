// Docker config.json credentials (read/write/remove, key normalisation, other keys preserved)
// and WWW-Authenticate challenge parsing.
import t from 'tap';
import { mkdtemp, readFile, rm, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getCredentials, normalizeServer, removeCredentials, serverKey, storeCredentials } from '../../core/images/auth';
import { parseChallenge } from '../../plugins/transport/registry/registry';

t.test('server keys', async (t) => {
  t.equal(normalizeServer('https://index.docker.io/v1/'), 'docker.io');
  t.equal(normalizeServer('registry-1.docker.io'), 'docker.io');
  t.equal(normalizeServer('http://127.0.0.1:5000/v2/'), '127.0.0.1:5000');
  t.equal(serverKey('docker.io'), 'https://index.docker.io/v1/');
  t.equal(serverKey('quay.io'), 'quay.io');
});

t.test('store, read, remove; other keys kept; file mode 0600', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-auth-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify({ auths: { 'other.io': { auth: Buffer.from('o:p').toString('base64') } }, credHelpers: { 'gcr.io': 'gcloud' }, psFormat: 'x' }));
  await storeCredentials('docker.io', { username: 'me', password: 'p:w' }, file);
  const j = JSON.parse(await readFile(file, 'utf8')) as Record<string, any>;
  t.equal(j.psFormat, 'x');
  t.same(j.credHelpers, { 'gcr.io': 'gcloud' }, 'helpers for other registries are kept');
  t.equal(Buffer.from(j.auths['https://index.docker.io/v1/'].auth, 'base64').toString(), 'me:p:w');
  t.equal((await stat(file)).mode & 0o777, 0o600);
  t.same(await getCredentials('index.docker.io', file), { username: 'me', password: 'p:w' }, 'password may contain ":"');
  t.same(await getCredentials('other.io', file), { username: 'o', password: 'p' });
  t.equal(await getCredentials('nowhere.io', file), undefined);
  t.equal(await removeCredentials('docker.io', file), true);
  t.equal(await removeCredentials('docker.io', file), false);
  t.ok(JSON.parse(await readFile(file, 'utf8')).auths['other.io']);
  await writeFile(file, JSON.stringify({ auths: { 'tok.io': { identitytoken: 'refresh-me' } } }));
  t.same(await getCredentials('tok.io', file), { identityToken: 'refresh-me' });
  await writeFile(file, '{not json');
  await t.rejects(getCredentials('x', file), { code: 'ERR_AUTH_CONFIG_INVALID' });
  t.equal(await getCredentials('x', join(dir, 'missing.json')), undefined);
});

t.test('WWW-Authenticate parsing', async (t) => {
  t.same(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull,push' },
  });
  t.same(parseChallenge('Basic realm="Registry Realm"'), { scheme: 'basic', params: { realm: 'Registry Realm' } });
  t.same(parseChallenge('Bearer realm=http://x/token, service=svc'), { scheme: 'bearer', params: { realm: 'http://x/token', service: 'svc' } });
  t.same(parseChallenge('Bearer realm="a\\"b"'), { scheme: 'bearer', params: { realm: 'a"b' } });
  t.equal(parseChallenge(''), undefined);
});
