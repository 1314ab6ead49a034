/**
 * `berth run` of an image that is not in the store pulls it from a real registry (Debian's
 * docker-registry on 127.0.0.1) first, printing Docker's "Unable to find image … locally";
 * `--pull never` refuses; `--pull always` pulls again. The image is pushed there from another
 * state root with `berth push`.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { berthCli, cleanupRoot, haveBuild, importBusyboxImage } from '../helpers/busybox-rootfs';
import { startRegistry } from '../helpers/registry';

if (!haveBuild()) t.fail('dist/ is missing: run `npm run build` first');
if (process.getuid?.() !== 0) t.plan(0, 'needs root');
else {
  const tmp = mkdtempSync(join(tmpdir(), 'berth-pullrun-'));
  const src = join(tmp, 'src');
  const dst = join(tmp, 'dst');
  t.teardown(async () => {
    await cleanupRoot(src);
    await cleanupRoot(dst);
    rmSync(tmp, { recursive: true, force: true });
  });

  t.test('run pulls a missing image', async (t) => {
    const reg = await startRegistry(t);
    const ref = `${reg.host}/probe/bb:1`;
    await importBusyboxImage(src, tmp, ref);
    const push = await berthCli(src)(['push', ref]);
    t.equal(push.code, 0, push.stderr);
    const b = berthCli(dst);
    const never = await b(['run', '--rm', '--pull', 'never', ref, 'true']);
    t.equal(never.code, 125);
    const r = await b(['run', '--rm', ref, 'sh', '-c', 'echo pulled-and-ran']);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, 'pulled-and-ran\n');
    t.match(r.stderr, `Unable to find image '${ref}' locally`);
    t.match((await b(['images'])).stdout, /probe\/bb\s+1\s/);
    const again = await b(['run', '--rm', ref, 'true']);
    t.equal(again.code, 0);
    t.notMatch(again.stderr, /Unable to find image/, 'present now: no pull');
    const always = await b(['run', '--rm', '--pull', 'always', ref, 'true']);
    t.equal(always.code, 0, always.stderr);

    // commit → push → run elsewhere
    t.equal((await b(['run', '--name', 'changed', ref, 'sh', '-c', 'echo from-commit > /note'])).code, 0);
    const cref = `${reg.host}/probe/committed:1`;
    const c = await b(['commit', '-c', 'CMD ["cat","/note"]', 'changed', cref]);
    t.equal(c.code, 0, c.stderr);
    const p = await b(['push', cref]);
    t.equal(p.code, 0, p.stderr);
    const third = berthCli(join(tmp, 'third'));
    const r3 = await third(['run', '--rm', cref]);
    t.equal(r3.stdout, 'from-commit\n', r3.stderr);
    await cleanupRoot(join(tmp, 'third'));
  });
}
