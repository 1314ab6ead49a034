/**
 * Detached containers through the real built CLI: ps (columns, filters, format), logs, exec,
 * top, stats, inspect, pause/unpause, stop/start/restart/kill/wait/rm; create + start -a,
 * rename, port, container prune. One state root with the busybox image; the teardown removes
 * every container, mount and cgroup.
 */
import t from 'tap';
import { busyboxRoot, haveBuild, importBusyboxImage } from '../helpers/busybox-rootfs';

if (!haveBuild()) t.fail('dist/ is missing: run `npm run build` first');
if (process.getuid?.() !== 0) t.plan(0, 'needs root (namespaces, cgroups, mounts)');
else {
  const { tmp, root, b } = busyboxRoot(t, 'berth-det-');

  t.before(async () => {
    await importBusyboxImage(root, tmp, 'bb:latest');
  });

  t.test('detached: ps, logs, exec, top, stats, stop, start, restart, kill, wait, rm', async (t) => {
    const r = await b(['run', '-d', '--name', 'web', '-l', 'tier=front', '-e', 'FOO=bar', 'bb', 'sh', '-c', 'trap "exit 0" TERM; echo started; while true; do sleep 0.2; done']);
    t.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    t.match(id, /^[a-f0-9]{64}$/, '-d prints the full id');
    const ps = await b(['ps']);
    t.match(ps.stdout, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES\n/);
    t.match(ps.stdout, new RegExp(`${id.slice(0, 12)}\\s+bb\\s+"sh -c 'trap.*"\\s+.*Up .*web\\n`.replace("'", '')));
    t.equal((await b(['ps', '-q', '--filter', 'label=tier=front'])).stdout, `${id.slice(0, 12)}\n`);
    t.equal((await b(['ps', '-q', '--filter', 'name=nomatch'])).stdout, '');
    t.equal((await b(['ps', '--format', '{{.Names}} {{.State}}'])).stdout, 'web running\n');
    // logs
    for (let i = 0; i < 50 && !(await b(['logs', 'web'])).stdout.includes('started'); i++) await new Promise((r) => setTimeout(r, 100));
    t.equal((await b(['logs', 'web'])).stdout, 'started\n');
    t.match((await b(['logs', '-t', 'web'])).stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z started\n$/);
    // exec
    const e = await b(['exec', 'web', 'sh', '-c', 'echo $FOO; exit 4']);
    t.equal(e.code, 4);
    t.equal(e.stdout, 'bar\n');
    t.equal((await b(['exec', '-u', 'user', '-w', '/tmp', 'web', 'sh', '-c', 'id -u; pwd'])).stdout, '1000\n/tmp\n');
    t.equal((await b(['exec', 'web', 'nosuch'])).code, 127);
    t.equal((await b(['exec', '-d', 'web', 'sleep', '5'])).code, 0);
    // top / stats / inspect
    const top = await b(['top', 'web']);
    t.match(top.stdout, /^UID\s+PID\s+PPID/);
    t.match(top.stdout, /sleep 5/);
    const stats = await b(['stats', '--no-stream', 'web']);
    t.match(stats.stdout, /CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT/);
    t.match(stats.stdout, /web\s+\d+\.\d\d%/);
    const ins = JSON.parse((await b(['inspect', 'web'])).stdout)[0];
    t.equal(ins.Id, id);
    t.equal(ins.Name, '/web');
    t.equal(ins.State.Status, 'running');
    t.equal(ins.State.Running, true);
    t.ok(ins.State.Pid > 0);
    t.equal(ins.Config.Labels.tier, 'front');
    t.ok(ins.Config.Env.includes('FOO=bar'));
    t.equal(ins.HostConfig.NetworkMode, 'none');
    t.match(ins.Image, /^sha256:/);
    // pause / unpause
    t.equal((await b(['pause', 'web'])).code, 0);
    t.match((await b(['ps'])).stdout, /\(Paused\)/);
    t.equal((await b(['exec', 'web', 'true'])).code, 125, 'exec in a paused container fails');
    t.equal((await b(['unpause', 'web'])).code, 0);
    // stop (trap → exit 0), start, restart, kill
    const stop = await b(['stop', 'web']);
    t.equal(stop.stdout, 'web\n');
    t.equal(JSON.parse((await b(['inspect', 'web'])).stdout)[0].State.ExitCode, 0);
    t.match((await b(['ps', '-a'])).stdout, /Exited \(0\)/);
    t.equal((await b(['wait', 'web'])).stdout, '0\n');
    t.equal((await b(['start', 'web'])).code, 0);
    t.equal(JSON.parse((await b(['inspect', 'web'])).stdout)[0].State.Status, 'running');
    t.equal((await b(['restart', '-t', '1', 'web'])).code, 0);
    t.equal(JSON.parse((await b(['inspect', 'web'])).stdout)[0].State.Status, 'running');
    t.equal((await b(['rm', 'web'])).code, 1, 'rm of a running container is refused');
    t.equal((await b(['kill', 'web'])).code, 0);
    t.equal((await b(['wait', 'web'])).stdout, '137\n');
    t.equal((await b(['kill', 'web'])).code, 1, 'kill of a stopped container is an error');
    t.equal((await b(['rm', 'web'])).stdout, 'web\n');
    t.equal((await b(['inspect', 'web'])).code, 1);
  });

  t.test('create, start -a, rename, port, container prune', async (t) => {
    const c = await b(['create', '--name', 'c1', 'bb', 'echo', 'created-then-started']);
    t.equal(c.code, 0, c.stderr);
    t.match((await b(['ps', '-a'])).stdout, /Created\s+c1/);
    const s = await b(['start', '-a', 'c1']);
    t.equal(s.stdout, 'created-then-started\n');
    t.equal((await b(['rename', 'c1', 'c2'])).code, 0);
    t.equal(JSON.parse((await b(['inspect', 'c2'])).stdout)[0].Name, '/c2');
    t.equal((await b(['port', 'c2'])).stdout, '');
    const c3 = (await b(['create', '--name', 'c3', 'bb', 'true'])).stdout.trim();
    t.equal((await b(['ps', '-q', '--no-trunc', '--filter', 'since=c2'])).stdout, `${c3}\n`);
    t.match((await b(['ps', '-q', '--filter', 'before=c3'])).stdout, /^[a-f0-9]{12}\n$/);
    t.equal((await b(['ps', '-aq', '--filter', 'network=host'])).stdout, '');
    const p = await b(['container', 'prune', '-f']);
    t.match(p.stdout, /Deleted Containers:\n[a-f0-9]{64}\n[a-f0-9]{64}\n/);
    t.equal((await b(['ps', '-aq'])).stdout, '');
  });

}
