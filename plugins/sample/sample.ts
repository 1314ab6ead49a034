/**
 * A volume driver keeping its volumes in memory and in a directory per volume: the smallest
 * complete implementation of contracts/volume.ts, for copying. Not part of the stock build.
 */
import { mkdir, rm } from 'node:fs/promises';
import type { Volume, VolumeDriver } from '../../core/contracts/volume';
import { defineError } from '../../core/errors';

// START: predeclare your errors with stable codes and a class.
export const ERR_SAMPLE_NOT_FOUND = defineError('ERR_SAMPLE_NOT_FOUND', 'notFound', 'no such volume: %s');
export const ERR_SAMPLE_IN_USE = defineError('ERR_SAMPLE_IN_USE', 'conflict', 'volume %s is in use');
export const ERR_SAMPLE_BAD_NAME = defineError('ERR_SAMPLE_BAD_NAME', 'invalidArgument', 'invalid volume name %s');
// END

class SampleVolume implements Volume {
  readonly callers = new Set<string>();
  private readonly created = new Date();
  constructor(private readonly volName: string, private readonly dir: string) {}
  name(): string { return this.volName; }
  driverName(): string { return 'sample'; }
  path(): string { return this.dir; }
  createdAt(): Date { return this.created; }
  status(): Record<string, unknown> { return { callers: [...this.callers] }; }
  async mount(callerId: string): Promise<string> { this.callers.add(callerId); return this.dir; }
  async unmount(callerId: string): Promise<void> { this.callers.delete(callerId); }
}

export class SampleDriver implements VolumeDriver {
  private readonly volumes = new Map<string, SampleVolume>();
  constructor(private readonly root: string) {}
  name(): string { return 'sample'; }
  scope(): 'local' { return 'local'; }

  async create(name: string): Promise<Volume> {
    // START: validate input and create the real thing.
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name)) throw ERR_SAMPLE_BAD_NAME(name);
    const existing = this.volumes.get(name);
    if (existing) return existing;
    const v = new SampleVolume(name, `${this.root}/${name}`);
    await mkdir(v.path(), { recursive: true });
    this.volumes.set(name, v);
    return v;
    // END
  }

  async get(name: string): Promise<Volume> {
    const v = this.volumes.get(name);
    if (!v) throw ERR_SAMPLE_NOT_FOUND(name);
    return v;
  }

  async list(): Promise<Volume[]> {
    return [...this.volumes.values()];
  }

  async remove(vol: Volume): Promise<void> {
    const v = this.volumes.get(vol.name());
    if (!v) throw ERR_SAMPLE_NOT_FOUND(vol.name());
    if (v.callers.size) throw ERR_SAMPLE_IN_USE(vol.name());
    await rm(v.path(), { recursive: true, force: true });
    this.volumes.delete(vol.name());
  }
}
