/**
 * Many CLIs at once on one state root, and CLIs killed mid-run:
 * - 20 parallel `run -d` with distinct names all succeed and all run;
 * - two CLIs racing for one name: exactly one wins, the other gets ERR_CONTAINER_NAME_CONFLICT
 *   with Docker's message;
 * - SIGKILL of the CLI during `run` (at several moments) leaves nothing that
 *   `berth system prune` cannot remove: no record, mount, cgroup, directory or process.
 */
import t from 'tap';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { busyboxRoot, BIN, haveBuild, importBusyboxImage } from '../helpers/busybox-rootfs';

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m): m is string => !!m && m.startsWith(dir + '/'));
}

function cgroupsOf(root: string): string[] {
  const parent = `berth-${createHash('sha256').update(root).digest('hex').slice(0, 8)}`;
  const out: string[] = [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const p = `/sys/fs/cgroup/${h}/${parent}`;
    if (!existsSync(p)) continue;
    for (const k of readdirSync(p, { withFileTypes: true })) if (k.isDirectory()) out.push(`${p}/${k.name}`);
  }
  return out;
}

if (!haveBuild()) t.fail('dist/ is missing: run `npm run build` first');
if (process.getuid?.() !== 0) t.plan(0, 'needs root');
else {
  const { tmp, root, b } = busyboxRoot(t, 'berth-conc-');
  t.before(async () => importBusyboxImage(root, tmp, 'bb:latest'));

  t.test('20 parallel run -d with distinct names', async (t) => {
    const names = Array.from({ length: 20 }, (_, i) => `par${i}`);
    const res = await Promise.all(names.map((n) => b(['run', '-d', '--name', n, 'bb', 'sleep', '60'], { timeoutMs: 110_000 })));
    for (const [i, r] of res.entries()) t.equal(r.code, 0, `${names[i]}: ${r.stderr}`);
    const ps = (await b(['ps', '--format', '{{.Names}}'])).stdout.split('\n').filter(Boolean).sort();
    t.same(ps, [...names].sort());
    const rm = await b(['rm', '-f', ...names], { timeoutMs: 110_000 });
    t.equal(rm.code, 0, rm.stderr);
    t.equal((await b(['ps', '-aq'])).stdout, '');
    t.same(cgroupsOf(root), [], 'no cgroups left');
    const parent = `berth-${createHash('sha256').update(root).digest('hex').slice(0, 8)}`;
    t.notOk(readdirSync('/sys/fs/cgroup').some((h) => existsSync(`/sys/fs/cgroup/${h}/${parent}`)), 'the root\'s parent cgroup went with its last container');
    t.same(mountsUnder(root), [], 'no mounts left');
  });

  t.test('a duplicate name is a clear conflict, also when racing', async (t) => {
    const first = await b(['create', '--name', 'dup', 'bb', 'true']);
    t.equal(first.code, 0);
    const second = await b(['run', '-d', '--name', 'dup', 'bb', 'true']);
    t.equal(second.code, 125);
    t.match(second.stderr, `Conflict. The container name "/dup" is already in use by container "${first.stdout.trim()}". You have to remove (or rename) that container to be able to reuse that name.`);
    t.match(second.stderr, /ERR_CONTAINER_NAME_CONFLICT/);
    await b(['rm', 'dup']);
    const race = await Promise.all([1, 2, 3, 4].map(() => b(['create', '--name', 'race', 'bb', 'true'])));
    t.equal(race.filter((r) => r.code === 0).length, 1, 'exactly one wins');
    t.equal(race.filter((r) => /ERR_CONTAINER_NAME_CONFLICT/.test(r.stderr)).length, 3);
    await b(['rm', 'race']);
  });

  t.test('SIGKILL of the CLI during run leaves nothing system prune cannot remove', async (t) => {
    // Kill at different moments of create/start; some runs die before the monitor exists,
    // some after (the container then keeps running: it is detached work, not a leftover).
    for (const delay of [60, 150, 250, 400, 700]) {
      const c = spawn(process.execPath, [BIN, '--root', root, 'run', '--name', `killed${delay}`, 'bb', 'sh', '-c', 'sleep 2'], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, delay));
      c.kill('SIGKILL');
      await new Promise((r) => c.on('close', r));
    }
    // Let any started container finish (sleep 2), then prune like a user would.
    await new Promise((r) => setTimeout(r, 2500));
    const pr = await b(['system', 'prune', '-f'], { timeoutMs: 110_000 });
    t.equal(pr.code, 0, pr.stderr);
    t.equal((await b(['ps', '-aq'])).stdout, '', 'no containers');
    t.same(mountsUnder(root), [], 'no mounts');
    t.same(cgroupsOf(root), [], 'no cgroups');
    const dirs = existsSync(join(root, 'containers')) ? readdirSync(join(root, 'containers')) : [];
    t.same(dirs, [], 'no container directories');
    const names = existsSync(join(root, 'meta', 'container-names')) ? readdirSync(join(root, 'meta', 'container-names')).filter((f) => f.endsWith('.rec')) : [];
    t.same(names, [], 'no name reservations');
    const monitors = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try { return readFileSync(`/proc/${p}/cmdline`, 'latin1').includes(root); } catch { return false; }
    });
    t.same(monitors, [], 'no monitor or runtime process of this root');
    t.equal((await b(['run', '--rm', '--name', 'killed60', 'bb', 'true'])).code, 0, 'names are free again');
  });

  t.test('run --rm whose CLI is SIGKILLed: the monitor takes the removal over', async (t) => {
    // The attached CLI claims the removal (rm-claimed holds its pid) before the start; once it
    // is dead, the monitor must remove the container at its exit, as Docker's daemon does.
    const c = spawn(process.execPath, [BIN, '--root', root, 'run', '--rm', '--name', 'orphan-rm', 'bb', 'sh', '-c', 'sleep 1'], { stdio: 'ignore' });
    let id = '';
    for (let i = 0; i < 100 && !id; i++) {
      await new Promise((r) => setTimeout(r, 50));
      id = (await b(['ps', '-q', '--filter', 'name=orphan-rm'])).stdout.trim();
    }
    t.ok(id, 'the container runs');
    c.kill('SIGKILL');
    await new Promise((r) => c.on('close', r));
    let left = 'x';
    for (let i = 0; i < 100 && left; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = (await b(['ps', '-aq', '--filter', 'name=orphan-rm'])).stdout.trim();
    }
    t.equal(left, '', 'removed without the CLI');
    // A live attached CLI keeps the removal: its container is gone when it returns.
    const r = await b(['run', '--rm', '--name', 'kept-rm', 'bb', 'true']);
    t.equal(r.code, 0, r.stderr);
    t.equal((await b(['ps', '-aq', '--filter', 'name=kept-rm'])).stdout, '', 'gone when run returns');
  });
}
