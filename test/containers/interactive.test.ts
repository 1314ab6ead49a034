/**
 * Terminals: `run -it IMG sh` driven through a real pseudo-terminal (@lydell/node-pty spawning
 * the built CLI): the prompt, a command's output, the window size, `exit 3` → exit code 3,
 * ctrl-p ctrl-q detach then `attach`, and `exec -it`.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, berthCli, cleanupRoot, haveBuild, importBusyboxImage } from '../helpers/busybox-rootfs';
import { cleanEnv } from '../helpers/cli';

interface Term { out: () => string; write(s: string): void; exited: Promise<number>; waitFor(re: RegExp, ms?: number): Promise<void>; kill(): void }

function term(args: string[], cols = 100, rows = 30): Term {
  const pty = require('@lydell/node-pty') as typeof import('@lydell/node-pty');
  const p = pty.spawn(process.execPath, [BIN, ...args], { name: 'xterm', cols, rows, env: cleanEnv() as Record<string, string> });
  let buf = '';
  const waiters: Array<() => void> = [];
  p.onData((d) => { buf += d; for (const w of waiters.splice(0)) w(); });
  const exited = new Promise<number>((res) => p.onExit((e) => res(e.exitCode)));
  return {
    out: () => buf,
    write: (s) => p.write(s),
    exited,
    kill: () => { try { p.kill('SIGKILL'); } catch { /* gone */ } },
    waitFor: (re, ms = 15000) => new Promise((res, rej) => {
      const start = Date.now();
      const check = () => {
        if (re.test(buf)) return res();
        if (Date.now() - start > ms) return rej(new Error(`timeout waiting for ${re} in ${JSON.stringify(buf)}`));
        waiters.push(check);
        setTimeout(check, 100);
      };
      check();
    }),
  };
}

if (!haveBuild()) t.fail('dist/ is missing: run `npm run build` first');
if (process.getuid?.() !== 0) t.plan(0, 'needs root');
else {
  const tmp = mkdtempSync(join(tmpdir(), 'berth-tty-'));
  const root = join(tmp, 'root');
  const b = berthCli(root);
  const terms: Term[] = [];
  t.teardown(async () => {
    for (const x of terms) x.kill();
    await cleanupRoot(root);
    rmSync(tmp, { recursive: true, force: true });
  });
  t.before(async () => importBusyboxImage(root, tmp, 'bb:latest'));

  t.test('run -it sh: prompt, output, window size, exit 3', async (t) => {
    const x = term(['--root', root, 'run', '-it', '--rm', '--name', 'it1', 'bb', 'sh'], 123, 45);
    terms.push(x);
    await x.waitFor(/[#$] /);
    x.write('echo $((6*7)); stty size; tty\r');
    await x.waitFor(/42\r+\n45 123\r+\n\/dev\/pts\/0/);
    x.write('exit 3\r');
    t.equal(await x.exited, 3);
    t.equal((await b(['ps', '-aq'])).stdout, '', '--rm removed it');
  });

  t.test('ctrl-p ctrl-q detaches; attach reconnects; exec -it', async (t) => {
    const x = term(['--root', root, 'run', '-it', '--name', 'it2', 'bb', 'sh']);
    terms.push(x);
    await x.waitFor(/[#$] /);
    x.write('export MARK=still-here\r');
    await x.waitFor(/still-here\r+\n.*[#$] /s);
    x.write('\x10\x11');
    t.equal(await x.exited, 0, 'detach exits 0');
    t.match((await b(['ps'])).stdout, /Up .*it2/, 'still running after detach');
    const e = term(['--root', root, 'exec', '-it', 'it2', 'sh', '-c', 'tty; echo exec-ok; exit 5']);
    terms.push(e);
    await e.waitFor(/exec-ok/);
    t.equal(await e.exited, 5, 'exec -it exit code');
    t.match(e.out(), /\/dev\/pts\/\d+/);
    const a = term(['--root', root, 'attach', 'it2']);
    terms.push(a);
    await new Promise((r) => setTimeout(r, 500));
    a.write('echo $MARK\r');
    await a.waitFor(/still-here/);
    a.write('exit 4\r');
    t.equal(await a.exited, 4, 'attach ends with the exit code');
    t.match((await b(['ps', '-a'])).stdout, /Exited \(4\)/);
    await b(['rm', 'it2']);
  });

  t.test('run -itd keeps a terminal; logs show tty output', async (t) => {
    const id = (await b(['run', '-itd', 'bb', 'sh', '-c', 'tty; sleep 30'])).stdout.trim();
    t.match(id, /^[a-f0-9]{64}$/);
    let logs = '';
    for (let i = 0; i < 50 && !logs.includes('/dev/pts'); i++) {
      logs = (await b(['logs', id])).stdout;
      await new Promise((r) => setTimeout(r, 100));
    }
    t.match(logs, /^\/dev\/pts\/0\r\n$/);
    await b(['rm', '-f', id]);
  });
}
