/**
 * Container filesystems through the built CLI: cp in both directions (and its safety against
 * symlinks that point out of the container), export, commit (a new image from the container's
 * changes, deletions included), and --rootfs (a plain directory as the root).
 */
import t from 'tap';
import { writeFileSync, readFileSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { busyboxRoot, haveBuild, importBusyboxImage, makeBusyboxRootfs } from '../helpers/busybox-rootfs';

if (!haveBuild()) t.fail('dist/ is missing: run `npm run build` first');
if (process.getuid?.() !== 0) t.plan(0, 'needs root (namespaces, cgroups, mounts)');
else {
  const { tmp, root, b } = busyboxRoot(t, 'berth-fs-');
  t.before(async () => {
    await importBusyboxImage(root, tmp, 'bb:latest');
  });

  t.test('cp both ways, safe against symlinks out of the container; export', async (t) => {
    const id = (await b(['run', '-d', 'bb', 'sleep', '100'])).stdout.trim();
    const host = join(tmp, 'cp');
    mkdirSync(host, { recursive: true });
    writeFileSync(join(host, 'in.txt'), 'into the container\n');
    t.equal((await b(['cp', join(host, 'in.txt'), `${id}:/tmp/in.txt`])).code, 0);
    t.equal((await b(['exec', id, 'cat', '/tmp/in.txt'])).stdout, 'into the container\n');
    await b(['exec', id, 'sh', '-c', 'echo from-ctr > /tmp/out.txt; ln -s /etc/hostname-of-host /tmp/evil; ln -s / /tmp/rootlink']);
    t.equal((await b(['cp', `${id}:/tmp/out.txt`, join(host, 'out.txt')])).code, 0);
    t.equal(readFileSync(join(host, 'out.txt'), 'utf8'), 'from-ctr\n');
    // /tmp/rootlink/etc/passwd resolves inside the container, never to the host's /etc/passwd
    t.equal((await b(['cp', `${id}:/tmp/rootlink/etc/passwd`, join(host, 'passwd')])).code, 0);
    t.match(readFileSync(join(host, 'passwd'), 'utf8'), /^root:x:0:0:root:\/root:\/bin\/sh\nuser:/);
    // writing through a symlink pointing at / stays inside the container
    writeFileSync(join(host, 'marker'), 'x');
    t.equal((await b(['cp', join(host, 'marker'), `${id}:/tmp/rootlink/berth-cp-marker`])).code, 0);
    t.notOk(existsSync('/berth-cp-marker'), 'nothing written to the host root');
    t.equal((await b(['exec', id, 'cat', '/berth-cp-marker'])).stdout, 'x');
    const ex = await b(['export', '-o', join(host, 'fs.tar'), id]);
    t.equal(ex.code, 0, ex.stderr);
    const list = execFileSync('tar', ['-tf', join(host, 'fs.tar')]).toString();
    t.match(list, /\.\/bin\/busybox/);
    t.match(list, /\.\/tmp\/out\.txt/);
    await b(['rm', '-f', id]);
  });

  t.test('a foreign directory symlinked as rootfs: --rootfs runs a plain directory', async (t) => {
    const rootfs = makeBusyboxRootfs(join(tmp, 'plain'));
    symlinkSync(rootfs, join(tmp, 'plain-link'));
    const r = await b(['run', '--rm', '--rootfs', rootfs, 'sh', '-c', 'echo plain; cat /etc/hostname']);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^plain\n[a-f0-9]{12}\n$/);
  });

  t.test('commit: a new image with the changes, deletions and --change', async (t) => {
    const r = await b(['run', '--name', 'tocommit', 'bb', 'sh', '-c', 'echo committed > /hello.txt; rm /bin/ls']);
    t.equal(r.code, 0, r.stderr);
    const c = await b(['commit', '-c', 'CMD ["cat","/hello.txt"]', '-m', 'msg', 'tocommit', 'committed:v1']);
    t.equal(c.code, 0, c.stderr);
    t.match(c.stdout, /^sha256:[a-f0-9]{64}\n$/);
    t.equal((await b(['run', '--rm', 'committed:v1'])).stdout, 'committed\n', 'new CMD and the new file');
    t.equal((await b(['run', '--rm', 'committed:v1', 'ls'])).code, 127, 'the deletion is in the image');
    t.equal((await b(['run', '--rm', 'bb', 'ls', '/hello.txt'])).code, 1, 'the base image is unchanged');
    await b(['rm', 'tocommit']);
  });
}
