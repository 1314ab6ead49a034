/**
 * Contract: image transports (`berth.transport.v1`): how manifests and blobs move between a
 * remote (an OCI Distribution registry, or anything speaking like one) and berth.
 *
 * Vocabulary
 * - *repository name*: the normalised `domain/path` of a reference (`docker.io/library/ubuntu`,
 *   `127.0.0.1:5000/app`); see core/images/reference.ts. A transport only sees normalised names.
 * - *descriptor*: `{mediaType, digest, size}` (+ `platform`, `urls`, `annotations`).
 * - *session*: a transport opened on one repository for some actions (`pull`, `push`). It owns the
 *   authentication state (a Bearer token cached per scope, or Basic credentials), the endpoint
 *   choice (mirrors first for pulls, plain HTTP for insecure registries) and connection reuse.
 * - *credentials*: looked up per registry host through a `CredentialLookup` the caller hands in
 *   (core/images/auth.ts reads Docker's config.json); the transport never reads files itself.
 * - *manifest fetch*: by tag or digest; the transport returns the exact bytes and a descriptor
 *   whose digest is the sha256 of those bytes. When asked by digest, a mismatch is an error.
 * - *blob fetch*: a byte stream; the CALLER verifies size and digest while consuming it (one pass
 *   over the bytes), so nothing unverified is ever stored.
 * - *push*: blobs first (`hasBlob` skip, cross-repository mount, monolithic or chunked upload),
 *   then the manifest under its tag.
 *
 * Lifecycle
 *   const t = transports.find((t) => t.handles('127.0.0.1:5000/app'));
 *   const s = t.open('127.0.0.1:5000/app', { actions: ['pull'], credentials });
 *   const { descriptor, bytes } = await s.getManifest('latest');
 *   const body = await s.fetchBlob(layerDescriptor, { offset: resumedBytes });
 *   … verify while reading …
 *   s.close();
 *
 * Errors (predeclared here so every transport reports the same codes):
 * ERR_REGISTRY_UNAUTHORIZED (unauthorized), ERR_REGISTRY_DENIED (forbidden),
 * ERR_REGISTRY_NOT_FOUND (notFound: manifest or blob unknown), ERR_REGISTRY_UNAVAILABLE
 * (unavailable: cannot connect, 5xx after retries, 429), ERR_REGISTRY_PROTOCOL (internal: a
 * response that breaks the protocol).
 */
import { defineError } from '../errors';

export const ERR_REGISTRY_UNAUTHORIZED = defineError('ERR_REGISTRY_UNAUTHORIZED', 'unauthorized', '%s: unauthorized: %s');
export const ERR_REGISTRY_DENIED = defineError('ERR_REGISTRY_DENIED', 'forbidden', '%s: denied: %s');
export const ERR_REGISTRY_NOT_FOUND = defineError('ERR_REGISTRY_NOT_FOUND', 'notFound', '%s: %s');
export const ERR_REGISTRY_UNAVAILABLE = defineError('ERR_REGISTRY_UNAVAILABLE', 'unavailable', '%s: %s');
export const ERR_REGISTRY_PROTOCOL = defineError('ERR_REGISTRY_PROTOCOL', 'internal', '%s: unexpected response: %s');
export const ERR_TRANSPORT_NONE = defineError('ERR_TRANSPORT_NONE', 'failedPrecondition', 'no image transport handles %s');

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string; variant?: string; 'os.version'?: string; 'os.features'?: string[] };
  artifactType?: string;
}

/** Credentials for one registry host, as Docker's config.json holds them. */
export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (`identitytoken`), exchanged at the token endpoint. */
  identityToken?: string;
}

/** Looks up the credentials for a registry host (`docker.io`, `127.0.0.1:5000`). */
export type CredentialLookup = (host: string) => Promise<Credentials | undefined>;

export interface OpenOptions {
  actions: Array<'pull' | 'push'>;
  credentials?: CredentialLookup;
  /** Extra repositories (normalised names) the session may need `pull` on (cross-repo mounts). */
  alsoPullFrom?: string[];
  /** Reach the registry over plain HTTP (`--insecure-registry`), whatever the configuration says. */
  insecure?: boolean;
}

export interface FetchOptions {
  signal?: AbortSignal;
  /** Resume: skip the first `offset` bytes (a Range request where supported). */
  offset?: number;
  /**
   * Buffers for the body, offered by a caller that gathers it into buffers of its own anyway
   * (the pull's 1 MiB pieces). A transport that can read the body straight into them calls
   * `alloc()` for each next buffer, fills it completely and emits that very object as a chunk
   * (the body's last bytes as a subarray of one); it never touches an emitted buffer again, so
   * the caller may keep a whole one without copying it. A transport may ignore this and emit
   * buffers of its own; the caller tells them apart by identity.
   */
  alloc?: () => Buffer;
}

export type PushBlobResult = 'exists' | 'mounted' | 'uploaded';

export interface PushBlobOptions {
  /** A repository (normalised name, same registry) that already holds the blob. */
  mountFrom?: string;
  onProgress?: (sentBytes: number) => void;
}

export interface RepositorySession {
  /** The repository this session is for. */
  readonly name: string;
  /** A manifest or index by tag or digest: the exact bytes and their descriptor. */
  getManifest(tagOrDigest: string): Promise<{ descriptor: Descriptor; bytes: Buffer }>;
  /** A blob's bytes from `opts.offset`; the caller verifies. */
  fetchBlob(desc: Descriptor, opts?: FetchOptions): Promise<NodeJS.ReadableStream>;
  hasBlob(desc: Descriptor): Promise<boolean>;
  /** Uploads a blob unless present; `open` is called (possibly more than once, for retries). */
  pushBlob(desc: Descriptor, open: () => NodeJS.ReadableStream, opts?: PushBlobOptions): Promise<PushBlobResult>;
  /** Stores a manifest under a tag (or its digest); returns its digest. */
  putManifest(tagOrDigest: string, mediaType: string, bytes: Buffer): Promise<string>;
  close(): void;
}

export interface ImageTransport {
  readonly name: string;
  /** True when this transport serves the repository's host. */
  handles(repoName: string): boolean;
  open(repoName: string, opts: OpenOptions): RepositorySession;
  /** Checks credentials against a registry host (`berth login`); throws ERR_REGISTRY_UNAUTHORIZED. */
  login(host: string, creds: Credentials): Promise<void>;
}
