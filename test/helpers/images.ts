/**
 * Fixture images, built from host files with our own tar writer (tar-stream) into an OCI image
 * layout, then pushed into a test registry with skopeo:
 *
 * - `busyboxLayer()`: FROM scratch, Debian's static /bin/busybox plus one symlink per applet
 *   (`bin/sh -> busybox` …);
 * - `whiteoutLayers()`: three layers exercising deletions (`.wh.` files), an opaque directory
 *   (`.wh..wh..opq`), hardlinks and a file replaced by a directory;
 * - `buildLayout(dir, images, {index})`: writes blobs/config/manifests/index.json, gzip, zstd or
 *   no compression per layer, Docker schema2 or OCI media types, and for a multi-arch image an
 *   index holding several platform manifests;
 * - `pushLayout(dir, tag, dest)`: `skopeo copy [--all] oci:DIR:TAG docker://DEST`.
 */
import { execFileSync, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  data?: Buffer | string;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

export const sha256 = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** An uncompressed tar of `entries` (tar-stream's pack, deterministic mtimes). */
export async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const tarStream = require('tar-stream') as typeof import('tar-stream');
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const done = new Promise<void>((r, j) => {
    pack.on('end', () => r());
    pack.on('error', j);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const data = e.data === undefined ? undefined : Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data);
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: new Date(1_700_000_000_000),
      ...(e.linkname ? { linkname: e.linkname } : {}),
      ...(type === 'file' ? { size: data?.length ?? 0 } : {}),
    };
    await new Promise<void>((res, rej) => {
      const cb = (err?: Error | null) => (err ? rej(err) : res());
      if (type === 'file') pack.entry(header, data ?? Buffer.alloc(0), cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

let applets: string[] | undefined;
export function busyboxApplets(): string[] {
  applets ??= execFileSync('/bin/busybox', ['--list']).toString().split('\n').filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== 'busybox');
  return applets;
}

/** FROM scratch: /bin/busybox and a symlink per applet. */
export async function busyboxLayer(): Promise<Buffer> {
  const entries: TarEntry[] = [
    { name: 'bin/', type: 'directory' },
    { name: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 },
    ...busyboxApplets().filter((a) => !a.includes('/') && a !== '[' && a !== '[[').map((a) => ({ name: `bin/${a}`, type: 'symlink' as const, linkname: 'busybox' })),
    { name: 'etc/', type: 'directory' },
    { name: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' },
    { name: 'etc/group', data: 'root:x:0:\nnogroup:x:65534:\n' },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
  ];
  return makeTar(entries);
}

/** Three layers: base files, then deletions/opaque dir/hardlinks, then a file→dir replacement. */
export async function whiteoutLayers(): Promise<Buffer[]> {
  const l1 = await makeTar([
    { name: 'data/', type: 'directory' },
    { name: 'data/keep.txt', data: 'keep\n' },
    { name: 'data/gone.txt', data: 'gone\n' },
    { name: 'opaque/', type: 'directory' },
    { name: 'opaque/old1', data: 'old1\n' },
    { name: 'opaque/old2', data: 'old2\n' },
    { name: 'swap', data: 'I am a file\n' },
    { name: 'big.bin', data: Buffer.alloc(256 * 1024, 7) },
  ]);
  const l2 = await makeTar([
    { name: 'data/', type: 'directory' },
    { name: 'data/.wh.gone.txt', data: '' },
    { name: 'data/linked.txt', data: 'shared inode\n' },
    { name: 'data/hardlink.txt', type: 'link', linkname: 'data/linked.txt' },
    { name: 'opaque/', type: 'directory' },
    { name: 'opaque/.wh..wh..opq', data: '' },
    { name: 'opaque/new', data: 'new\n' },
  ]);
  const l3 = await makeTar([
    { name: '.wh.swap', data: '' },
    { name: 'swap/', type: 'directory' },
    { name: 'swap/inside', data: 'now a dir\n' },
  ]);
  return [l1, l2, l3];
}

export type Compression = 'gzip' | 'zstd' | 'none';

export function compress(tar: Buffer, c: Compression): Buffer {
  if (c === 'gzip') return gzipSync(tar, { level: 1 });
  if (c === 'zstd') return execFileSync('zstd', ['-q', '-c', '-3'], { input: tar, maxBuffer: 1 << 30 });
  return tar;
}

export interface FixtureImage {
  layers: Buffer[];
  compression?: Compression;
  /** Docker schema2 media types instead of OCI (gzip only). */
  docker?: boolean;
  platform?: { os: string; architecture: string; variant?: string };
  config?: Record<string, unknown>;
  history?: Array<{ created_by: string }>;
}

export interface Built { manifest: { digest: string; size: number; mediaType: string; bytes: Buffer }; configDigest: string; layerDigests: string[]; diffIds: string[] }

async function writeBlob(dir: string, data: Buffer): Promise<string> {
  const d = sha256(data);
  await writeFile(join(dir, 'blobs', 'sha256', d.slice(7)), data);
  return d;
}

async function buildOne(dir: string, img: FixtureImage): Promise<Built> {
  const c = img.compression ?? 'gzip';
  const plat = img.platform ?? { os: 'linux', architecture: 'amd64' };
  const layerMt = img.docker
    ? 'application/vnd.docker.image.rootfs.diff.tar.gzip'
    : c === 'gzip' ? 'application/vnd.oci.image.layer.v1.tar+gzip' : c === 'zstd' ? 'application/vnd.oci.image.layer.v1.tar+zstd' : 'application/vnd.oci.image.layer.v1.tar';
  const diffIds = img.layers.map((l) => sha256(l));
  const layers = [];
  for (const l of img.layers) {
    const blob = compress(l, img.docker ? 'gzip' : c);
    layers.push({ mediaType: layerMt, digest: await writeBlob(dir, blob), size: blob.length });
  }
  const config = Buffer.from(JSON.stringify({
    architecture: plat.architecture,
    os: plat.os,
    ...(plat.variant ? { variant: plat.variant } : {}),
    created: '2024-01-01T00:00:00Z',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'], ...(img.config ?? {}) },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: img.history ?? img.layers.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `layer ${i}` })),
  }));
  const configDigest = await writeBlob(dir, config);
  const manifestMt = img.docker ? 'application/vnd.docker.distribution.manifest.v2+json' : 'application/vnd.oci.image.manifest.v1+json';
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: manifestMt,
    config: { mediaType: img.docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers,
  }));
  const md = await writeBlob(dir, manifest);
  return { manifest: { digest: md, size: manifest.length, mediaType: manifestMt, bytes: manifest }, configDigest, layerDigests: layers.map((l) => l.digest), diffIds };
}

/**
 * Writes an OCI layout at `dir` with one entry tagged `tag`: a single image, or (several images)
 * an index of platform manifests. Returns what was built, per image.
 */
export async function buildLayout(dir: string, tag: string, images: FixtureImage[]): Promise<{ built: Built[]; topDigest: string }> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const built: Built[] = [];
  for (const img of images) built.push(await buildOne(dir, img));
  let top: { mediaType: string; digest: string; size: number };
  if (images.length === 1) {
    top = { mediaType: built[0]!.manifest.mediaType, digest: built[0]!.manifest.digest, size: built[0]!.manifest.size };
  } else {
    const idx = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: built.map((b, i) => ({ mediaType: b.manifest.mediaType, digest: b.manifest.digest, size: b.manifest.size, platform: images[i]!.platform ?? { os: 'linux', architecture: 'amd64' } })),
    }));
    top = { mediaType: 'application/vnd.oci.image.index.v1+json', digest: await writeBlob(dir, idx), size: idx.length };
  }
  await writeFile(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  }));
  return { built, topDigest: top.digest };
}

