/**
 * Restart policies: applied by the monitor while it lives (on-failure:N with backoff, a user
 * stop wins over always), and by `restore()` (called by `berth ps`) when the monitor is gone —
 * a killed monitor stands in for a host reboot here.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxRoot, haveBuild, importBusyboxImage } from '../helpers/busybox-rootfs';

if (!haveBuild()) t.fail('dist/ is missing: run `npm run build` first');
if (process.getuid?.() !== 0) t.plan(0, 'needs root');
else {
  const { tmp, root, b } = busyboxRoot(t, 'berth-restart-');
  t.before(async () => importBusyboxImage(root, tmp, 'bb:latest'));

  t.test('restart policy on-failure:2 restarts twice, then stays exited', async (t) => {
    const id = (await b(['run', '-d', '--restart', 'on-failure:2', 'bb', 'sh', '-c', 'echo run; exit 5'])).stdout.trim();
    t.match(id, /^[a-f0-9]{64}$/);
    t.equal((await b(['wait', id])).stdout.trim().length > 0, true);
    let ins;
    for (let i = 0; i < 100; i++) {
      ins = JSON.parse((await b(['inspect', id])).stdout)[0];
      if (ins.State.Status === 'exited' && ins.RestartCount === 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    t.equal(ins.RestartCount, 2);
    t.equal(ins.State.ExitCode, 5);
    t.equal((await b(['logs', id])).stdout, 'run\nrun\nrun\n');
    await b(['rm', '-f', id]);
  });

  t.test('always: a user stop is final; a vanished monitor (reboot) is restarted by the next ps', async (t) => {
    const id = (await b(['run', '-d', '--restart', 'always', '--name', 'alw', 'bb', 'sleep', '100'])).stdout.trim();
    t.match(id, /^[a-f0-9]{64}$/);
    // simulate a reboot: monitor and container die without recording an exit
    const st = JSON.parse(readFileSync(join(root, 'containers', id, 'status.json'), 'utf8')) as { monitorPid: number; pid: number };
    process.kill(st.monitorPid, 'SIGKILL');
    process.kill(st.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    t.equal(JSON.parse((await b(['inspect', id])).stdout)[0].State.Status, 'dead');
    t.match((await b(['ps'])).stdout, /Up .*alw/, 'ps restored it');
    t.equal(JSON.parse((await b(['inspect', id])).stdout)[0].State.Status, 'running');
    t.equal((await b(['stop', '-t', '1', 'alw'])).code, 0);
    await new Promise((r) => setTimeout(r, 500));
    t.equal(JSON.parse((await b(['inspect', id])).stdout)[0].State.Status, 'exited', 'not restarted after a user stop');
    t.notMatch((await b(['ps'])).stdout, /alw/);
    await b(['rm', id]);
  });
}
