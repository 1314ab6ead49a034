// The kernel's commands through the built CLI: version, info, plugin ls, doctor, system check,
// global flags, usage errors and their exit codes, configuration errors, independent roots.
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { BERTH, berth, cleanEnv, tempRoot } from '../helpers/cli';
import { PluginType } from '../../core/plugin-types';

t.test('version', async (t) => {
  const r = await berth(['version', '--format', '{{.Client.Version}}']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout.trim(), /^\d+\.\d+\.\d+$/);
  const v = await berth(['-v']);
  t.match(v.stdout, /^berth version \d+\.\d+\.\d+/);
});

t.test('info lists every plugin kind with status, and the host features', async (t) => {
  const root = await tempRoot(t);
  const r = await berth(['info', '--format', 'json'], { root });
  t.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout) as { StateRoot: string; Plugins: Array<{ Kind: string; Id: string; Status: string; Reason: string }>; Host: { cgroup: { mode: string }; namespaces: string[]; linkTypes: Record<string, boolean> } };
  t.equal(info.StateRoot, root);
  const kinds = new Set(info.Plugins.map((p) => p.Kind));
  for (const kind of [PluginType.Host, PluginType.Storage, PluginType.ImageTransport, PluginType.Isolation, PluginType.Network, PluginType.Ipam, PluginType.Volume]) {
    t.ok(kinds.has(kind), `info lists a ${kind} plugin`);
  }
  for (const p of info.Plugins) {
    t.ok(['ok', 'skipped', 'failed'].includes(p.Status), `${p.Kind}.${p.Id} has a status`);
    if (p.Status !== 'ok') t.ok(p.Reason.length > 0, `${p.Kind}.${p.Id} says why it is ${p.Status}`);
  }
  t.match(info.Host.cgroup.mode, /^(v1|v2|hybrid)$/);
  t.ok(info.Host.namespaces.includes('pid'));
  t.type(info.Host.linkTypes.veth, 'boolean');
  const human = await berth(['info'], { root });
  t.match(human.stdout, /Cgroup Version: /);
  t.match(human.stdout, /Link Types: /);
});

t.test('plugin ls and doctor', async (t) => {
  const root = await tempRoot(t);
  const ls = await berth(['plugin', 'ls'], { root });
  t.equal(ls.code, 0, ls.stderr);
  t.match(ls.stdout, /^KIND\s+ID\s+STATUS\s+INIT\s+REASON/);
  t.match(ls.stdout, /berth\.host\.v1\s+linux\s+ok/);
  const q = await berth(['plugin', 'ls', '-q'], { root });
  t.ok(q.stdout.split('\n').includes('berth.host.v1.linux'));
  const doc = await berth(['doctor', '--format', 'json'], { root });
  t.equal(doc.code, 0, doc.stderr);
  const findings = JSON.parse(doc.stdout) as Array<{ area: string; problem: string; fix?: string }>;
  const info = JSON.parse((await berth(['info', '--format', 'json'], { root })).stdout) as { Host: { linkTypes: Record<string, boolean>; cgroup: { mode: string; v2Controllers: string[] } } };
  // Every link type the kernel lacks is named with a fix (on this machine: ipvlan and dummy).
  for (const [type, ok] of Object.entries(info.Host.linkTypes)) {
    if (!ok) t.ok(findings.some((f) => f.problem.includes(`${type} links`) && f.fix), `doctor names missing ${type} and a fix`);
  }
  if (info.Host.cgroup.mode === 'hybrid' && info.Host.cgroup.v2Controllers.length) {
    t.ok(findings.some((f) => f.area === 'cgroups' && /crun/.test(f.problem) && f.fix?.includes('mount -t cgroup')), 'doctor explains the hybrid cgroup problem');
  }
});

