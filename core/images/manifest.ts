/**
 * Manifests, indexes and image configs: media types, validation of what a registry or an archive
 * hands us, platform selection and chain ids.
 *
 * Vocabulary
 * - *index*: an OCI image index or a Docker manifest list: descriptors of manifests, one per
 *   platform (plus attestation manifests with platform unknown/unknown, which are never picked).
 * - *manifest*: Docker schema 2 or OCI: a config descriptor and layer descriptors.
 * - *config*: the image configuration JSON (`architecture`, `os`, `config{…}`, `rootfs.diff_ids`,
 *   `history`). The image id is the sha256 of its exact bytes.
 * - *diff id*: sha256 of a layer's uncompressed tar; *chain id*: `ChainID(L0) = DiffID(L0)`,
 *   `ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(n))` — the committed snapshot name.
 *
 * Everything is validated before anything is stored: a manifest that is not JSON, a media type we
 * do not know, a malformed digest, a negative size, a config whose diff_ids do not match its
 * layers — each is ERR_IMAGE_MANIFEST_INVALID (invalidArgument) with the reason. Schema 1
 * manifests are refused with ERR_IMAGE_SCHEMA1.
 */
import { createHash } from 'node:crypto';
import { defineError } from '../errors';
import type { Descriptor } from '../contracts/image-transport';

export const ERR_IMAGE_MANIFEST_INVALID = defineError('ERR_IMAGE_MANIFEST_INVALID', 'invalidArgument', 'invalid manifest %s: %s');
export const ERR_IMAGE_SCHEMA1 = defineError('ERR_IMAGE_SCHEMA1_UNSUPPORTED', 'notImplemented', '%s: Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Suggest the author of %s to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2');
export const ERR_IMAGE_NO_PLATFORM = defineError('ERR_IMAGE_NO_MATCHING_PLATFORM', 'notFound', 'no matching manifest for %s in the manifest list entries');
export const ERR_IMAGE_PLATFORM_INVALID = defineError('ERR_IMAGE_PLATFORM_INVALID', 'invalidArgument', 'invalid platform %s: want os/arch[/variant]');

export const MT = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNd: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNdGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNdZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeign: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  schema1: 'application/vnd.docker.distribution.manifest.v1+json',
  schema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

export const MANIFEST_ACCEPT = [MT.ociIndex, MT.ociManifest, MT.dockerList, MT.dockerManifest];

export type Compression = 'gzip' | 'zstd' | 'none';

/** How a layer media type is compressed, and whether it is foreign (not to be fetched/pushed). */
export function layerKind(mediaType: string): { compression: Compression; foreign: boolean } | undefined {
  switch (mediaType) {
    case MT.ociLayer: return { compression: 'none', foreign: false };
    case MT.ociLayerGzip: case MT.dockerLayer: return { compression: 'gzip', foreign: false };
    case MT.ociLayerZstd: return { compression: 'zstd', foreign: false };
    case MT.ociLayerNd: return { compression: 'none', foreign: true };
    case MT.ociLayerNdGzip: case MT.dockerForeign: return { compression: 'gzip', foreign: true };
    case MT.ociLayerNdZstd: return { compression: 'zstd', foreign: true };
    // `docker save` (≤ 24) tars and some tools label plain tars with the Docker layer type.
    case 'application/vnd.docker.image.rootfs.diff.tar': return { compression: 'none', foreign: false };
    default: return undefined;
  }
}

export interface Platform { os: string; architecture: string; variant?: string }

export interface OciImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  author?: string;
  config?: {
    User?: string;
    ExposedPorts?: Record<string, object>;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Volumes?: Record<string, object>;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
    Healthcheck?: unknown;
    OnBuild?: string[] | null;
    Shell?: string[];
    [k: string]: unknown;
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: Array<{ created?: string; created_by?: string; author?: string; comment?: string; empty_layer?: boolean }>;
  [k: string]: unknown;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function sha256Digest(data: Uint8Array | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256Digest(`${out[out.length - 1]} ${d}`));
  return out;
}

function bad(what: string, why: string): never {
  throw ERR_IMAGE_MANIFEST_INVALID(what, why);
}

export function validateDescriptor(d: unknown, where: string): Descriptor {
  if (typeof d !== 'object' || d === null) bad(where, 'descriptor is not an object');
  const x = d as Record<string, unknown>;
  if (typeof x.mediaType !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$/.test(x.mediaType)) bad(where, `bad mediaType ${JSON.stringify(x.mediaType)}`);
  if (typeof x.digest !== 'string' || !DIGEST_RE.test(x.digest)) bad(where, `bad digest ${JSON.stringify(x.digest)} (want sha256:<64 lowercase hex>)`);
  if (typeof x.size !== 'number' || !Number.isSafeInteger(x.size) || x.size < 0) bad(where, `bad size ${JSON.stringify(x.size)}`);
  if (x.urls !== undefined && (!Array.isArray(x.urls) || x.urls.some((u) => typeof u !== 'string'))) bad(where, 'urls must be a list of strings');
  return x as unknown as Descriptor;
}

export type Parsed =
  | { kind: 'index'; mediaType: string; index: ImageIndex }
  | { kind: 'manifest'; mediaType: string; manifest: ImageManifest };

