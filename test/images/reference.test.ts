// Reference parsing and normalisation, table-driven, against the behaviour of
// github.com/distribution/reference (ParseNormalizedNamed + TagNameOnly + FamiliarString).
import t from 'tap';
import { familiarString, parseNormalized, parseReference, referenceString, matchesReferenceFilter } from '../../core/images/reference';
import { chainIds, parsePlatform, selectManifest, parseManifest } from '../../core/images/manifest';

const D = 'sha256:' + 'a'.repeat(64);

const good: Array<[string, string, string]> = [
  // input, normalised full string (with default tag), familiar string
  ['ubuntu', 'docker.io/library/ubuntu:latest', 'ubuntu:latest'],
  ['ubuntu:22.04', 'docker.io/library/ubuntu:22.04', 'ubuntu:22.04'],
  ['library/ubuntu', 'docker.io/library/ubuntu:latest', 'ubuntu:latest'],
  ['docker.io/ubuntu', 'docker.io/library/ubuntu:latest', 'ubuntu:latest'],
  ['index.docker.io/library/ubuntu', 'docker.io/library/ubuntu:latest', 'ubuntu:latest'],
  ['me/app', 'docker.io/me/app:latest', 'me/app:latest'],
  ['me/app/sub:1.0', 'docker.io/me/app/sub:1.0', 'me/app/sub:1.0'],
  ['localhost/app', 'localhost/app:latest', 'localhost/app:latest'],
  ['localhost:5000/app:v2', 'localhost:5000/app:v2', 'localhost:5000/app:v2'],
  ['127.0.0.1:5000/a/b', '127.0.0.1:5000/a/b:latest', '127.0.0.1:5000/a/b:latest'],
  ['quay.io/org/img:tag', 'quay.io/org/img:tag', 'quay.io/org/img:tag'],
  ['Registry.Example.com/x', 'Registry.Example.com/x:latest', 'Registry.Example.com/x:latest'],
  ['[::1]:5000/x', '[::1]:5000/x:latest', '[::1]:5000/x:latest'],
  [`busybox@${D}`, `docker.io/library/busybox@${D}`, `busybox@${D}`],
  [`busybox:1@${D}`, `docker.io/library/busybox:1@${D}`, `busybox:1@${D}`],
  ['a_b.c-d__e---f', 'docker.io/library/a_b.c-d__e---f:latest', 'a_b.c-d__e---f:latest'],
  ['x:Tag_1.2-3', 'docker.io/library/x:Tag_1.2-3', 'x:Tag_1.2-3'],
  ['library/a/b', 'docker.io/library/a/b:latest', 'library/a/b:latest'],
];

t.test('valid references normalise like Docker', async (t) => {
  for (const [input, full, familiar] of good) {
    const r = parseReference(input);
    t.equal(referenceString(r), full, `${input} → ${full}`);
    t.equal(familiarString(r), familiar, `${input} familiar`);
  }
});

const bad: Array<[string, RegExp]> = [
  ['', /empty/],
  ['Ubuntu', /must be lowercase/],
  ['me/App', /must be lowercase/],
  ['a'.repeat(64).replace(/a/g, 'f'), /64-byte hexadecimal/],
  ['ubuntu:', /invalid tag/],
  ['ubuntu:-x', /invalid tag/],
  ['ubuntu:' + 'x'.repeat(129), /invalid tag/],
  ['ubuntu@sha256:abc', /invalid digest/],
  ['ubuntu@sha256:' + 'A'.repeat(64), /invalid digest/],
  ['a//b', /invalid repository name/],
  ['a/b/', /invalid repository name/],
  ['-a', /invalid repository name/],
  ['a..b', /invalid repository name/],
  ['a b', /invalid/],
  ['host:port:5000/x', /invalid/],
  [':tag', /empty/],
  ['x/' + 'a'.repeat(260), /more than 255/],
];

t.test('invalid references fail with ERR_IMAGE_INVALID_REFERENCE', async (t) => {
  for (const [input, msg] of bad) {
    t.throws(() => parseNormalized(input), { code: 'ERR_IMAGE_INVALID_REFERENCE', message: msg }, JSON.stringify(input));
  }
});

t.test('reference filter globs', async (t) => {
  const r = parseNormalized('127.0.0.1:5000/team/app:1.0');
  t.ok(matchesReferenceFilter('127.0.0.1:5000/team/*', r));
  t.ok(matchesReferenceFilter('busy*', parseNormalized('busybox:latest')));
  t.ok(matchesReferenceFilter('busybox:lat*', parseNormalized('busybox:latest')));
  t.notOk(matchesReferenceFilter('alpine', parseNormalized('busybox:latest')));
});

t.test('chain ids, platforms, manifest validation', async (t) => {
  const a = 'sha256:' + '1'.repeat(64);
  const b = 'sha256:' + '2'.repeat(64);
  const c = chainIds([a, b]);
  t.equal(c[0], a);
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  t.equal(c[1], 'sha256:' + createHash('sha256').update(`${a} ${b}`).digest('hex'));
  t.same(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  t.same(parsePlatform('Linux/x86_64'), { os: 'linux', architecture: 'amd64' });
  t.throws(() => parsePlatform('linux'), { code: 'ERR_IMAGE_PLATFORM_INVALID' });
  const idx = {
    schemaVersion: 2 as const,
    manifests: [
      { mediaType: 'x/y', digest: a, size: 1, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } },
      { mediaType: 'x/y', digest: b, size: 1, platform: { os: 'linux', architecture: 'arm64' } },
      { mediaType: 'x/y', digest: D, size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    ],
  };
  t.equal(selectManifest(idx, { os: 'linux', architecture: 'arm64', variant: 'v8' })?.digest, b, 'arm64/v8 matches an entry without variant');
  t.equal(selectManifest(idx, { os: 'linux', architecture: 'arm', variant: 'v6' }), undefined);
  t.equal(selectManifest(idx, { os: 'unknown', architecture: 'unknown' }), undefined, 'attestations never picked');
  const j = (o: unknown) => Buffer.from(JSON.stringify(o));
  t.throws(() => parseManifest(j({ schemaVersion: 1, name: 'x' }), undefined, 'x'), { code: 'ERR_IMAGE_SCHEMA1_UNSUPPORTED' });
  t.throws(() => parseManifest(Buffer.from('{nope'), undefined, 'x'), { code: 'ERR_IMAGE_MANIFEST_INVALID' });
  t.throws(() => parseManifest(j({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: 'sha256:short', size: 2 }, layers: [] }), undefined, 'x'), { code: 'ERR_IMAGE_MANIFEST_INVALID', message: /bad digest/ });
  t.throws(() => parseManifest(j({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: a, size: -1 }, layers: [] }), undefined, 'x'), { code: 'ERR_IMAGE_MANIFEST_INVALID', message: /bad size/ });
  t.throws(() => parseManifest(j({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: a, size: 2 }, layers: [{ mediaType: 'application/x-weird', digest: b, size: 3 }] }), undefined, 'x'), { code: 'ERR_IMAGE_MANIFEST_INVALID', message: /unsupported layer media type/ });
  t.throws(() => parseManifest(j({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }), 'application/vnd.oci.image.manifest.v1+json', 'x'), { message: /does not match Content-Type/ });
});
