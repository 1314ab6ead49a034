/**
 * The container service: the whole container lifecycle for every front end (CLI, API server,
 * compose), daemonless.
 *
 * Vocabulary
 * - *record*: the container's metadata (`containers` bucket, key = 64-hex id): Docker's Config
 *   and HostConfig, the image, the snapshot key, the name. The record is written *first* on
 *   create, so a CLI killed half-way leaves a record that `rm`/`prune` can finish removing.
 * - *name reservation*: `container-names` bucket, key = name → id, taken under the bucket lock.
 * - *container dir*: `<root>/containers/<id>/` — bundle/, hostname, hosts, resolv.conf, the
 *   json-file log `<id>-json.log`, and what the monitor writes (status.json, exit.json).
 * - *state*: derived, never stored by the CLI: the isolation backend reads the monitor's
 *   status.json and checks the monitor is alive (TaskState), the record adds `created`.
 * - *cgroup parent*: `berth-<first 8 hex of sha256(root)>`, so two state roots never collide.
 *
 * Lifecycle
 *   const svc = engine.use(containerService);
 *   const rec = await svc.create({ image: 'busybox', cmd: ['sh'], config: { Tty: true } });
 *   await svc.start(rec.id);            // monitor + runtime; returns when the process runs
 *   await svc.stop(rec.id, 10);         // StopSignal, then SIGKILL after the timeout
 *   await svc.remove(rec.id, { force: true });
 *
 * Restart policies are applied by the monitor while it lives; containers with `always` or
 * `unless-stopped` whose monitor is gone (host reboot, killed monitor) are started again by
 * `restore()`, which `berth ps`, `berth start` and `berth system service` call
 * (docs/decisions/040-containers-daemonless.md).
 */
import { mark } from '../trace';
import { mkdir, rm, readdir, rmdir } from 'node:fs/promises';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { hostname as hostHostname } from 'node:os';
import type { Engine } from '../engine';
import { defineError, BerthError } from '../errors';
import type { IsolationBackend, TaskState, TaskSpec } from '../contracts/isolation';
import { isPausable } from '../contracts/isolation';
import type { Mount, StorageDriver } from '../contracts/storage';
import { registerMaintainer, type DfRow, type PruneOptions, type PruneResult } from '../maintenance';
import type { CheckIssue } from '../store/metadata';
import {
  buildOciSpec, ContainerConfig, HostConfig, ImageRuntimeConfig, defaultHostConfig, lookupUser, mergeEnv, parseSignal,
  resolveCommand, restartString, ERR_CONTAINER_PORTS, ERR_CONTAINER_NETWORK, ERR_CONTAINER_BAD_OPTION,
} from './spec';
import { ERR_CONTAINER_NAME_CONFLICT, randomName, validateName } from './names';
import { attachName } from './attach';
import { isoTime } from '../time';

export const ERR_CONTAINER_NOT_FOUND = defineError('ERR_CONTAINER_NOT_FOUND', 'notFound', 'No such container: %s');
export const ERR_CONTAINER_AMBIGUOUS = defineError('ERR_CONTAINER_AMBIGUOUS', 'invalidArgument', 'multiple containers found with provided prefix: %s');
export const ERR_CONTAINER_NOT_RUNNING = defineError('ERR_CONTAINER_NOT_RUNNING', 'conflict', 'Container %s is not running');
export const ERR_CONTAINER_RUNNING = defineError(
  'ERR_CONTAINER_RUNNING', 'conflict',
  'You cannot remove a running container %s. Stop the container before attempting removal or force remove',
);
export const ERR_CONTAINER_PAUSED = defineError('ERR_CONTAINER_PAUSED', 'conflict', 'Container %s is paused, unpause the container before stopping or killing');
export const ERR_CONTAINER_NOT_PAUSED = defineError('ERR_CONTAINER_NOT_PAUSED', 'conflict', 'Container %s is not paused');
export const ERR_CONTAINER_START = defineError('ERR_CONTAINER_START_FAILED', 'internal', '%s');
export const ERR_CONTAINER_NO_IMAGES = defineError('ERR_CONTAINER_IMAGES_UNAVAILABLE', 'failedPrecondition', 'images are not available in this build: %s (use --rootfs DIR)');
export const ERR_CONTAINER_PATH = defineError('ERR_CONTAINER_PATH_INVALID', 'invalidArgument', 'invalid path %s: %s');

export const BUCKET = 'containers';
export const NAMES_BUCKET = 'container-names';

export interface ContainerRecord {
  id: string;
  name: string;
  created: string;
  /** The image reference as given (Config.Image). */
  image: string;
  /** `sha256:…` of the image config, '' with --rootfs. */
  imageId: string;
  /** --rootfs directory used as is (no snapshot). */
  rootfs?: string;
  /** Active snapshot key in `driver`. */
  snapshotKey?: string;
  driver?: string;
  config: ContainerConfig;
  hostConfig: HostConfig;
  path: string;
  args: string[];
  isolation: string;
  /**
   * Written false with the first record; create never rewrites the record to true: the
   * bundle's task.json, written last, is the completion mark (one locked, fsynced write fewer
   * per run). Use `isComplete()`.
   */
  complete: boolean;
}

export interface CreateOptions {
  name?: string;
  image: string;
  /** Use this directory as the root filesystem instead of an image (podman's --rootfs). */
  rootfs?: string;
  cmd: string[];
  /** undefined: the image's; null or []: reset. */
  entrypoint?: string[] | null;
  config?: Partial<ContainerConfig>;
  hostConfig?: Partial<HostConfig>;
  pull?: 'missing' | 'always' | 'never';
  /** Called before pulling a missing image (`Unable to find image … locally`). */
  onPull?: (ref: string) => void;
  pullProgress?: unknown;
}

export interface ContainerView {
  rec: ContainerRecord;
  state: TaskState;
}

interface ImageLike { id: string; config: { config?: ImageRuntimeConfig }; chainIds: string[]; repoTags: string[] }
interface ImageServiceLike {
  get(ref: string): Promise<ImageLike>;
  pull(ref: string, opts?: Record<string, unknown>): Promise<ImageLike>;
  createImage?(opts: Record<string, unknown>): Promise<ImageLike>;
}

function loadImages(engine: Engine): ImageServiceLike {
  let mod: { imageService?: (e: Engine) => ImageServiceLike };
  try {
    mod = require('../images/service') as typeof mod;
  } catch (e) {
    throw ERR_CONTAINER_NO_IMAGES.with({ cause: e }, (e as Error).message);
  }
  if (!mod.imageService) throw ERR_CONTAINER_NO_IMAGES('core/images/service has no imageService');
  return engine.use(mod.imageService);
}

export function rootHash(root: string): string {
  return createHash('sha256').update(root).digest('hex').slice(0, 8);
}

export function cgroupParent(root: string): string {
  return `berth-${rootHash(root)}`;
}

