/**
 * `berth commit`: a new image whose top layer is the container's changes.
 *
 * The changes are the snapshot's layer dir (`StorageDriver.writableDir`): for overlay the upper
 * dir, where a deletion is a 0:0 character device (converted to an OCI `.wh.<name>` entry) and
 * an opaque directory carries the `trusted.overlay.opaque` xattr (read with getfattr when it is
 * installed; otherwise opaque directories are committed as plain directories — noted in
 * docs/decisions/044-commit.md). For a driver whose layer dir is the full tree (vfs) the whole
 * tree is committed, as `docker commit` on vfs does. The layer tar is built with tar-stream and
 * handed to the image service's `createImage`, which stores, hashes and tags it.
 */
import { lstat, readdir, readlink, mkdtemp, rm } from 'node:fs/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { execFileSync } from 'node:child_process';
import type { Engine } from '../engine';
import type { ContainerService } from './service';
import { ERR_CONTAINER_START } from './service';
import { isPausable } from '../contracts/isolation';

export interface CommitOptions { tag?: string; author?: string; message?: string; changes: string[]; pause: boolean }

function opaqueDirs(root: string): Set<string> {
  try {
    const out = execFileSync('getfattr', ['-R', '--absolute-names', '-n', 'trusted.overlay.opaque', root], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    const set = new Set<string>();
    let cur = '';
    for (const l of out.split('\n')) {
      if (l.startsWith('# file: ')) cur = l.slice(8);
      else if (l.includes('trusted.overlay.opaque="y"')) set.add(cur);
    }
    return set;
  } catch {
    return new Set();
  }
}

/** Writes an OCI layer tar of `dir` (overlay upper dir conventions) to `file`. */
export async function layerTar(dir: string, file: string): Promise<void> {
  const tar = require('tar-stream') as typeof import('tar-stream');
  const pack = tar.pack();
  const out = createWriteStream(file);
  const done = new Promise<void>((res, rej) => { out.on('finish', () => res()); out.on('error', rej); pack.on('error', rej); });
  pack.pipe(out);
  const opaque = opaqueDirs(dir);
  type Hdr = Parameters<ReturnType<typeof tar.pack>['entry']>[0];
  const entry = (h: Hdr, body?: NodeJS.ReadableStream) => new Promise<void>((res, rej) => {
    const e = pack.entry(h, (err) => (err ? rej(err) : res()));
    if (body) body.pipe(e as unknown as NodeJS.WritableStream);
    else (e as unknown as NodeJS.WritableStream).end();
  });
  const walk = async (rel: string) => {
    const names = (await readdir(`${dir}/${rel}`)).sort();
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      const full = `${dir}/${r}`;
      const st = await lstat(full);
      const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
      if (st.isCharacterDevice() && st.rdev === 0) {
        const parent = r.includes('/') ? r.slice(0, r.lastIndexOf('/') + 1) : '';
        await entry({ ...base, name: `${parent}.wh.${n}`, type: 'file', size: 0, mode: 0o600 });
      } else if (st.isDirectory()) {
        await entry({ ...base, name: `${r}/`, type: 'directory' });
        if (opaque.has(full)) await entry({ ...base, name: `${r}/.wh..wh..opq`, type: 'file', size: 0, mode: 0o600 });
        await walk(r);
      } else if (st.isSymbolicLink()) {
        await entry({ ...base, name: r, type: 'symlink', linkname: await readlink(full) });
      } else if (st.isFile()) {
        await entry({ ...base, name: r, type: 'file', size: st.size }, createReadStream(full));
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const rdev = BigInt(st.rdev);
        await entry({ ...base, name: r, type: st.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: Number((rdev >> 8n) & 0xfffn), devminor: Number((rdev & 0xffn) | ((rdev >> 12n) & 0xfff00n)) });
      } else if (st.isFIFO()) {
        await entry({ ...base, name: r, type: 'fifo' });
      }
    }
  };
  await walk('');
  pack.finalize();
  await done;
}

export async function commitContainer(engine: Engine, svc: ContainerService, ref: string, o: CommitOptions): Promise<string> {
  const rec = await svc.resolve(ref);
  if (!rec.snapshotKey) throw ERR_CONTAINER_START(`container ${rec.id} runs on a --rootfs directory; only image-based containers can be committed`);
  const images = engine.use((require('../images/service') as typeof import('../images/service')).imageService);
  const parent = rec.imageId ? await images.get(rec.imageId) : undefined;
  const backend = svc.backend(rec);
  const st = await svc.state(rec);
  const pause = o.pause && st.status === 'running' && isPausable(backend);
  const tmp = await mkdtemp(`${engine.tmpDir}/commit-`);
  try {
    if (pause) await (backend as unknown as { pause(id: string): Promise<void> }).pause(rec.id);
    try {
      await layerTar(await engine.storage(rec.driver).writableDir(rec.snapshotKey), `${tmp}/layer.tar`);
    } finally {
      if (pause) await (backend as unknown as { resume(id: string): Promise<void> }).resume(rec.id).catch(() => undefined);
    }
    const { applyChanges } = require('../images/import') as typeof import('../images/import');
    const baseCfg = { ...(parent?.config.config ?? {}) } as Record<string, unknown>;
    // Docker commits the container's config (Env, Cmd, Entrypoint, WorkingDir, User, Labels…).
    Object.assign(baseCfg, {
      Env: rec.config.Env, Cmd: rec.config.Cmd, Entrypoint: rec.config.Entrypoint, WorkingDir: rec.config.WorkingDir,
      User: rec.config.User, Labels: rec.config.Labels, ...(rec.config.StopSignal ? { StopSignal: rec.config.StopSignal } : {}),
    });
    const config = applyChanges(o.changes, baseCfg as never);
    const img = await images.createImage({
      ...(parent ? { parent } : {}),
      layers: [{ tarPath: `${tmp}/layer.tar` }],
      config: { config, ...(o.author ? { author: o.author } : {}) } as never,
      history: [{ created_by: [rec.path, ...rec.args].join(' '), ...(o.message ? { comment: o.message } : {}) }],
      ...(o.tag ? { tag: o.tag } : {}),
      event: 'commit',
    });
    return img.id;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