/**
 * Parses manifest or index bytes. `contentType` is the registry's Content-Type header (or the
 * descriptor's media type); a `mediaType` field in the body must agree with it.
 */
export function parseManifest(bytes: Uint8Array, contentType: string | undefined, what: string): Parsed {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    bad(what, `not JSON: ${(e as Error).message}`);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) bad(what, 'not a JSON object');
  const ct = contentType?.split(';')[0]!.trim();
  if (j.schemaVersion === 1 || ct === MT.schema1 || ct === MT.schema1Signed) throw ERR_IMAGE_SCHEMA1(what, what);
  if (j.schemaVersion !== 2) bad(what, `schemaVersion ${JSON.stringify(j.schemaVersion)}, want 2`);
  const bodyType = typeof j.mediaType === 'string' ? j.mediaType : undefined;
  if (bodyType && ct && ct !== 'application/json' && ct !== 'application/octet-stream' && bodyType !== ct) bad(what, `mediaType ${bodyType} does not match Content-Type ${ct}`);
  let mt = bodyType ?? (ct && ct !== 'application/json' && ct !== 'application/octet-stream' ? ct : undefined);
  if (!mt) mt = Array.isArray(j.manifests) ? MT.ociIndex : MT.ociManifest;
  if (mt === MT.ociIndex || mt === MT.dockerList) {
    if (!Array.isArray(j.manifests)) bad(what, 'index without manifests');
    (j.manifests as unknown[]).forEach((d, i) => validateDescriptor(d, `${what} manifests[${i}]`));
    return { kind: 'index', mediaType: mt, index: j as unknown as ImageIndex };
  }
  if (mt === MT.ociManifest || mt === MT.dockerManifest) {
    const cfg = validateDescriptor(j.config, `${what} config`);
    if (!Array.isArray(j.layers)) bad(what, 'manifest without layers');
    (j.layers as unknown[]).forEach((d, i) => {
      const l = validateDescriptor(d, `${what} layers[${i}]`);
      if (!layerKind(l.mediaType)) bad(what, `layers[${i}]: unsupported layer media type ${l.mediaType}`);
    });
    if (cfg.mediaType !== MT.ociConfig && cfg.mediaType !== MT.dockerConfig) bad(what, `unsupported config media type ${cfg.mediaType} (not a container image)`);
    return { kind: 'manifest', mediaType: mt, manifest: j as unknown as ImageManifest };
  }
  bad(what, `unsupported media type ${mt}`);
}

/** Parses and validates an image config against its manifest's layers. */
export function parseConfig(bytes: Uint8Array, what: string, layerCount?: number): OciImageConfig {
  let j: OciImageConfig;
  try {
    j = JSON.parse(Buffer.from(bytes).toString('utf8')) as OciImageConfig;
  } catch (e) {
    bad(what, `config is not JSON: ${(e as Error).message}`);
  }
  if (typeof j !== 'object' || j === null) bad(what, 'config is not an object');
  if (typeof j.architecture !== 'string' || typeof j.os !== 'string') bad(what, 'config lacks architecture/os');
  if (!j.rootfs || j.rootfs.type !== 'layers' || !Array.isArray(j.rootfs.diff_ids)) bad(what, 'config lacks rootfs.diff_ids');
  j.rootfs.diff_ids.forEach((d, i) => {
    if (typeof d !== 'string' || !DIGEST_RE.test(d)) bad(what, `rootfs.diff_ids[${i}] is not a sha256 digest`);
  });
  if (layerCount !== undefined && j.rootfs.diff_ids.length !== layerCount) bad(what, `config has ${j.rootfs.diff_ids.length} diff_ids for ${layerCount} layers`);
  return j;
}

/** Node's arch names → OCI's. */
export function hostPlatform(): Platform {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  const architecture = map[process.arch] ?? process.arch;
  const p: Platform = { os: 'linux', architecture };
  if (architecture === 'arm64') p.variant = 'v8';
  if (architecture === 'arm') p.variant = 'v7';
  return p;
}

export function parsePlatform(s: string): Platform {
  const parts = s.toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9._-]+$/.test(p))) throw ERR_IMAGE_PLATFORM_INVALID(JSON.stringify(s));
  const p: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (p.architecture === 'x86_64' || p.architecture === 'x86-64') p.architecture = 'amd64';
  if (p.architecture === 'aarch64') p.architecture = 'arm64';
  if (parts[2]) p.variant = parts[2];
  return p;
}

export function platformString(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/**
 * Picks the manifest for `want` from an index: same os and architecture, the variant matching
 * when asked (arm64's `v8` matches an absent variant). Attestation entries are never picked.
 */
export function selectManifest(index: ImageIndex, want: Platform): Descriptor | undefined {
  const candidates = index.manifests.filter((d) => {
    const p = d.platform;
    if (!p) return false;
    if (d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') return false;
    if (p.os !== want.os || p.architecture !== want.architecture) return false;
    if (want.variant && p.variant && p.variant !== want.variant) return false;
    if (want.variant && !p.variant && !(want.architecture === 'arm64' && want.variant === 'v8')) return false;
    return true;
  });
  // Prefer an exact variant match.
  return candidates.find((d) => (d.platform?.variant ?? '') === (want.variant ?? '')) ?? candidates[0];
}