/** Docker's `Up 3 seconds`, `Exited (0) 2 minutes ago`, `Created`, `Up 1 minute (Paused)`. */
export function statusText(st: TaskState, now = Date.now()): string {
  const { humanDuration } = require('../../cli/kit/table') as typeof import('../../cli/kit/table');
  const since = (t?: string) => (t ? humanDuration(Math.max(0, now - Date.parse(t))) : '');
  switch (st.status) {
    case 'created': return 'Created';
    case 'running': return `Up ${since(st.startedAt)}`;
    case 'paused': return `Up ${since(st.startedAt)} (Paused)`;
    case 'restarting': return `Restarting (${st.exitCode ?? 0}) ${since(st.finishedAt)} ago`;
    case 'exited': return st.finishedAt ? `Exited (${st.exitCode ?? 0}) ${since(st.finishedAt)} ago` : 'Created';
    case 'dead': return 'Dead';
  }
}

/** Docker's State.Status words. */
export function dockerStatus(st: TaskState): string {
  return st.status === 'dead' ? 'dead' : st.status === 'exited' && !st.finishedAt ? 'created' : st.status;
}

/** Resolves `rel` inside `root` following symlinks as if `root` were `/`; never leaves `root`. */
export function scopedPath(root: string, rel: string): string {
  const { lstatSync, readlinkSync } = require('node:fs') as typeof import('node:fs');
  const parts = rel.split('/').filter((p) => p && p !== '.');
  const out: string[] = [];
  let hops = 0;
  while (parts.length) {
    const p = parts.shift()!;
    if (p === '..') { out.pop(); continue; }
    const cur = `${root}/${[...out, p].join('/')}`;
    let st;
    try { st = lstatSync(cur); } catch { out.push(p); continue; }
    if (st.isSymbolicLink()) {
      if (++hops > 40) throw ERR_CONTAINER_PATH(rel, 'too many levels of symbolic links');
      const target = readlinkSync(cur);
      if (target.startsWith('/')) out.length = 0;
      parts.unshift(...target.split('/').filter((x) => x && x !== '.'));
    } else out.push(p);
  }
  return `${root}${out.length ? '/' + out.join('/') : ''}`;
}

export class ContainerService {
  constructor(private readonly engine: Engine) {}

  get root(): string { return this.engine.root; }

  dirOf(id: string): string { return `${this.engine.root}/containers/${id}`; }

  /** Create finished: the record says so, or the bundle's task.json (written last) exists. */
  isComplete(rec: ContainerRecord): boolean {
    return rec.complete || existsSync(`${this.dirOf(rec.id)}/task.json`);
  }

  logPath(id: string): string { return `${this.dirOf(id)}/${id}-json.log`; }

  backend(rec?: ContainerRecord): IsolationBackend {
    return this.engine.isolation(rec?.isolation && rec.isolation !== this.engine.config.isolation ? rec.isolation : undefined);
  }

  // ---- lookup -------------------------------------------------------------------------------

  async records(): Promise<ContainerRecord[]> {
    return (await this.engine.metadata.list<ContainerRecord>(BUCKET)).map((r) => r.value);
  }

