/**
 * The `local` volume driver, as Docker's: each volume is a directory
 * `<dataDir>/volumes/<name>/_data`, or — with the options `type`, `device`, `o` — a filesystem
 * mounted there on first use (`type=tmpfs device=tmpfs o=size=64m`, or a bind of a host path with
 * `o=bind`). Records (labels, options, who mounted it) live in a metadata store inside the
 * plugin's data dir, so every berth process sees the same volumes.
 *
 * Reference counting: `mount(callerId)` adds the caller, `unmount(callerId)` removes it; the
 * filesystem (for option volumes) is mounted when the first caller arrives and unmounted when
 * the last leaves. Removing a volume that has callers is a conflict.
 */
import { mkdir, rm, stat } from 'node:fs/promises';
import type { Volume, VolumeDriver } from '../../../core/contracts/volume';
import { defineError } from '../../../core/errors';
import type { HostOps } from '../../../core/contracts/host';
import type { MetadataStore } from '../../../core/store/metadata';
import { isoTime } from '../../../core/time';

export const ERR_VOLUME_NOT_FOUND = defineError('ERR_VOLUME_NOT_FOUND', 'notFound', 'get %s: no such volume');
export const ERR_VOLUME_IN_USE = defineError('ERR_VOLUME_IN_USE', 'conflict', 'remove %s: volume is in use - [%s]');
export const ERR_VOLUME_INVALID_NAME = defineError('ERR_VOLUME_INVALID_NAME', 'invalidArgument', 'create %s: "%s" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path');
export const ERR_VOLUME_INVALID_OPTION = defineError('ERR_VOLUME_INVALID_OPTION', 'invalidArgument', 'create %s: invalid option %s (valid: type, device, o, size)');

interface VolumeRecord { name: string; createdAt: string; labels: Record<string, string>; options: Record<string, string>; callers: string[] }

const BUCKET = 'volumes';
const VALID_OPTS = new Set(['type', 'device', 'o', 'size']);

class LocalVolume implements Volume {
  constructor(private readonly driver: LocalDriver, private readonly rec: VolumeRecord) {}
  name(): string { return this.rec.name; }
  driverName(): string { return 'local'; }
  path(): string { return this.driver.dataPath(this.rec.name); }
  createdAt(): Date { return new Date(this.rec.createdAt); }
  status(): Record<string, unknown> { return { callers: [...this.rec.callers], options: { ...this.rec.options } }; }
  labels(): Record<string, string> { return { ...this.rec.labels }; }
  mount(callerId: string): Promise<string> { return this.driver.mountVolume(this.rec.name, callerId); }
  unmount(callerId: string): Promise<void> { return this.driver.unmountVolume(this.rec.name, callerId); }
}

export class LocalDriver implements VolumeDriver {
  constructor(private readonly dir: string, private readonly store: MetadataStore, private readonly host: HostOps) {}

  name(): string { return 'local'; }
  scope(): 'local' { return 'local'; }

  dataPath(name: string): string {
    return `${this.dir}/volumes/${name}/_data`;
  }

  async create(name: string, opts: Record<string, string> = {}, labels: Record<string, string> = {}): Promise<Volume> {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name)) throw ERR_VOLUME_INVALID_NAME(name, name);
    for (const k of Object.keys(opts)) if (!VALID_OPTS.has(k)) throw ERR_VOLUME_INVALID_OPTION(name, k);
    if (opts.size && !opts.type) opts = { type: 'tmpfs', device: 'tmpfs', o: `size=${opts.size}` };
    const rec = await this.store.update<VolumeRecord>(BUCKET, name, async (cur) => {
      // Docker: creating an existing volume with the same driver returns it unchanged.
      if (cur) return cur;
      await mkdir(this.dataPath(name), { recursive: true, mode: 0o755 });
      return { name, createdAt: isoTime(), labels: { ...labels }, options: { ...opts }, callers: [] };
    });
    return new LocalVolume(this, rec!);
  }

  async get(name: string): Promise<Volume> {
    const rec = await this.store.get<VolumeRecord>(BUCKET, name).catch(() => undefined);
    if (!rec) throw ERR_VOLUME_NOT_FOUND(name);
    return new LocalVolume(this, rec);
  }

  async list(): Promise<Volume[]> {
    return (await this.store.list<VolumeRecord>(BUCKET)).map((r) => new LocalVolume(this, r.value));
  }

  async remove(vol: Volume): Promise<void> {
    const name = vol.name();
    await this.store.update<VolumeRecord>(BUCKET, name, async (cur) => {
      if (!cur) throw ERR_VOLUME_NOT_FOUND(name);
      if (cur.callers.length) throw ERR_VOLUME_IN_USE(name, cur.callers.join(', '));
      await rm(`${this.dir}/volumes/${name}`, { recursive: true, force: true });
      return undefined;
    });
  }

  private async isMountPoint(path: string): Promise<boolean> {
    try {
      const [a, b] = await Promise.all([stat(path), stat(`${path}/..`)]);
      return a.dev !== b.dev;
    } catch {
      return false;
    }
  }

  async mountVolume(name: string, callerId: string): Promise<string> {
    const path = this.dataPath(name);
    await this.store.update<VolumeRecord>(BUCKET, name, async (cur) => {
      if (!cur) throw ERR_VOLUME_NOT_FOUND(name);
      if (cur.callers.includes(callerId)) return cur;
      if (cur.callers.length === 0 && cur.options.type && !(await this.isMountPoint(path))) {
        const args = ['-t', cur.options.type];
        if (cur.options.o) args.push('-o', cur.options.o);
        args.push(cur.options.device ?? cur.options.type, path);
        await this.host.exec('mount', args);
      }
      return { ...cur, callers: [...cur.callers, callerId] };
    });
    return path;
  }

  async unmountVolume(name: string, callerId: string): Promise<void> {
    const path = this.dataPath(name);
    await this.store.update<VolumeRecord>(BUCKET, name, async (cur) => {
      if (!cur) return undefined;
      const callers = cur.callers.filter((c) => c !== callerId);
      if (callers.length === 0 && cur.callers.length > 0 && cur.options.type && (await this.isMountPoint(path))) {
        await this.host.exec('umount', [path]);
      }
      return { ...cur, callers };
    });
  }
}
