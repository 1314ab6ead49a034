// Interoperability with the real Docker engine: `berth save` output goes into `docker load`
// (and runs there), `docker save` output comes back through `berth load` (and runs here), with
// the same image id on both sides. dockerd (Debian's docker.io, installed by .ci/setup) is
// started by this test only: its own data root, exec root and socket in a temp dir, no iptables
// rules, no bridge, no forwarding; stopped and removed at the end. berth's CLI also drives that
// dockerd as a client (`berth -H`): list, inspect, history, tag, rmi, save.
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { berth, tempRoot } from '../helpers/cli';
import { busyboxLayer } from '../helpers/images';
import { DOCKER, DOCKERD, startDockerd, type PrivateDockerd } from '../helpers/dockerd';

const run = promisify(execFile);

if (process.getuid?.() !== 0) t.plan(0, 'needs root');
else if (!DOCKERD || !DOCKER) t.fail('docker.io is not installed (.ci/setup installs it): apt-get install docker.io');
else {
  t.test('berth save → docker load → docker run; docker save → berth load → berth run', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-docker-'));
    const forwardBefore = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();
    let d: PrivateDockerd | undefined;
    t.teardown(async () => {
      if (d) {
        await run(d.cli[0]!, [...d.cli.slice(1), 'rm', '-f', 'berth-interop'], { env: d.env }).catch(() => undefined);
        await d.stop();
      }
      await rm(dir, { recursive: true, force: true });
    });
    try {
      d = await startDockerd(join(dir, 'd'));
    } catch (e) {
      t.fail((e as Error).message);
      return;
    }
    const engine = d;
    const docker = (args: string[]) => run(engine.cli[0]!, [...engine.cli.slice(1), ...args], { env: engine.env, maxBuffer: 1 << 26 });

    // berth → docker
    const root = await tempRoot(t);
    await writeFile(join(dir, 'root.tar'), await busyboxLayer());
    const imp = await berth(['import', '-c', 'CMD ["sh"]', join(dir, 'root.tar'), 'interop/bb:1'], { root });
    t.equal(imp.code, 0, imp.stderr);
    const berthId = (await berth(['image', 'inspect', '--format', '{{.Id}}', 'interop/bb:1'], { root })).stdout.trim();
    t.match(berthId, /^sha256:[0-9a-f]{64}$/);
    const saved = join(dir, 'berth-save.tar');
    t.equal((await berth(['save', '-o', saved, 'interop/bb:1'], { root })).code, 0);
    const loaded = await docker(['load', '-i', saved]);
    t.match(loaded.stdout, /Loaded image: interop\/bb:1/, 'docker load reads berth save');
    t.equal((await docker(['image', 'inspect', '--format', '{{.Id}}', 'interop/bb:1'])).stdout.trim(), berthId, 'same image id in docker');
    const ran = await docker(['run', '--rm', '--network', 'none', 'interop/bb:1', 'sh', '-c', 'echo from-docker; ls /bin/busybox']);
    t.equal(ran.stdout, 'from-docker\n/bin/busybox\n', 'and runs there');

    // docker → berth: an image docker built itself (a commit of a container, a second layer)
    await docker(['run', '--name', 'berth-interop', '--network', 'none', 'interop/bb:1', 'sh', '-c', 'echo made-by-docker > /marker; rm /bin/true']);
    await docker(['commit', 'berth-interop', 'interop/fromdocker:2']);
    const dockerId = (await docker(['image', 'inspect', '--format', '{{.Id}}', 'interop/fromdocker:2'])).stdout.trim();
    const dsaved = join(dir, 'docker-save.tar');
    await docker(['save', '-o', dsaved, 'interop/fromdocker:2']);
    const root2 = await tempRoot(t);
    const bl = await berth(['load', '-i', dsaved], { root: root2 });
    t.equal(bl.code, 0, bl.stderr);
    t.match(bl.stdout, /Loaded image: interop\/fromdocker:2/);
    t.equal((await berth(['image', 'inspect', '--format', '{{.Id}}', 'interop/fromdocker:2'], { root: root2 })).stdout.trim(), dockerId, 'same image id in berth');
    const br = await berth(['run', '--rm', 'interop/fromdocker:2', 'sh', '-c', 'cat /marker; test -e /bin/true || echo whiteout-applied'], { root: root2 });
    t.equal(br.code, 0, br.stderr);
    t.equal(br.stdout, 'made-by-docker\nwhiteout-applied\n', "docker's layer (with a whiteout) applies in berth");

    // berth's CLI as a client of dockerd itself (`berth -H`, cli/remote.ts): the same API the
    // docker CLI speaks, the answers printed as berth prints its own.
    const h = ['-H', `unix://${engine.sock}`];
    const viaDocker = await docker(['images', '--no-trunc', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
    const viaBerth = await berth([...h, 'images', '--no-trunc', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'], { env: { DOCKER_CONFIG: join(dir, 'berth-cli') } });
    t.equal(viaBerth.code, 0, viaBerth.stderr);
    t.equal(viaBerth.stdout.split('\n').sort().join('\n'), viaDocker.stdout.split('\n').sort().join('\n'), 'berth -H lists what dockerd holds');
    t.equal((await berth([...h, 'image', 'inspect', '--format', '{{.Id}}', 'interop/fromdocker:2'])).stdout.trim(), dockerId, 'inspect through dockerd');
    const hist = await berth([...h, 'history', '-q', '--no-trunc', 'interop/fromdocker:2']);
    t.equal(hist.stdout.split('\n')[0], dockerId, 'history through dockerd');
    t.equal((await berth([...h, 'tag', 'interop/fromdocker:2', 'interop/retagged:3'])).code, 0);
    const untag = await berth([...h, 'rmi', 'interop/retagged:3']);
    t.equal(untag.stdout, 'Untagged: interop/retagged:3\n', 'rmi through dockerd');
    const viaSave = join(dir, 'via-berth-client.tar');
    t.equal((await berth([...h, 'save', '-o', viaSave, 'interop/fromdocker:2'])).code, 0);
    const root3 = await tempRoot(t);
    const back = await berth(['load', '-i', viaSave], { root: root3 });
    t.equal(back.code, 0, back.stderr);
    t.equal((await berth(['image', 'inspect', '--format', '{{.Id}}', 'interop/fromdocker:2'], { root: root3 })).stdout.trim(), dockerId, 'a save fetched from dockerd loads here');
    t.equal((await berth([...h, 'info', '--format', '{{.Driver}}'])).stdout, 'overlay2\n', "info is dockerd's");
    t.match((await berth([...h, 'version', '--format', '{{.Server.ApiVersion}}'])).stdout, /^1\.\d+\n$/, "version is dockerd's");
    const missing = await berth([...h, 'image', 'inspect', 'no/such:image']);
    t.equal(missing.code, 1);
    t.match(missing.stderr, /^Error response from daemon: .*No such image: no\/such:image \(ERR_REMOTE_FAILED\)$/m, "dockerd's error (no berth code in it), printed as berth prints its own");

    t.equal((await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim(), forwardBefore, 'host forwarding untouched');
    const links = (await run('ip', ['-o', 'link'])).stdout;
    t.notMatch(links, /docker0/, 'no docker0 bridge');
  });
}
