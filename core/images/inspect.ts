/**
 * An image as Docker's `GET /images/{name}/json` shows it: what `berth image inspect` prints and
 * what the Docker Engine API server (plugins/api-docker) answers, from one function so the two
 * front ends cannot drift apart.
 *
 *   const doc = await inspectImage(engine, await images.stored('busybox:latest'));
 *   doc.Id, doc.RepoTags, doc.GraphDriver.Data.UpperDir, doc.RootFS.Layers
 *
 * `imageHistory(img)` is what `berth history` and `GET /images/{name}/history` show: the config's
 * history entries, newest first, each with the size of the layer it made (0 for empty ones).
 *
 * `GraphDriver.Data` comes from the storage driver's mounts of the top layer (overlay: LowerDir,
 * UpperDir, WorkDir; other drivers: Dir); a driver that is not loaded leaves it empty.
 */
import type { Engine } from '../engine';
import type { StoredImage } from './store';
import { isoTime } from '../time';

/** The storage driver's view of the image's top layer, as Docker's `GraphDriver.Data`. */
async function graphDriverData(engine: Engine, img: StoredImage): Promise<Record<string, string>> {
  let data: Record<string, string> = {};
  try {
    const d = engine.storage(img.storageDriver);
    const top = img.layers[img.layers.length - 1];
    if (top) {
      const m = await d.mounts(top.chainId);
      for (const o of m[0]?.options ?? []) {
        const [k, v] = o.split('=', 2) as [string, string | undefined];
        if (v !== undefined && ['lowerdir', 'upperdir', 'workdir'].includes(k)) data[k === 'lowerdir' ? 'LowerDir' : k === 'upperdir' ? 'UpperDir' : 'WorkDir'] = v;
      }
      if (!Object.keys(data).length && m[0]) data = { Dir: m[0].source };
    }
  } catch {
    /* driver unavailable: leave empty */
  }
  return data;
}

/** Docker's `GET /images/{name}/json` shape. */
export async function inspectImage(engine: Engine, img: StoredImage): Promise<Record<string, unknown>> {
  const c = img.config;
  return {
    Id: img.id,
    RepoTags: img.repoTags,
    RepoDigests: img.repoDigests,
    Parent: img.parent ?? '',
    Comment: c.history?.length ? (c.history[c.history.length - 1]!.comment ?? '') : '',
    Created: c.created ?? img.created,
    DockerVersion: (c.docker_version as string | undefined) ?? '',
    Author: c.author ?? '',
    Config: {
      Hostname: '', Domainname: '', User: c.config?.User ?? '', AttachStdin: false, AttachStdout: false, AttachStderr: false,
      ...(c.config?.ExposedPorts ? { ExposedPorts: c.config.ExposedPorts } : {}),
      Tty: false, OpenStdin: false, StdinOnce: false,
      Env: c.config?.Env ?? null,
      Cmd: c.config?.Cmd ?? null,
      ...(c.config?.Healthcheck ? { Healthcheck: c.config.Healthcheck } : {}),
      Image: '',
      Volumes: c.config?.Volumes ?? null,
      WorkingDir: c.config?.WorkingDir ?? '',
      Entrypoint: c.config?.Entrypoint ?? null,
      OnBuild: c.config?.OnBuild ?? null,
      Labels: c.config?.Labels ?? null,
      ...(c.config?.StopSignal ? { StopSignal: c.config.StopSignal } : {}),
      ...(c.config?.Shell ? { Shell: c.config.Shell } : {}),
    },
    Architecture: c.architecture,
    ...(c.variant ? { Variant: c.variant } : {}),
    Os: c.os,
    Size: img.size,
    GraphDriver: { Data: await graphDriverData(engine, img), Name: img.storageDriver },
    RootFS: { Type: 'layers', Layers: c.rootfs.diff_ids },
    Metadata: { LastTagTime: isoTime(img.stored) },
  };
}

/** One history entry of an image with the size of its layer and its time (ms; NaN if unknown). */
export interface HistoryRow { createdBy: string; comment: string; created: number; size: number }

/** The image's history, newest first; empty-layer entries have size 0. */
export function imageHistory(img: StoredImage): HistoryRow[] {
  let layer = 0;
  const rows = (img.config.history ?? []).map((h) => ({
    createdBy: h.created_by ?? '',
    comment: h.comment ?? '',
    created: Date.parse(h.created ?? img.created),
    size: h.empty_layer ? 0 : (img.layers[layer++]?.size ?? 0),
  }));
  return rows.reverse();
}
