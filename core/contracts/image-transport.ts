/**
 * Contract: image transports (`berth.transport.v1`): how manifests and blobs move between a
 * remote (an OCI Distribution registry, an archive) and the local content store.
 *
 * Vocabulary
 * - *reference*: `[host[:port]/]repo[:tag][@digest]`, normalised Docker-style
 *   (`ubuntu` = `docker.io/library/ubuntu:latest`).
 * - *descriptor*: `{mediaType, digest, size}` (+ `platform`, `urls`, `annotations`).
 * - *resolve*: reference → the top descriptor (an index, a manifest list or a manifest).
 * - *fetch*: descriptor → a byte stream, verified by the caller against the descriptor.
 * - *push*: blobs first (skipping those present, mounting across repositories when possible),
 *   then the manifest under its tag.
 *
 * Lifecycle
 *   const t = transports.find((t) => t.handles(ref));
 *   const top = await t.resolve(ref);  const body = await t.fetch(ref, top); …
 */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string; variant?: string; 'os.version'?: string };
}

export interface FetchOptions { signal?: AbortSignal; offset?: number }

export interface ImageTransport {
  readonly name: string;
  /** True when this transport serves the reference's scheme/host. */
  handles(ref: string): boolean;
  resolve(ref: string): Promise<Descriptor>;
  fetch(ref: string, desc: Descriptor, opts?: FetchOptions): Promise<NodeJS.ReadableStream>;
  push(ref: string, desc: Descriptor, open: () => NodeJS.ReadableStream): Promise<void>;
}
