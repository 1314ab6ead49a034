import t from 'tap';
import { parseEngineConfig, defaultEngineConfig } from '../../core/config';
import { hasCode } from '../../core/errors';

t.test('defaults', async (t) => {
  const c = defaultEngineConfig();
  t.equal(c['storage-driver'], 'overlay');
  t.equal(c.isolation, 'oci');
  t.same(c.registries, { mirrors: {}, insecure: [] });
});

t.test('a full file parses', async (t) => {
  const c = parseEngineConfig(`
storage-driver: vfs
isolation: ns
registries:
  mirrors: { docker.io: ["http://127.0.0.1:5000"] }
  insecure: ["127.0.0.1:5000"]
required-plugins: [berth.storage.v1.vfs]
plugins:
  vfs: { anything: 1 }
`, 'cfg.yaml');
  t.equal(c['storage-driver'], 'vfs');
  t.same(c.registries.mirrors, { 'docker.io': ['http://127.0.0.1:5000'] });
  t.same(c.plugins, { vfs: { anything: 1 } });
});

const bad: Array<[string, RegExp]> = [
  ['storage-driver: 3', /cfg\.yaml: storage-driver: expected a string, got number 3/],
  ['registries:\n  insecure: 5', /cfg\.yaml: registries\.insecure: expected a list of strings, got number/],
  ['registries:\n  mirrors: { docker.io: "x" }', /registries\.mirrors\.docker\.io: expected a list of strings, got string/],
  ['log-level: loud', /log-level: expected one of debug, info, warn, error, got "loud"/],
  ['storge-driver: vfs', /cfg\.yaml: storge-driver: unknown key/],
  ['- a\n- b', /\(top level\): expected a mapping, got list/],
];
for (const [text, want] of bad) {
  t.test(`rejects ${JSON.stringify(text)}`, async (t) => {
    try {
      parseEngineConfig(text, 'cfg.yaml');
      t.fail('accepted');
    } catch (e) {
      t.ok(hasCode(e, 'ERR_CONFIG_INVALID'), (e as Error).message);
      t.match((e as Error).message, want);
    }
  });
}

t.test('YAML syntax errors name the file', async (t) => {
  t.throws(() => parseEngineConfig('a: [1, 2\nb: c', 'x.yaml'), /x\.yaml: not valid YAML/);
  t.throws(() => parseEngineConfig('isolation: a\nisolation: b', 'x.yaml'), /x\.yaml: not valid YAML/);
});