/**
 * Pushes a single-image layout whose manifest is Docker schema2 (skopeo's oci: transport only
 * lists OCI media types): the same blobs through skopeo's `dir:` transport.
 */
export async function pushDockerLayout(dir: string, built: Built, dest: string, opts: { creds?: string } = {}): Promise<void> {
  const { mkdtemp, copyFile, rm: rmp } = require('node:fs/promises') as typeof import('node:fs/promises');
  const { tmpdir } = require('node:os') as typeof import('node:os');
  const d = await mkdtemp(join(tmpdir(), 'berth-dir-'));
  try {
    await writeFile(join(d, 'version'), 'Directory Transport Version: 1.1\n');
    await writeFile(join(d, 'manifest.json'), built.manifest.bytes);
    for (const b of [built.configDigest, ...built.layerDigests]) await copyFile(join(dir, 'blobs', 'sha256', b.slice(7)), join(d, b.slice(7)));
    await execFileP('skopeo', ['copy', '-q', '--dest-tls-verify=false', '--preserve-digests', ...(opts.creds ? ['--dest-creds', opts.creds] : []), `dir:${d}`, `docker://${dest}`], { maxBuffer: 1 << 26 });
  } finally {
    await rmp(d, { recursive: true, force: true });
  }
}

/** Pushes `oci:DIR:TAG` to `docker://DEST` with skopeo, keeping the manifests byte for byte. */
export async function pushLayout(dir: string, tag: string, dest: string, opts: { creds?: string; all?: boolean } = {}): Promise<void> {
  await execFileP('skopeo', [
    'copy', '-q', '--dest-tls-verify=false', '--preserve-digests',
    ...(opts.all ? ['--all'] : []),
    ...(opts.creds ? ['--dest-creds', opts.creds] : []),
    `oci:${dir}:${tag}`, `docker://${dest}`,
  ], { maxBuffer: 1 << 26 });
}