  /** Full id, name (with or without '/'), or unique id prefix. */
  async resolve(ref: string): Promise<ContainerRecord> {
    const meta = this.engine.metadata;
    const name = ref.replace(/^\//, '');
    if (/^[a-f0-9]{64}$/.test(ref)) {
      const r = await meta.get<ContainerRecord>(BUCKET, ref);
      if (r) return r;
    }
    if (/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) {
      const id = await meta.get<string>(NAMES_BUCKET, name).catch(() => undefined);
      if (id) {
        const r = await meta.get<ContainerRecord>(BUCKET, id);
        if (r) return r;
      }
    }
    if (/^[a-f0-9]+$/.test(ref)) {
      const keys = (await meta.keys(BUCKET)).filter((k) => k.startsWith(ref));
      if (keys.length > 1) throw ERR_CONTAINER_AMBIGUOUS(ref);
      if (keys.length === 1) {
        const r = await meta.get<ContainerRecord>(BUCKET, keys[0]!);
        if (r) return r;
      }
    }
    throw ERR_CONTAINER_NOT_FOUND(ref);
  }

  async state(rec: ContainerRecord): Promise<TaskState> {
    if (!this.isComplete(rec)) return { id: rec.id, status: 'created' };
    try {
      return await this.backend(rec).state(rec.id);
    } catch {
      return { id: rec.id, status: 'created' };
    }
  }

  async view(ref: string): Promise<ContainerView> {
    const rec = await this.resolve(ref);
    return { rec, state: await this.state(rec) };
  }

  private async publish(action: string, rec: ContainerRecord, extra: Record<string, string> = {}): Promise<void> {
    await this.engine.events.publish({
      Type: 'container', Action: action,
      Actor: { ID: rec.id, Attributes: { ...rec.config.Labels, image: rec.image, name: rec.name, ...extra } },
    }).catch(() => undefined);
  }

  // ---- create -------------------------------------------------------------------------------

  /**
   * Takes `name` for `id` under the names bucket lock. When `rec` is given it is written inside
   * the same lock, so a reservation whose record is missing is always stale (a crash between the
   * two writes) and can be taken over.
   */
  private async reserveName(name: string, id: string, rec?: ContainerRecord): Promise<void> {
    const meta = this.engine.metadata;
    const w = writeOptions(rec);
    await meta.withBucketLock(NAMES_BUCKET, async () => {
      const cur = await meta.get<string>(NAMES_BUCKET, name);
      if (cur && cur !== id && (await meta.get(BUCKET, cur))) throw ERR_CONTAINER_NAME_CONFLICT(name, cur);
      await meta.put(NAMES_BUCKET, name, id, w);
      if (rec) await meta.put(BUCKET, id, { ...rec, name }, w);
    });
  }

  private async releaseName(name: string, id: string, rec?: ContainerRecord): Promise<void> {
    const meta = this.engine.metadata;
    await meta.withBucketLock(NAMES_BUCKET, async () => {
      const cur = await meta.get<string>(NAMES_BUCKET, name);
      if (cur === id) await meta.delete(NAMES_BUCKET, name, writeOptions(rec));
    });
  }

  async create(o: CreateOptions): Promise<ContainerRecord> {
    mark('create: begin');
    const hc: HostConfig = { ...defaultHostConfig(), ...(o.hostConfig ?? {}) };
    if (hc.NetworkMode === 'default' || hc.NetworkMode === 'bridge' || !hc.NetworkMode) hc.NetworkMode = 'none';
    if (hc.NetworkMode !== 'none' && hc.NetworkMode !== 'host') throw ERR_CONTAINER_NETWORK(hc.NetworkMode);
    if (Object.keys(hc.PortBindings ?? {}).length) throw ERR_CONTAINER_PORTS(Object.keys(hc.PortBindings).join(', '));
    if (hc.UsernsMode && !['host', 'remap', 'private', 'auto'].includes(hc.UsernsMode)) throw ERR_CONTAINER_BAD_OPTION('userns mode', hc.UsernsMode);
    // Image first: a missing image must not leave a record behind.
    let img: ImageLike | undefined;
    if (!o.rootfs) {
      const images = loadImages(this.engine);
      if (o.pull === 'always') img = await images.pull(o.image, { progress: o.pullProgress });
      else {
        try {
          img = await images.get(o.image);
        } catch (e) {
          if (!(e instanceof BerthError && e.cls === 'notFound') || o.pull === 'never') throw e;
          o.onPull?.(o.image);
          img = await images.pull(o.image, { progress: o.pullProgress });
        }
      }
    } else if (!existsSync(`${o.rootfs}/.`)) throw ERR_CONTAINER_PATH(o.rootfs, 'rootfs directory does not exist');
    mark('create: image resolved');
    const imgCfg: ImageRuntimeConfig = img?.config.config ?? {};
    const cmd = resolveCommand(imgCfg, o.entrypoint, o.cmd);
    const id = randomBytes(32).toString('hex');
    const name = o.name ? validateName(o.name) : '';
    const cfgIn = o.config ?? {};
    const config: ContainerConfig = {
      Hostname: cfgIn.Hostname || id.slice(0, 12),
      Domainname: cfgIn.Domainname ?? '',
      User: cfgIn.User ?? imgCfg.User ?? '',
      AttachStdin: cfgIn.AttachStdin ?? false,
      AttachStdout: cfgIn.AttachStdout ?? false,
      AttachStderr: cfgIn.AttachStderr ?? false,
      ...(imgCfg.ExposedPorts ? { ExposedPorts: imgCfg.ExposedPorts } : {}),
      Tty: cfgIn.Tty ?? false,
      OpenStdin: cfgIn.OpenStdin ?? false,
      StdinOnce: cfgIn.StdinOnce ?? false,
      Env: mergeEnv(imgCfg.Env ?? [], cfgIn.Env ?? []),
      Cmd: cmd.cmd,
      Image: o.rootfs ? o.rootfs : o.image,
      Volumes: imgCfg.Volumes ?? null,
      WorkingDir: cfgIn.WorkingDir || imgCfg.WorkingDir || '',
      Entrypoint: cmd.entrypoint,
      OnBuild: null,
      Labels: { ...(imgCfg.Labels ?? {}), ...(cfgIn.Labels ?? {}) },
      ...(cfgIn.StopSignal || imgCfg.StopSignal ? { StopSignal: cfgIn.StopSignal || imgCfg.StopSignal } : {}),
      ...(cfgIn.StopTimeout !== undefined ? { StopTimeout: cfgIn.StopTimeout } : {}),
    };
    if (!config.Env.some((e) => e.startsWith('PATH='))) config.Env.unshift('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    if (config.StopSignal) parseSignal(config.StopSignal);
    const backend = this.backend();
    const storageName = o.rootfs ? undefined : this.engine.storage().name;
    const rec: ContainerRecord = {
      id, name: name || '', created: isoTime(), image: config.Image, imageId: img?.id ?? '',
      ...(o.rootfs ? { rootfs: o.rootfs } : { driver: storageName!, snapshotKey: id }),
      config, hostConfig: hc, path: cmd.args[0]!, args: cmd.args.slice(1), isolation: backend.name, complete: false,
    };
    // Name: given, or random until one is free. The record is written with the reservation.
    if (name) await this.reserveName(name, id, rec);
    else {
      for (let i = 0; ; i++) {
        const n = randomName(i > 3 ? 1 : 0);
        try {
          await this.reserveName(n, id, rec);
          rec.name = n;
          break;
        } catch (e) {
          if (i > 20 || !ERR_CONTAINER_NAME_CONFLICT.is(e)) throw e;
        }
      }
    }
    mark('create: name reserved, record written');
    try {
      await this.materialize(rec, img, backend);
    } catch (e) {
      await this.remove(id, { force: true }).catch(() => undefined);
      throw e;
    }
    mark('create: materialized');
    rec.complete = true; // in memory only: see ContainerRecord.complete
    await this.publish('create', rec);
    return rec;
  }

  /** Snapshot, container files, OCI bundle. */
  private async materialize(rec: ContainerRecord, img: ImageLike | undefined, backend: IsolationBackend): Promise<void> {
    const dir = this.dirOf(rec.id);
    // Small files in fresh directories: synchronous calls (microseconds each) instead of one
    // thread-pool round trip per call, which added several ms to `berth run`.
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    let mount: Mount | undefined;
    let rootPath = 'rootfs';
    let readers: string[] = [];
    if (rec.rootfs) {
      rootPath = rec.rootfs;
      readers = [rec.rootfs];
    } else {
      const storage = this.engine.storage(rec.driver);
      await storage.prepare(rec.id, img?.chainIds.at(-1) ?? '', { 'berth.container': rec.id });
      mark('create: snapshot prepared');
      const mounts = await storage.mounts(rec.id);
      if (mounts.length !== 1) throw ERR_CONTAINER_START(`storage driver ${storage.name} returned ${mounts.length} mounts; one is supported`);
      const m = mounts[0]!;
      if (m.type === 'bind') { rootPath = m.source; readers = [m.source]; }
      else {
        mount = m;
        const opt = (k: string) => m.options.find((x) => x.startsWith(`${k}=`))?.slice(k.length + 1);
        readers = [opt('upperdir'), ...(opt('lowerdir')?.split(':') ?? [])].filter((x): x is string => !!x);
      }
    }
    // The bind-mount targets /etc/{hostname,hosts,resolv.conf} are made in the container's own
    // layer (as Docker does), so the runtime never has to create them — it could not under
    // --userns, where the image's root-owned /etc is not writable by the remapped root.
    const upper = mount?.options.find((x) => x.startsWith('upperdir='))?.slice(9);
    {
      const target = upper ?? (rec.rootfs ? undefined : rootPath);
      if (target) {
        const lowerEtc = readers.map((r) => `${r}/etc`).find((d) => existsSync(d));
        mkdirSync(`${target}/etc`, { recursive: true });
        if (lowerEtc && upper) {
          const st = statSync(lowerEtc);
          chownSync(`${target}/etc`, st.uid, st.gid);
          chmodSync(`${target}/etc`, st.mode & 0o7777);
        }
        for (const f of ['hostname', 'hosts', 'resolv.conf']) {
          if (!readers.some((r) => existsSync(`${r}/etc/${f}`))) writeFileSync(`${target}/etc/${f}`, '', { flag: 'a' });
        }
      }
    }
    const readInRoot = (f: 'etc/passwd' | 'etc/group') => {
      for (const r of readers) {
        try { return readFileSync(`${r}/${f}`, 'utf8'); } catch { /* next layer */ }
      }
      return undefined;
    };
    const hc = rec.hostConfig;
    const c = rec.config;
    const user = lookupUser(c.User, readInRoot);
    const hostName = hc.NetworkMode === 'host' ? hostHostname() : c.Hostname;
    if (hc.NetworkMode === 'host') c.Hostname = hostName;
    writeFileSync(`${dir}/hostname`, `${hostName}\n`);
    writeFileSync(`${dir}/hosts`, hc.NetworkMode === 'host' ? readHostFile('/etc/hosts') :
      `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n127.0.1.1\t${hostName}\n`);
    writeFileSync(`${dir}/resolv.conf`, resolvConf(hc.NetworkMode));
    writeFileSync(this.logPath(rec.id), '', { flag: 'a', mode: 0o640 });
    mark('create: container files written');
    const features = this.engine.host().features;
    const initPath = hc.Init ? ['/usr/bin/tini-static', '/usr/bin/catatonit', '/usr/local/bin/tini-static'].find((p) => existsSync(p)) : undefined;
    if (hc.Init && !initPath) throw ERR_CONTAINER_BAD_OPTION('--init', 'no static init binary found (apt-get install tini)');
    const devices = hc.Devices.map((d) => {
      let st;
      try { st = statSync(d.PathOnHost); } catch (e) { throw ERR_CONTAINER_BAD_OPTION.with({ cause: e }, 'device', `${d.PathOnHost}: no such device`); }
      if (!st.isCharacterDevice() && !st.isBlockDevice()) throw ERR_CONTAINER_BAD_OPTION('device', `${d.PathOnHost} is not a device`);
      const major = Number((BigInt(st.rdev) >> 8n) & 0xfffn);
      const minor = Number((BigInt(st.rdev) & 0xffn) | ((BigInt(st.rdev) >> 12n) & 0xfff00n));
      return { path: d.PathInContainer, type: (st.isCharacterDevice() ? 'c' : 'b') as 'c' | 'b', major, minor, fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid, permissions: d.CgroupPermissions };
    });
    const userns = hc.UsernsMode === 'remap' || hc.UsernsMode === 'private' || hc.UsernsMode === 'auto' ? usernsRange(this.engine) : undefined;
    if (userns) {
      // The remapped root must be able to reach its files: own the container dir and, for a
      // snapshot, its writable layer (lower layers stay root-owned and read-only, like
      // Docker's userns-remap on a shared image store).
      const { chown, chmod } = require('node:fs/promises') as typeof import('node:fs/promises');
      // runc binds the rootfs from inside the user namespace: every directory on the way must be
      // searchable by the remapped root. Inside the state root we make it so (0711, like
      // Docker's /var/lib/docker with userns-remap); above it we only check and explain.
      const { dirname } = require('node:path') as typeof import('node:path');
      for (let a = dirname(this.engine.root); ; a = dirname(a)) {
        if ((statSync(a).mode & 0o001) === 0) throw ERR_CONTAINER_BAD_OPTION('--userns', `${a} is not searchable by the remapped root (uid ${userns.hostId}): chmod o+x ${a}`);
        if (a === '/') break;
      }
      for (const d of [this.engine.root, `${this.engine.root}/containers`, dir, `${dir}/bundle`]) {
        await mkdir(d, { recursive: true });
        await chmod(d, (statSync(d).mode & 0o777) | 0o011);
      }
      await chown(dir, userns.hostId, userns.hostId);
      for (const f of ['hostname', 'hosts', 'resolv.conf']) await chown(`${dir}/${f}`, userns.hostId, userns.hostId);
      if (upper) {
        await chown(upper, userns.hostId, userns.hostId);
        // what create put in the container layer belongs to the container's root too
        for (const f of ['etc', 'etc/hostname', 'etc/hosts', 'etc/resolv.conf']) await chown(`${upper}/${f}`, userns.hostId, userns.hostId).catch(() => undefined);
      }
    }
    const cgroupsPath = `/${cgroupParent(this.engine.root)}/${rec.id}`;
    const oci = buildOciSpec({
      id: rec.id, config: c, hostConfig: hc, args: [rec.path, ...rec.args], rootPath, cgroupsPath,
      cgroupMode: features.cgroup.mode, user, dir, ...(initPath ? { initPath } : {}), devices,
      swapAccounting: existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes') || features.cgroup.mode === 'v2',
      ...(userns ? { usernsRange: userns } : {}),
      ...(hostBounding() !== undefined ? { hostBounding: hostBounding()! } : {}),
    });
    const oomFile = features.cgroup.mode === 'v2'
      ? `${features.cgroup.v2Mount ?? '/sys/fs/cgroup'}${cgroupsPath}/memory.events`
      : `/sys/fs/cgroup/memory${cgroupsPath}/memory.oom_control`;
    const spec: TaskSpec = {
      dir, oci, tty: c.Tty, stdin: c.OpenStdin, logPath: this.logPath(rec.id), restart: restartString(hc.RestartPolicy),
      attachName: attachName(this.engine.root, rec.id), oomFile,
      events: { file: this.engine.events.file, name: rec.name, image: rec.image },
      ...(mount ? { rootfs: { type: mount.type, source: mount.source, options: rootfsOptions(mount, hc, features.kernel) } } : {}),
      ...(userns && mount?.type === 'overlay' ? { idmap: { hostId: userns.hostId, size: userns.size } } : {}),
    };
    if (hc.AutoRemove) spec.exitCommand = this.selfCommand(['rm', '-f', rec.id]);
    const why = backend.check?.(spec);
    if (why) throw ERR_CONTAINER_START(why);
    mark('create: spec built');
    await backend.create(rec.id, spec);
  }

  /** argv that re-invokes this berth CLI on the same root (for the monitor's exit command). */
  private selfCommand(args: string[]): string[] {
    const { packageFile } = require('../paths') as typeof import('../paths');
    const bin = [packageFile('bin', 'berth')].find((p) => existsSync(p)) ?? 'berth';
    return [process.execPath, bin, '--root', this.engine.root, ...args];
  }

  // ---- start / stop ---------------------------------------------------------------------------

  async start(ref: string, opts: { waitAttach?: boolean; onListening?: () => Promise<void> | void } = {}): Promise<{ rec: ContainerRecord; pid: number }> {
    const rec = await this.resolve(ref);
    if (!this.isComplete(rec)) throw ERR_CONTAINER_START(`container ${rec.id} was not completely created; remove it`);
    const backend = this.backend(rec);
    const st = await backend.state(rec.id);
    if (st.status === 'running' || st.status === 'paused' || st.status === 'restarting') return { rec, pid: st.pid ?? 0 };
    if (rec.hostConfig.AutoRemove) {
      // foreground --rm is removed by the CLI; -d --rm by the monitor's exit command
    }
    try {
      mark('start: begin');
      primeCgroupMigration(); // the runtime moves the container's init into its cgroups soon
      const r = await backend.start(rec.id, opts);
      mark('start: running');
      // `start` (and `die`, `restart`) events are published by the monitor, in order.
      return { rec, pid: r.pid };
    } catch (e) {
      await this.publish('die', rec, { exitCode: String((e as BerthError).details?.exitCode ?? 125) });
      throw e;
    }
  }

  async stop(ref: string, timeoutSec?: number, signal?: string): Promise<ContainerRecord> {
    const rec = await this.resolve(ref);
    const backend = this.backend(rec);
    let st = await backend.state(rec.id);
    const markStopped = (backend as { markStopped?: (id: string) => Promise<void> }).markStopped?.bind(backend);
    if (st.status === 'restarting') {
      await markStopped?.(rec.id);
      if (st.monitorPid) try { process.kill(st.monitorPid, 'SIGTERM'); } catch { /* gone */ }
      await backend.wait(rec.id, 5000);
      await this.publish('stop', rec);
      return rec;
    }
    if (st.status !== 'running' && st.status !== 'paused') return rec;
    await markStopped?.(rec.id);
    const t = timeoutSec ?? rec.config.StopTimeout ?? 10;
    const sig = parseSignal(signal ?? rec.config.StopSignal ?? 'SIGTERM').name;
    if (st.status === 'paused') {
      // Docker unfreezes to deliver the signal.
      await backend.kill(rec.id, sig).catch(() => undefined);
      if (isPausable(backend)) await backend.resume(rec.id).catch(() => undefined);
    } else if (t !== 0) await backend.kill(rec.id, sig).catch(() => undefined);
    await this.publish('kill', rec, { signal: String(parseSignal(sig).num) });
    st = t < 0 ? await backend.wait(rec.id) : await backend.wait(rec.id, t * 1000);
    if (st.status === 'running' || st.status === 'paused') {
      await backend.kill(rec.id, 'KILL', true).catch(() => undefined);
      await this.publish('kill', rec, { signal: '9' });
      await backend.wait(rec.id, 10_000);
    }
    await this.publish('stop', rec); // `die` is published by the monitor when the process exits
    return rec;
  }

  async kill(ref: string, signal = 'KILL'): Promise<ContainerRecord> {
    const rec = await this.resolve(ref);
    const backend = this.backend(rec);
    const st = await backend.state(rec.id);
    if (st.status !== 'running' && st.status !== 'paused') throw ERR_CONTAINER_NOT_RUNNING(rec.id);
    const sig = parseSignal(signal);
    if (sig.num === 9 || sig.num === 15) {
      const markStopped = (backend as { markStopped?: (id: string) => Promise<void> }).markStopped;
      // Docker: a kill does not count as a user stop for on-failure/always policies; only stop does.
      void markStopped;
    }
    await backend.kill(rec.id, sig.name.replace(/^SIG/, ''));
    await this.publish('kill', rec, { signal: String(sig.num) });
    return rec;
  }

  async restart(ref: string, timeoutSec?: number): Promise<ContainerRecord> {
    const rec = await this.stop(ref, timeoutSec);
    await this.start(rec.id);
    await this.publish('restart', rec);
    return rec;
  }

  async pause(ref: string): Promise<ContainerRecord> {
    const rec = await this.resolve(ref);
    const backend = this.backend(rec);
    const st = await backend.state(rec.id);
    if (st.status === 'paused') throw ERR_CONTAINER_PAUSED(rec.id);
    if (st.status !== 'running') throw ERR_CONTAINER_NOT_RUNNING(rec.id);
    if (!isPausable(backend)) throw ERR_CONTAINER_START(`the ${backend.name} backend cannot pause`);
    await backend.pause(rec.id);
    await this.publish('pause', rec);
    return rec;
  }

  async unpause(ref: string): Promise<ContainerRecord> {
    const rec = await this.resolve(ref);
    const backend = this.backend(rec);
    const st = await backend.state(rec.id);
    if (st.status !== 'paused') throw ERR_CONTAINER_NOT_PAUSED(rec.id);
    if (!isPausable(backend)) throw ERR_CONTAINER_START(`the ${backend.name} backend cannot unpause`);
    await backend.resume(rec.id);
    await this.publish('unpause', rec);
    return rec;
  }

  /** Waits for the container to stop; returns the exit code. */
  async wait(ref: string, condition: 'not-running' | 'next-exit' | 'removed' = 'not-running'): Promise<{ exitCode: number; oomKilled: boolean; error?: string }> {
    const rec = await this.resolve(ref);
    const backend = this.backend(rec);
    if (condition === 'next-exit') {
      // wait for a running state first, then its end
      for (let i = 0; i < 600; i++) {
        const s = await backend.state(rec.id);
        if (s.status === 'running' || s.status === 'paused') break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    let st = await backend.wait(rec.id);
    while (st.status === 'created' && condition !== 'not-running') {
      await new Promise((r) => setTimeout(r, 100));
      st = await backend.wait(rec.id);
    }
    if (condition === 'removed') {
      for (let i = 0; i < 600 && (await this.engine.metadata.get(BUCKET, rec.id)); i++) await new Promise((r) => setTimeout(r, 50));
    }
    return { exitCode: st.exitCode ?? 0, oomKilled: !!st.oomKilled, ...(st.error ? { error: st.error } : {}) };
  }

  // ---- remove ---------------------------------------------------------------------------------

  async remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<ContainerRecord> {
    const rec = await this.resolve(ref);
    const st = await this.state(rec);
    if ((st.status === 'running' || st.status === 'paused' || st.status === 'restarting') && !opts.force) throw ERR_CONTAINER_RUNNING(rec.id);
    let backend: IsolationBackend | undefined;
    try { backend = this.backend(rec); } catch { backend = undefined; }
    const dir = this.dirOf(rec.id);
    const rootfs = `${dir}/bundle/rootfs`;
    const { unmountIfMounted } = require('../images/mount') as typeof import('../images/mount');
    const dropSnapshot = async () => {
      if (!rec.snapshotKey) return;
      try {
        await this.engine.storage(rec.driver).remove(rec.snapshotKey);
        mark('remove: snapshot gone');
      } catch (e) {
        if (!(e instanceof BerthError && e.cls === 'notFound')) throw e;
      }
    };
    // A stopped container's snapshot goes first, side by side with the backend's delete (its
    // monitor released the rootfs before it recorded the exit and may still be deleting the
    // runtime's state, which needs none of these files). A running one's waits for the kill.
    let snapshotGone: Promise<void> | undefined;
    if (st.status === 'exited' || st.status === 'created') {
      await unmountIfMounted(rootfs);
      snapshotGone = dropSnapshot();
      snapshotGone.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
    }
    if (backend) await backend.delete(rec.id, true);
    mark('remove: backend deleted');
    await unmountIfMounted(rootfs);
    // The container dir goes to the root's trash (a rename; a detached `rm -rf` frees the bytes
    // after the command, see core/store/trash.ts). Renamed first, a monitor still finishing (it is
    // not waited for after a recorded exit) finds no `rm-claimed` to take over and runs no exit
    // command, instead of claiming the removal in the middle of ours.
    const dropFiles = async () => {
      const { trash, trashDir } = require('../store/trash') as typeof import('../store/trash');
      trash(trashDir(this.engine.root), dir);
    };
    await Promise.all([snapshotGone ?? dropSnapshot(), removeCgroups(this.engine, rec.id), dropFiles()]);
    mark('remove: snapshot, cgroups, files gone');
    await Promise.all([this.engine.metadata.delete(BUCKET, rec.id, writeOptions(rec)), rec.name ? this.releaseName(rec.name, rec.id, rec) : undefined]);
    mark('remove: record and name gone');
    await this.publish('destroy', rec);
    return rec;
  }

  async rename(ref: string, newName: string): Promise<void> {
    const rec = await this.resolve(ref);
    const name = validateName(newName);
    if (name === rec.name) throw ERR_CONTAINER_BAD_OPTION('name', `Renaming a container with the same name as its current name`);
    const old = rec.name;
    const cur = await this.engine.metadata.get<ContainerRecord>(BUCKET, rec.id);
    await this.reserveName(name, rec.id, cur ?? rec);
    if (old) await this.releaseName(old, rec.id);
    await this.publish('rename', { ...rec, name }, { oldName: `/${old}` });
  }

  // ---- list / inspect -------------------------------------------------------------------------

  async list(): Promise<ContainerView[]> {
    const recs = await this.records();
    return Promise.all(recs.map(async (rec) => ({ rec, state: await this.state(rec) })));
  }

  /**
   * Starts containers with `always`/`unless-stopped` whose monitor is gone without a user stop
   * (the host rebooted, or the monitor was killed): Docker's restart on daemon start.
   */
  async restore(): Promise<string[]> {
    const started: string[] = [];
    for (const { rec, state } of await this.list()) {
      const p = rec.hostConfig.RestartPolicy.Name;
      if (state.status !== 'dead' || (p !== 'always' && p !== 'unless-stopped')) continue;
      if (existsSync(`${this.dirOf(rec.id)}/stop-requested`)) continue;
      try {
        await this.start(rec.id);
        started.push(rec.id);
      } catch { /* reported by ps as Dead */ }
    }
    return started;
  }

  async inspect(ref: string): Promise<Record<string, unknown>> {
    const { rec, state: st } = await this.view(ref);
    const dir = this.dirOf(rec.id);
    const status = dockerStatus(st);
    const zero = '0001-01-01T00:00:00Z';
    return {
      Id: rec.id,
      Created: rec.created,
      Path: rec.path,
      Args: rec.args,
      State: {
        Status: status,
        Running: st.status === 'running' || st.status === 'paused',
        Paused: st.status === 'paused',
        Restarting: st.status === 'restarting',
        OOMKilled: !!st.oomKilled,
        Dead: st.status === 'dead',
        Pid: st.status === 'running' || st.status === 'paused' ? st.pid ?? 0 : 0,
        ExitCode: st.status === 'running' || st.status === 'paused' || st.status === 'created' ? 0 : st.exitCode ?? 0,
        Error: st.error ?? '',
        StartedAt: st.startedAt || zero,
        FinishedAt: st.finishedAt || zero,
      },
      Image: rec.imageId,
      ResolvConfPath: `${dir}/resolv.conf`,
      HostnamePath: `${dir}/hostname`,
      HostsPath: `${dir}/hosts`,
      LogPath: this.logPath(rec.id),
      Name: `/${rec.name}`,
      RestartCount: st.restartCount ?? 0,
      Driver: rec.driver ?? (rec.rootfs ? 'rootfs' : ''),
      Platform: 'linux',
      MountLabel: '',
      ProcessLabel: '',
      AppArmorProfile: '',
      ExecIDs: null,
      HostConfig: { ...rec.hostConfig, LogConfig: { Type: 'json-file', Config: {} }, Runtime: rec.isolation },
      GraphDriver: { Name: rec.driver ?? '', Data: rec.rootfs ? { RootDir: rec.rootfs } : { MergedDir: `${dir}/bundle/rootfs` } },
      Mounts: [],
      Config: rec.config,
      NetworkSettings: {
        Bridge: '', SandboxID: '', SandboxKey: '', Ports: {}, HairpinMode: false, LinkLocalIPv6Address: '', LinkLocalIPv6PrefixLen: 0,
        Gateway: '', IPAddress: '', IPPrefixLen: 0, MacAddress: '',
        Networks: {
          [rec.hostConfig.NetworkMode]: {
            IPAMConfig: null, Links: null, Aliases: null, NetworkID: rec.hostConfig.NetworkMode, EndpointID: '', Gateway: '',
            IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, MacAddress: '', DNSNames: null,
          },
        },
      },
    };
  }

  // ---- exec / top / stats ---------------------------------------------------------------------

  async exec(ref: string, o: { cmd: string[]; tty?: boolean; detach?: boolean; env?: string[]; workdir?: string; user?: string; privileged?: boolean; stdio: Array<number | 'ignore' | 'pipe'> }): Promise<number> {
    const rec = await this.resolve(ref);
    const backend = this.backend(rec);
    const st = await backend.state(rec.id);
    if (st.status === 'paused') throw ERR_CONTAINER_PAUSED(rec.id);
    if (st.status !== 'running') throw ERR_CONTAINER_NOT_RUNNING(rec.id);
    const extra: Record<string, unknown> = {};
    if (o.user) {
      const root = rec.rootfs ?? `${this.dirOf(rec.id)}/bundle/rootfs`;
      extra.user = lookupUser(o.user, (f) => { try { return readFileSync(scopedPath(root, f), 'utf8'); } catch { return undefined; } });
    }
    if (o.privileged) {
      const { ALL_CAPS } = require('./spec') as typeof import('./spec');
      extra.capabilities = { bounding: ALL_CAPS, effective: ALL_CAPS, permitted: ALL_CAPS };
    }
    if (o.tty) extra.env = mergeEnv(rec.config.Env, ['TERM=xterm'], o.env ?? []);
    mark('exec: resolved');
    await this.publish('exec_create', rec, { execID: randomBytes(8).toString('hex') });
    mark('exec: event published');
    return backend.exec(rec.id, {
      args: o.cmd, ...(o.env ? { env: o.env } : {}), ...(o.workdir ? { cwd: o.workdir } : {}),
      tty: !!o.tty, detach: !!o.detach, process: extra,
    }, { stdio: o.stdio });
  }

  /** Pids of the container's cgroup (host pid namespace). */
  pids(rec: ContainerRecord): number[] {
    const f = this.engine.host().features;
    const rel = `/${cgroupParent(this.engine.root)}/${rec.id}`;
    const file = f.cgroup.mode === 'v2' ? `${f.cgroup.v2Mount ?? '/sys/fs/cgroup'}${rel}/cgroup.procs` : `/sys/fs/cgroup/pids${rel}/cgroup.procs`;
    try {
      return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  async top(ref: string, psArgs = '-ef'): Promise<{ Titles: string[]; Processes: string[][] }> {
    const rec = await this.resolve(ref);
    const st = await this.state(rec);
    if (st.status !== 'running' && st.status !== 'paused') throw ERR_CONTAINER_NOT_RUNNING(rec.id);
    const pids = new Set(this.pids(rec));
    const r = await this.engine.host().ops.exec('ps', psArgs.split(/\s+/).filter(Boolean));
    const lines = r.stdout.split('\n').filter((l) => l.trim());
    const header = lines.shift() ?? '';
    const titles = header.trim().split(/\s+/);
    const pidCol = titles.indexOf('PID');
    if (pidCol < 0) throw ERR_CONTAINER_BAD_OPTION('ps options', `Couldn't find PID field in ps output`);
    const procs: string[][] = [];
    for (const l of lines) {
      const f = l.trim().split(/\s+/);
      if (!pids.has(Number(f[pidCol]))) continue;
      procs.push([...f.slice(0, titles.length - 1), f.slice(titles.length - 1).join(' ')]);
    }
    return { Titles: titles, Processes: procs };
  }

  // ---- filesystem: cp / export ----------------------------------------------------------------

  /** Runs `fn` with the container's root filesystem visible at a host directory. */
  async withRootfs<T>(rec: ContainerRecord, fn: (dir: string) => Promise<T>): Promise<T> {
    if (rec.rootfs) return fn(rec.rootfs);
    const dir = `${this.dirOf(rec.id)}/bundle/rootfs`;
    const { isMounted } = require('../images/mount') as typeof import('../images/mount');
    if (isMounted(dir)) return fn(dir);
    const { withMounted } = require('../images/mount') as typeof import('../images/mount');
    const mounts = await this.engine.storage(rec.driver).mounts(rec.snapshotKey ?? rec.id);
    return withMounted(mounts, fn);
  }

  // ---- prune ----------------------------------------------------------------------------------

  async prune(filters: Record<string, string[]> = {}): Promise<PruneResult> {
    const removed: string[] = [];
    let reclaimed = 0;
    const until = filters.until?.[0];
    for (const { rec, state } of await this.list()) {
      if (state.status === 'running' || state.status === 'paused' || state.status === 'restarting') continue;
      if (until && Date.parse(rec.created) > Date.parse(until)) continue;
      if (filters.label?.length && !filters.label.every((l) => { const [k, v] = l.split('='); return v === undefined ? k! in rec.config.Labels : rec.config.Labels[k!] === v; })) continue;
      reclaimed += await this.sizeRw(rec).catch(() => 0);
      await this.remove(rec.id, { force: true });
      removed.push(rec.id);
    }
    return { removed, reclaimed };
  }

  async sizeRw(rec: ContainerRecord): Promise<number> {
    if (!rec.snapshotKey) return 0;
    try {
      return (await this.engine.storage(rec.driver).usage(rec.snapshotKey)).size;
    } catch {
      return 0;
    }
  }

  async close(): Promise<void> { /* nothing held */ }
}

export function containerService(engine: Engine): ContainerService {
  return new ContainerService(engine);
}

let bounding: bigint | undefined | null = null;
/** The engine's own capability bounding set (what it can grant at most). */
function hostBounding(): bigint | undefined {
  if (bounding === null) {
    const m = /^CapBnd:\s+([0-9a-f]+)$/m.exec(readHostFile('/proc/self/status'));
    bounding = m ? BigInt(`0x${m[1]}`) : undefined;
  }
  return bounding;
}

function readHostFile(p: string): string {
  try { return readFileSync(p, 'utf8'); } catch { return '127.0.0.1\tlocalhost\n'; }
}

/** Docker: the host's resolv.conf; loopback nameservers are useless in a private netns. */
function resolvConf(mode: string): string {
  const host = readHostFile('/etc/resolv.conf');
  if (mode === 'host') return host;
  return host.split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1)/.test(l)).join('\n');
}

/** The host uid range for --userns remap: engine config `userns-remap: "100000:65536"`. */
function usernsRange(engine: Engine): { hostId: number; size: number } {
  const v = (engine.config as unknown as Record<string, unknown>)['userns-remap'];
  const m = typeof v === 'string' ? /^(\d+):(\d+)$/.exec(v) : null;
  return m ? { hostId: Number(m[1]), size: Number(m[2]) } : { hostId: 100000, size: 65536 };
}

/**
 * The rootfs mount's options. A `--rm` container's overlay is mounted `volatile` (Linux ≥ 5.10,
 * as Podman does for --rm): overlayfs then never syncs the upper filesystem — without it the
 * unmount at the container's exit runs syncfs on the whole filesystem under the state root,
 * which on a busy disk cost the exit 10–25 ms. A crash loses nothing that was meant to outlive
 * the container.
 */
function rootfsOptions(m: Mount, hc: HostConfig, kernel: string): string[] {
  if (!hc.AutoRemove || m.type !== 'overlay' || m.options.includes('volatile')) return m.options;
  const [major = 0, minor = 0] = kernel.split(/[.-]/).map(Number);
  return major > 5 || (major === 5 && minor >= 10) ? [...m.options, 'volatile'] : m.options;
}

/**
 * A `--rm` container lives no longer than its command: its record and name are written without
 * fsync (a power cut mid-run may lose them; `system check` then reports the container's
 * snapshot and directory as stray and `system prune` removes them). Every other container's are
 * durable.
 */
function writeOptions(rec?: ContainerRecord): { durable: boolean } {
  return { durable: !rec?.hostConfig.AutoRemove };
}

/**
 * Pre-pays the kernel's wait before a cgroup migration. Every write to `cgroup.procs` takes the
 * cgroup threadgroup rwsem for writing, which waits a full RCU grace period (≈ 11–13 ms here,
 * `strace -T` of berth-nsrun's and runc's first write) unless another migration took it within
 * the last grace period. This writes this process's pid to its own cgroup — a migration that
 * changes nothing — asynchronously, so the wait overlaps with the command's own start-up and the
 * runtime's join of the container's cgroups a few ms later takes the fast path. For commands
 * about to move a process (exec, a start): one thread-pool thread sleeps for the grace period;
 * nothing else changes. Errors (no cgroupfs, a read-only one) are ignored.
 */
export function primeCgroupMigration(): void {
  const fs = require('node:fs') as typeof import('node:fs');
  let file: string | undefined;
  try {
    for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
      const [, ctrls, p] = line.split(':');
      if (p === undefined) continue;
      if (ctrls === 'pids' || ctrls === 'memory') { file = `/sys/fs/cgroup/${ctrls}${p === '/' ? '' : p}/cgroup.procs`; break; }
      if (ctrls === '' && !file) file = `/sys/fs/cgroup${p === '/' ? '' : p}/cgroup.procs`;
    }
  } catch { return; }
  if (!file) return;
  // Opened here (microseconds) so that the thread pool gets the write itself at once: the main
  // thread may not come back to the event loop for a while (the CLI's start-up is synchronous).
  let fd: number;
  // O_WRONLY alone: never create a file (on a v1 host /sys/fs/cgroup itself is a tmpfs)
  try { fd = fs.openSync(file, fs.constants.O_WRONLY); } catch { return; }
  fs.write(fd, String(process.pid), () => fs.close(fd, () => undefined));
}

/** Removes the container's cgroup directories (every v1 hierarchy, or the v2 one). */
export async function removeCgroups(engine: Engine, id: string): Promise<void> {
  const parent = cgroupParent(engine.root);
  // cgroup rmdirs are quick syscalls (no disk): synchronous, not a thread-pool trip each.
  const { rmdirSync, readdirSync } = require('node:fs') as typeof import('node:fs');
  const drop = (d: string) => { try { rmdirSync(d); } catch { /* gone, or busy */ } };
  for (const d of cgroupDirsOf(parent, id)) drop(d);
  // The root's parent cgroup goes with its last container (rmdir fails while others remain).
  let hier: string[];
  try { hier = readdirSync('/sys/fs/cgroup'); } catch { return; }
  for (const h of ['', ...hier]) drop(`/sys/fs/cgroup/${h ? h + '/' : ''}${parent}`);
}

function cgroupDirsOf(parent: string, id: string): string[] {
  const out: string[] = [];
  let hier: string[];
  try { hier = require('node:fs').readdirSync('/sys/fs/cgroup') as string[]; } catch { return out; }
  for (const h of hier) {
    const p = `/sys/fs/cgroup/${h}/${parent}/${id}`;
    if (existsSync(p)) out.push(p);
  }
  if (existsSync(`/sys/fs/cgroup/${parent}/${id}`)) out.push(`/sys/fs/cgroup/${parent}/${id}`);
  return out;
}

// ---- maintenance (system df / check / prune) ----------------------------------------------------

async function df(engine: Engine): Promise<DfRow[]> {
  const svc = engine.use(containerService);
  const all = await svc.list().catch(() => []);
  let size = 0;
  let reclaimable = 0;
  let active = 0;
  for (const { rec, state } of all) {
    const s = await svc.sizeRw(rec);
    size += s;
    if (state.status === 'running' || state.status === 'paused') active++;
    else reclaimable += s;
  }
  return [{ type: 'Containers', total: all.length, active, size, reclaimable }];
}

async function check(engine: Engine): Promise<CheckIssue[]> {
  const issues: CheckIssue[] = [];
  const svc = engine.use(containerService);
  const recs = await svc.records().catch(() => []);
  const ids = new Set(recs.map((r) => r.id));
  for (const rec of recs) {
    const dir = svc.dirOf(rec.id);
    if (!svc.isComplete(rec)) issues.push({ kind: 'container-incomplete', path: dir, message: `container ${rec.id} was not completely created (prune removes it)` } as CheckIssue);
    else if (!existsSync(`${dir}/bundle/config.json`)) issues.push({ kind: 'container-no-bundle', path: dir, message: `container ${rec.id} has no bundle` } as CheckIssue);
    const st = await svc.state(rec);
    if (st.status === 'dead') issues.push({ kind: 'container-dead', path: dir, message: `container ${rec.id}: ${st.error ?? 'monitor gone'}` } as CheckIssue);
  }
  let dirs: string[] = [];
  try { dirs = await readdir(`${engine.root}/containers`); } catch { /* none */ }
  for (const d of dirs) if (!ids.has(d)) issues.push({ kind: 'container-stray-dir', path: `${engine.root}/containers/${d}`, message: 'container directory without a record' } as CheckIssue);
  for (const c of leftoverCgroups(engine, ids)) issues.push({ kind: 'container-stray-cgroup', path: c, message: 'cgroup without a live container' } as CheckIssue);
  for (const m of leftoverMounts(engine, ids)) issues.push({ kind: 'container-stray-mount', path: m, message: 'mount without a container record' } as CheckIssue);
  for (const s of await strayContainerSnapshots(engine, ids)) issues.push({ kind: 'container-stray-snapshot', path: `${s.driver}:${s.key}`, message: `snapshot of container ${s.container}, which has no record (prune removes it)` } as CheckIssue);
  return issues;
}

/**
 * Writable snapshots made for a container (label `berth.container`) whose record is gone: left
 * by a power cut during a `run --rm` (its record is not fsynced) or by a crash mid-removal.
 * A container's record is written before its snapshot is prepared and removed after it, so a
 * live container's snapshot is never listed here.
 */
async function strayContainerSnapshots(engine: Engine, ids: Set<string>): Promise<Array<{ driver: string; key: string; container: string }>> {
  const { PluginType } = require('../plugin-types') as typeof import('../plugin-types');
  const out: Array<{ driver: string; key: string; container: string }> = [];
  for (const { id: driver, instance } of engine.plugins.getAll<StorageDriver>(PluginType.Storage)) {
    await instance.walk((s) => {
      const c = s.labels['berth.container'];
      if (c && s.kind === 'active' && !ids.has(c)) out.push({ driver, key: s.name, container: c });
    }).catch(() => undefined);
  }
  return out;
}

function leftoverCgroups(engine: Engine, ids: Set<string>): string[] {
  const parent = cgroupParent(engine.root);
  const out: string[] = [];
  let hier: string[];
  try { hier = require('node:fs').readdirSync('/sys/fs/cgroup') as string[]; } catch { return out; }
  for (const h of ['', ...hier]) {
    const base = `/sys/fs/cgroup/${h ? h + '/' : ''}${parent}`;
    let kids: string[];
    try { kids = (require('node:fs').readdirSync(base, { withFileTypes: true }) as import('node:fs').Dirent[]).filter((d) => d.isDirectory()).map((d) => d.name); } catch { continue; }
    for (const k of kids) if (/^[a-f0-9]{64}$/.test(k) && !ids.has(k)) out.push(`${base}/${k}`);
  }
  return out;
}

function leftoverMounts(engine: Engine, ids: Set<string>): string[] {
  const prefix = `${engine.root}/containers/`;
  const out: string[] = [];
  try {
    for (const l of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const mp = l.split(' ')[4];
      if (!mp?.startsWith(prefix)) continue;
      const id = mp.slice(prefix.length).split('/')[0]!;
      if (!ids.has(id)) out.push(mp);
    }
  } catch { /* no procfs */ }
  return out;
}

async function prune(engine: Engine, opts: PruneOptions): Promise<PruneResult> {
  const svc = engine.use(containerService);
  const res = await svc.prune(opts.filters ?? {});
  // Leftovers of CLIs killed mid-run: incomplete records were removed above (not running);
  // now mounts, cgroups, runtime state and directories that no record owns.
  const ids = new Set((await svc.records()).map((r) => r.id));
  const { unmountIfMounted } = require('../images/mount') as typeof import('../images/mount');
  for (const m of leftoverMounts(engine, ids).sort().reverse()) await unmountIfMounted(m);
  for (const c of leftoverCgroups(engine, ids)) {
    try {
      for (const p of readFileSync(`${c}/cgroup.procs`, 'utf8').split('\n').filter(Boolean)) try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ }
    } catch { /* no procs file */ }
    for (let i = 0; i < 20; i++) {
      try { await rmdir(c); break; } catch { await new Promise((r) => setTimeout(r, 50)); }
    }
    res.removed.push(c);
  }
  for (const s of await strayContainerSnapshots(engine, ids)) {
    try {
      await engine.storage(s.driver).remove(s.key);
      res.removed.push(`${s.driver}:${s.key}`);
    } catch { /* in use by a child, or gone meanwhile */ }
  }
  let dirs: string[] = [];
  try { dirs = await readdir(`${engine.root}/containers`); } catch { /* none */ }
  for (const d of dirs) {
    if (ids.has(d)) continue;
    await unmountIfMounted(`${engine.root}/containers/${d}/bundle/rootfs`);
    await rm(`${engine.root}/containers/${d}`, { recursive: true, force: true });
    res.removed.push(d);
  }
  // what a killed process left in the trash before its background remover ran
  const { emptyTrash, trashDir } = require('../store/trash') as typeof import('../store/trash');
  if (emptyTrash(trashDir(engine.root)) > 0) res.removed.push(trashDir(engine.root));
  // names whose container is gone
  const meta = engine.metadata;
  for (const { key, value } of await meta.list<string>(NAMES_BUCKET).catch(() => [])) {
    if (!ids.has(value)) await meta.delete(NAMES_BUCKET, key).catch(() => undefined);
  }
  return res;
}

registerMaintainer({ name: 'containers', order: 10, df, check, prune });
