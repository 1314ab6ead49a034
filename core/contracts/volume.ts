/**
 * Contract: volume drivers (`berth.volume.v1`), after moby's volume driver interface.
 *
 * Vocabulary
 * - *volume*: named storage that outlives containers. Anonymous volumes get a random name.
 * - *caller id*: who mounts a volume (a container id). `mount(callerId)` and `unmount(callerId)`
 *   pair up, so a driver can reference-count and mount once for many containers.
 * - *path*: where the volume's data is on the host while mounted; bind-mounted into containers.
 *
 * Lifecycle
 *   create(name, opts) → vol.mount(cid) → path → … → vol.unmount(cid) → remove(vol)
 *
 * `remove` of a volume still mounted by a caller is a conflict error. Drivers persist their
 * volumes across engine restarts; `list` and `get` see volumes created by other processes.
 */
export interface Volume {
  name(): string;
  driverName(): string;
  path(): string;
  mount(callerId: string): Promise<string>;
  unmount(callerId: string): Promise<void>;
  createdAt(): Date;
  status(): Record<string, unknown>;
}

export interface VolumeDriver {
  name(): string;
  create(name: string, opts: Record<string, string>, labels?: Record<string, string>): Promise<Volume>;
  remove(vol: Volume): Promise<void>;
  list(): Promise<Volume[]>;
  get(name: string): Promise<Volume>;
  scope(): 'local' | 'global';
}
