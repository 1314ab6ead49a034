/**
 * The same container behaviour through every isolation backend berth ships: `oci` (runc/crun)
 * and `ns` (berth-nsrun), selected with the engine config `isolation: <id>`. The whole CLI
 * suite also passes with BERTH_CONFIG pointing at such a file; this file keeps a fast core of it
 * in the default run.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { berthCli, cleanupRoot, haveBuild, importBusyboxImage } from '../helpers/busybox-rootfs';

if (!haveBuild()) t.fail('dist/ is missing: run `npm run build` first');
if (process.getuid?.() !== 0) t.plan(0, 'needs root');
else {
  const tmp = mkdtempSync(join(tmpdir(), 'berth-backends-'));
  const root = join(tmp, 'root');
  t.teardown(async () => {
    await cleanupRoot(root);
    rmSync(tmp, { recursive: true, force: true });
  });
  t.before(async () => importBusyboxImage(root, tmp, 'bb:latest'));

  for (const backend of ['oci', 'ns']) {
    t.test(`isolation backend ${backend}`, async (t) => {
      const cfg = join(tmp, `${backend}.yaml`);
      writeFileSync(cfg, `isolation: ${backend}\n`);
      const b = berthCli(root);
      const run = (args: string[]) => b(['--config', cfg, ...args]);
      const pl = await b(['--config', cfg, 'plugin', 'ls']);
      if (!new RegExp(`berth\\.isolation\\.v1\\s+${backend}\\s+ok`).test(pl.stdout)) {
        t.plan(0, `${backend} is not available on this host: ${pl.stdout.split('\n').find((l) => l.includes(backend)) ?? ''}`);
        return;
      }
      const r = await run(['run', '--rm', '--hostname', 'h1', 'bb', 'sh', '-c', 'echo $$; hostname; grep ^CapEff /proc/self/status; exit 3']);
      t.equal(r.code, 3, r.stderr);
      t.equal(r.stdout, '1\nh1\nCapEff:\t00000000a80425fb\n');
      const id = (await run(['run', '-d', '--name', `d-${backend}`, 'bb', 'sleep', '30'])).stdout.trim();
      t.match(id, /^[a-f0-9]{64}$/);
      t.equal(JSON.parse((await run(['inspect', id])).stdout)[0].HostConfig.Runtime, backend);
      t.equal((await run(['exec', id, 'sh', '-c', 'exit 6'])).code, 6);
      t.equal((await run(['exec', id, 'nosuch'])).code, 127);
      t.equal((await run(['stop', '-t', '1', id])).code, 0);
      t.equal(JSON.parse((await run(['inspect', id])).stdout)[0].State.ExitCode, 137);
      t.equal((await run(['rm', id])).code, 0);
      const oom = await run(['run', '--rm', '-m', '24m', 'bb', 'sh', '-c', 'x=a; while true; do x=$x$x; done']);
      t.equal(oom.code, 137, 'OOM-killed');
    });
  }

  // The oci backend enters running containers through berth-nsrun (`exec --join-pid`) unless
  // configured `plugins: { oci: { exec: runtime } }`: both must put the process in the same place.
  t.test('oci exec: berth-nsrun join equals the runtime\'s exec', async (t) => {
    const viaHelper = join(tmp, 'oci-auto.yaml');
    const viaRuntime = join(tmp, 'oci-runtime.yaml');
    writeFileSync(viaHelper, 'isolation: oci\n');
    writeFileSync(viaRuntime, 'isolation: oci\nplugins:\n  oci: { exec: runtime }\n');
    const b = berthCli(root);
    const pl = await b(['--config', viaHelper, 'plugin', 'ls']);
    if (!/berth\.isolation\.v1\s+oci\s+ok/.test(pl.stdout)) {
      t.plan(0, 'oci is not available on this host');
      return;
    }
    // The default enters through berth-nsrun; `exec: runtime` through the runtime itself.
    const execOf = async (cfg: string) => {
      const plugins = JSON.parse((await b(['--config', cfg, 'info', '--format', '{{json .Plugins}}'])).stdout) as Array<{ Id: string; Exports: Record<string, string> }>;
      return plugins.find((p) => p.Id === 'oci')?.Exports.exec;
    };
    t.match(await execOf(viaHelper), /berth-nsrun$/, 'auto: berth-nsrun enters');
    t.equal(await execOf(viaRuntime), undefined, 'runtime: no helper');
    const id = (await b(['--config', viaHelper, 'run', '-d', '--cap-drop', 'NET_RAW', '--security-opt', 'no-new-privileges', 'bb', 'sleep', '60'])).stdout.trim();
    t.match(id, /^[a-f0-9]{64}$/);
    const probe = ['sh', '-c', 'grep -E "^(Cap|NoNewPrivs|Seccomp)" /proc/self/status; cat /proc/self/cgroup; for n in cgroup ipc mnt net pid user uts; do echo "$n $(readlink /proc/self/ns/$n) $(readlink /proc/1/ns/$n)"; done; id; pwd'];
    const a = await b(['--config', viaHelper, 'exec', '-w', '/tmp', id, ...probe]);
    const r = await b(['--config', viaRuntime, 'exec', '-w', '/tmp', id, ...probe]);
    t.equal(a.code, 0, a.stderr);
    t.equal(r.code, 0, r.stderr);
    t.equal(a.stdout, r.stdout, 'same capabilities, no_new_privs, seccomp, cgroups, namespaces, user, cwd');
    t.match(a.stdout, /CapEff:\t00000000a80405fb/, 'NET_RAW dropped');
    t.match(a.stdout, /NoNewPrivs:\t1/);
    t.match(a.stdout, /Seccomp:\t2/);
    for (const line of a.stdout.split('\n').filter((l) => /^(ipc|mnt|net|pid|uts) /.test(l))) {
      const [, mine, init] = line.split(' ');
      t.equal(mine, init, `${line.split(' ')[0]} namespace is the container's`);
    }
    t.equal((await b(['--config', viaHelper, 'exec', id, 'nosuch'])).code, 127);
    t.equal((await b(['--config', viaHelper, 'exec', '-u', '1000', id, 'id', '-u'])).stdout, '1000\n');
    t.equal((await b(['--config', viaHelper, 'rm', '-f', id])).code, 0);
    // A stopped container: the helper refuses like the runtime does.
    const id2 = (await b(['--config', viaHelper, 'run', '-d', 'bb', 'true'])).stdout.trim();
    await b(['--config', viaHelper, 'wait', id2]);
    const x = await b(['--config', viaHelper, 'exec', id2, 'true']);
    t.not(x.code, 0);
    t.match(x.stderr, /is not running/);
    await b(['--config', viaHelper, 'rm', '-f', id2]);
  });
}