t.test('usage errors exit 125 with Docker wording; --help exits 0', async (t) => {
  const bad = await berth(['info', '--bogus']);
  t.equal(bad.code, 125);
  t.match(bad.stderr, /unknown flag: --bogus/);
  t.match(bad.stderr, /See 'berth info --help'/);
  const notCmd = await berth(['frobnicate']);
  t.equal(notCmd.code, 125);
  t.match(notCmd.stderr, /'frobnicate' is not a berth command/);
  const help = await berth(['info', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /Usage:\s+berth info/);
  const top = await berth(['--help']);
  t.equal(top.code, 0);
  t.match(top.stdout, /Commands:/);
});

t.test('the CLI exits at once when done, without cutting output a slow reader has not taken yet', async (t) => {
  // bin/berth exits once stdout/stderr are flushed; a pipe holds 64 KiB, so a 100 KB message to
  // a reader that only starts reading later must still arrive whole.
  const flag = `--${'x'.repeat(100_000)}`;
  const r = spawnSync('sh', ['-c', `"$0" "$1" images "$2" 2>&1 >/dev/null | (sleep 0.3; wc -c)`, process.execPath, BERTH, flag], { env: cleanEnv(), encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.ok(Number(r.stdout.trim()) > 100_000, `all of stderr arrived (${r.stdout.trim()} bytes)`);
});

t.test('configuration errors name the file, key and expected type', async (t) => {
  const root = await tempRoot(t);
  const cfg = `${root}/config.yaml`;
  await writeFile(cfg, 'registries:\n  insecure: 5000\n');
  const r = await berth(['--config', cfg, 'info'], { root });
  t.equal(r.code, 1);
  t.match(r.stderr, `${cfg}: registries.insecure: expected a list of strings, got number`);
  t.match(r.stderr, /ERR_CONFIG_INVALID/);
  await writeFile(cfg, 'plugins:\n  linux: { probe-cache: "yes" }\n');
  const p = await berth(['--config', cfg, 'info'], { root });
  t.match(p.stderr, `${cfg}: plugins.linux.probe-cache: expected a boolean (true/false), got string "yes"`);
  const missing = await berth(['--config', `${root}/nope.yaml`, 'info'], { root });
  t.equal(missing.code, 1);
  t.match(missing.stderr, /ERR_CONFIG_NOT_FOUND/);
  await writeFile(cfg, 'insecure-registries: ["x"]\nregistries: { insecure: ["127.0.0.1:5000"] }\n');
  const typo = await berth(['--config', cfg, 'info'], { root });
  t.match(typo.stderr, /insecure-registries: unknown key/);
});

t.test('roots are independent and BERTH_ROOT works; system check is clean', async (t) => {
  const a = await tempRoot(t);
  const b = await tempRoot(t);
  const [ra, rb] = await Promise.all([
    berth(['info', '--format', '{{.StateRoot}}'], { env: { BERTH_ROOT: a } }),
    berth(['info', '--format', '{{.StateRoot}}'], { root: b }),
  ]);
  t.equal(ra.stdout.trim(), a);
  t.equal(rb.stdout.trim(), b);
  const check = await berth(['system', 'check'], { root: a });
  t.equal(check.code, 0, check.stderr);
  t.match(check.stdout, /No problems found/);
  const prune = await berth(['system', 'prune', '-f'], { root: a });
  t.equal(prune.code, 0, prune.stderr);
  t.match(prune.stdout, /Total reclaimed space:/);
  const df = await berth(['system', 'df'], { root: a });
  t.equal(df.code, 0, df.stderr);
  t.match(df.stdout, /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE/);
});

t.test('system check: a corrupt record is a problem (exit 1)', async (t) => {
  const root = await tempRoot(t);
  const { mkdir } = await import('node:fs/promises');
  await mkdir(`${root}/meta/containers`, { recursive: true });
  await writeFile(`${root}/meta/containers/deadbeef.rec`, 'BRTH not a record');
  const r = await berth(['system', 'check'], { root });
  t.equal(r.code, 1, r.stdout + r.stderr);
  t.match(r.stdout, /corrupt-record: .*deadbeef\.rec/);
});

t.test('system prune asks first and does nothing on no', async (t) => {
  const root = await tempRoot(t);
  const r = await berth(['system', 'prune'], { root, input: 'n\n' });
  t.equal(r.code, 0);
  t.match(r.stdout, /WARNING! This will remove:/);
  t.notMatch(r.stdout, /Total reclaimed space/);
});
