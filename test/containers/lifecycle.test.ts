/**
 * Container lifecycle through the real built CLI, real runtime (crun/runc), real kernel, with
 * the static busybox image imported into a fresh state root. Every subtest shares one root
 * (one import) and removes what it made; the teardown removes every container, mount, cgroup.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { busyboxRoot, BIN, haveBuild, importBusyboxImage } from '../helpers/busybox-rootfs';

if (!haveBuild()) t.fail('dist/ is missing: run `npm run build` first');
if (process.getuid?.() !== 0) t.plan(0, 'needs root (namespaces, cgroups, mounts)');
else {
  const { tmp, root, b } = busyboxRoot(t, 'berth-ctr-');

  t.before(async () => {
    await importBusyboxImage(root, tmp, 'bb:latest');
  });

  t.test('foreground run: output, exit codes 0 and 3, --rm', async (t) => {
    const r = await b(['run', '--rm', 'bb', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    t.equal(r.code, 3);
    t.equal(r.stdout, 'out\n');
    t.equal(r.stderr, 'err\n');
    const r0 = await b(['run', '--rm', 'bb', 'true']);
    t.equal(r0.code, 0);
    t.equal((await b(['ps', '-aq'])).stdout, '', '--rm removed both');
  });

  t.test('run --rm leaves nothing behind; a container whose record was lost is found and pruned', async (t) => {
    const { readdirSync, rmSync } = await import('node:fs');
    for (let i = 0; i < 3; i++) t.equal((await b(['run', '--rm', 'bb', 'true'])).code, 0);
    // --rm mounts its overlay volatile (no syncfs of the whole filesystem at the exit); others not
    const [maj = 0, min = 0] = (await import('node:os')).release().split(/[.-]/).map(Number);
    if (maj > 5 || (maj === 5 && min >= 10)) {
      t.match((await b(['run', '--rm', 'bb', 'grep', ' / ', '/proc/mounts'])).stdout, /volatile/, '--rm: volatile overlay');
      const keep = await b(['run', '--name', 'not-volatile', 'bb', 'grep', ' / ', '/proc/mounts']);
      t.notMatch(keep.stdout, /volatile/, 'a kept container: durable overlay');
      t.equal((await b(['rm', 'not-volatile'])).code, 0);
    }
    // the monitor may still be finishing the runtime's delete: it needs none of the container's files
    const chk = await b(['system', 'check']);
    t.equal(chk.code, 0, `system check after run --rm: ${chk.stdout}${chk.stderr}`);
    t.same(readdirSync(`${root}/containers`), [], 'no container directory left');
    // A power cut during `run --rm` may lose the record (it is not fsynced): simulate it.
    const snaps = () => readdirSync(`${root}/plugins/berth.storage.v1.overlay/snapshots`).filter((n) => !n.startsWith('.')).sort();
    const before = snaps();
    const id = (await b(['create', 'bb', 'true'])).stdout.trim();
    t.equal(snaps().length, before.length + 1, 'create made a snapshot');
    t.match(id, /^[0-9a-f]{64}$/);
    rmSync(`${root}/meta/containers/${id}.rec`);
    const lost = await b(['system', 'check']);
    t.not(lost.code, 0, 'check reports the leftovers');
    t.match(lost.stdout + lost.stderr, /container-stray-snapshot|snapshot of container/);
    t.equal((await b(['system', 'prune', '-f'])).code, 0);
    const after = await b(['system', 'check']);
    t.equal(after.code, 0, `nothing left after prune: ${after.stdout}${after.stderr}`);
    t.same(readdirSync(`${root}/containers`), []);
    t.same(snaps(), before, 'the lost container\'s snapshot is gone');
  });

  t.test('exit codes 125, 126, 127, 137', async (t) => {
    t.equal((await b(['run', '--rm', '--bogus-flag', 'bb', 'true'])).code, 125, 'bad flag');
    const missing = await b(['run', '--rm', '--pull', 'never', 'nosuchimage:1', 'true']);
    t.equal(missing.code, 125, 'unknown image');
    const nf = await b(['run', '--rm', 'bb', 'nosuchcmd']);
    t.equal(nf.code, 127, 'command not found');
    t.match(nf.stderr, /not found/);
    t.equal((await b(['run', '--rm', 'bb', '/etc'])).code, 126, 'not executable');
    // PID 1 cannot be SIGKILLed from inside its namespace; with --init, sh is tini's child.
    t.equal((await b(['run', '--rm', '--init', 'bb', 'sh', '-c', 'kill -9 $$'])).code, 137, 'SIGKILL');
    t.equal((await b(['run', '--rm', '--init', 'bb', 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "'])).stdout, '/sbin/docker-init -- sh -c cat /proc/1/cmdline | tr "\\0" " " ', '--init is PID 1');
    t.equal((await b(['ps', '-aq'])).stdout, '');
  });

  t.test('run -d --rm: the monitor removes the container after it exits', async (t) => {
    const id = (await b(['run', '-d', '--rm', 'bb', 'sh', '-c', 'sleep 0.3'])).stdout.trim();
    t.match(id, /^[a-f0-9]{64}$/);
    let left = 'x';
    for (let i = 0; i < 100 && left; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = (await b(['ps', '-aq', '--no-trunc'])).stdout.trim();
    }
    t.equal(left, '', 'gone without any CLI waiting for it');
  });

  t.test('-a selects the attached streams', async (t) => {
    const r = await b(['run', '--rm', '-a', 'stderr', 'bb', 'sh', '-c', 'echo out; echo err >&2']);
    t.equal(r.stdout, '');
    t.equal(r.stderr, 'err\n');
    t.equal((await b(['run', '--rm', '-a', 'bogus', 'bb', 'true'])).code, 125);
  });

  t.test('stdin with -i', async (t) => {
    const r = await b(['run', '--rm', '-i', 'bb', 'sh', '-c', 'read x; echo got:$x; cat'], { input: 'hello\nworld\n' });
    t.equal(r.code, 0);
    t.equal(r.stdout, 'got:hello\nworld\n');
  });

  t.test('signals to a foreground run are proxied to the container', async (t) => {
    const c = spawn(process.execPath, [BIN, '--root', root, 'run', '--rm', 'bb', 'sh', '-c', 'trap "echo got-term; exit 9" TERM; echo ready; while :; do sleep 0.1; done'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    // one TERM (a TERM per output chunk would reach the trap again while it exits)
    let sent = false;
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); if (!sent && out.includes('ready')) { sent = true; c.kill('SIGTERM'); } });
    const code = await new Promise<number | null>((r) => c.on('close', r));
    t.equal(code, 9);
    t.equal(out, 'ready\ngot-term\n');
  });

  t.test('events for each lifecycle step; inspect falls back to images', async (t) => {
    t.equal((await b(['run', '--rm', '--name', 'evt', 'bb', 'sh', '-c', 'exit 4'])).code, 4);
    const ev = await b(['events', '--since', '60s', '--until', '0s', '--filter', 'container=evt', '--format', '{{.Action}} {{index .Actor.Attributes "exitCode"}}']);
    t.equal(ev.stdout, 'create \nstart \ndie 4\ndestroy \n');
    const img = JSON.parse((await b(['inspect', 'bb'])).stdout)[0];
    t.match(img.Id, /^sha256:/);
    t.same(img.RepoTags, ['bb:latest']);
    const none = await b(['inspect', 'nothing-by-this-name']);
    t.equal(none.code, 1);
    t.match(none.stderr, /No such object: nothing-by-this-name/);
  });

  t.test('bad input is a clear, coded error', async (t) => {
    const r = await b(['run', '--rm', '--restart', 'sometimes', 'bb', 'true']);
    t.equal(r.code, 125);
    t.match(r.stderr, /ERR_CONTAINER_INVALID_OPTION/);
    const p = await b(['run', '--rm', '-p', '8080:80', 'bb', 'true']);
    t.equal(p.code, 125);
    t.match(p.stderr, /ERR_CONTAINER_PORTS_UNSUPPORTED/);
    const n = await b(['run', '--rm', '--name', 'bad name!', 'bb', 'true']);
    t.match(n.stderr, /ERR_CONTAINER_NAME_INVALID/);
    const nf = await b(['stop', 'nosuchcontainer']);
    t.equal(nf.code, 1);
    t.match(nf.stderr, /No such container: nosuchcontainer/);
    t.equal((await b(['ps', '-aq'])).stdout, '', 'nothing left behind by failed creates');
  });
}
