/**
 * Deferred deletion (core/store/trash.ts): a trashed tree leaves its name at once and is freed by
 * a background remover; a standing remover frees what it was given when its process exits.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emptyTrash, trash } from '../../core/store/trash';

function tree(dir: string): void {
  mkdirSync(join(dir, 'a', 'b'), { recursive: true });
  writeFileSync(join(dir, 'a', 'b', 'f'), 'x'.repeat(5000));
  writeFileSync(join(dir, 'g'), 'y');
}

/** A scratch dir removed when the subtest ends. */
function scratch(t: { teardown(fn: () => void): void }): string {
  const base = mkdtempSync(join(tmpdir(), 'berth-trash-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  return base;
}

async function until(cond: () => boolean, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (cond()) return true;
  return cond();
}

t.test('trash: the name is free at once, the bytes go in the background', async (t) => {
  const base = scratch(t);
  const dir = join(base, 'victim');
  const tdir = join(base, 'trash');
  tree(dir);
  trash(tdir, dir);
  t.notOk(existsSync(dir), 'gone under its name when trash() returns');
  t.equal(readdirSync(tdir).length, 1, 'one entry in the trash');
  t.ok(await until(() => readdirSync(tdir).length === 0), 'the background remover emptied it');
  trash(tdir, join(base, 'never-existed'));
  t.same(readdirSync(tdir), [], 'a missing dir is not an error and trashes nothing');
});

t.test('emptyTrash removes what a killed process left', async (t) => {
  const base = scratch(t);
  const tdir = join(base, 'trash');
  tree(join(tdir, 'left-1'));
  tree(join(tdir, 'left-2'));
  t.equal(emptyTrash(tdir), 2);
  t.same(readdirSync(tdir), []);
  t.equal(emptyTrash(join(base, 'no-such-trash')), 0);
});

t.test('a standing remover frees what it was given when its process exits', async (t) => {
  const base = scratch(t);
  const tdir = join(base, 'trash');
  tree(join(base, 'one'));
  tree(join(base, 'two'));
  // a separate short-lived process, as the CLI is: start the remover, trash two trees, exit
  const script = `
    const { startRemover, trash } = require(${JSON.stringify(require.resolve('../../core/store/trash'))});
    startRemover();
    trash(${JSON.stringify(tdir)}, ${JSON.stringify(join(base, 'one'))});
    setTimeout(() => trash(${JSON.stringify(tdir)}, ${JSON.stringify(join(base, 'two'))}), 10);
    // still there while this process lives: the standing remover deletes at its pipe's end
    setTimeout(() => process.stdout.write(String(require('node:fs').readdirSync(${JSON.stringify(tdir)}).length)), 300);
  `;
  const left = execFileSync(process.execPath, [...process.execArgv, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] }).toString();
  t.equal(left, '2', 'nothing freed while the process lived (no remover forked per flush)');
  t.notOk(existsSync(join(base, 'one')) || existsSync(join(base, 'two')), 'both left their names');
  t.ok(await until(() => !existsSync(tdir) || readdirSync(tdir).length === 0), 'both freed after the process exited');
});
