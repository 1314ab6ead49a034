/**
 * An OCI Distribution (Docker Registry HTTP API v2) client: the `registry` image transport.
 *
 * Vocabulary
 * - *endpoint*: a base URL serving `/v2/` for a registry host. docker.io is served by
 *   `https://registry-1.docker.io`; a host listed in `registries.insecure` (and any loopback
 *   host, as Docker treats 127.0.0.0/8 as insecure) by `http://host`; any other by `https://host`.
 *   Pull sessions try the configured mirrors of the host first, then the host itself.
 * - *challenge*: the `WWW-Authenticate` header of a 401. `Bearer realm=…,service=…,scope=…`
 *   sends us to the token endpoint (with Basic credentials when we have some); `Basic realm=…`
 *   means the credentials go on every request. Tokens are cached per scope until they expire.
 * - *redirect*: blob GETs are often answered with 307 to a CDN. Redirects are followed (≤ 5) and
 *   the `Authorization` header is dropped when the host changes (pre-signed URLs refuse it).
 * - *retry*: connection errors, 5xx and 429 on idempotent requests are retried 3 times with
 *   exponential backoff (100 ms, 400 ms, 1.6 s; `Retry-After` honoured up to 5 s).
 *
 * Lifecycle
 *   const t = new RegistryTransport({ mirrors, insecure, chunkSize });
 *   const s = t.open('127.0.0.1:5000/app', { actions: ['pull'], credentials });
 *   const { bytes } = await s.getManifest('latest');  const body = await s.fetchBlob(desc);
 *   s.close();
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import {
  Credentials, Descriptor, ERR_REGISTRY_DENIED, ERR_REGISTRY_NOT_FOUND, ERR_REGISTRY_PROTOCOL,
  ERR_REGISTRY_UNAUTHORIZED, ERR_REGISTRY_UNAVAILABLE, FetchOptions, ImageTransport, OpenOptions, PushBlobOptions,
  PushBlobResult, RepositorySession,
} from '../../../core/contracts/image-transport';
import { BerthError } from '../../../core/errors';
import { directGet } from './direct-get';

export interface RegistryOptions {
  /** host → mirror base URLs (`http://127.0.0.1:5001`), tried in order for pulls. */
  mirrors?: Record<string, string[]>;
  /** Hosts (`host[:port]`) reached over plain HTTP. */
  insecure?: string[];
  /** Blobs larger than this are uploaded in PATCH chunks of `chunkSize`. */
  monolithicMax?: number;
  chunkSize?: number;
  retries?: number;
  /** Base delay of the exponential backoff, ms. */
  backoffMs?: number;
  timeoutMs?: number;
  userAgent?: string;
}

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export const DOCKER_HUB_API = 'registry-1.docker.io';
/**
 * Blobs from this size on are fetched with directGet when the caller offers buffers. directGet
 * opens a connection per blob (no keep-alive pool): from 8 MiB on, a TCP/TLS set-up is small next
 * to the transfer, and the CPU it saves grows with the size; smaller blobs keep node:http's pooled
 * connections (a registry far away would otherwise pay a handshake per small layer).
 */
const DIRECT_MIN = 8 << 20;

interface Challenge { scheme: string; params: Record<string, string> }

/** Parses `Bearer realm="…",service="…",scope="a,b"` (quoted values may hold commas). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2]!)) !== null) {
    if (p[0] === '') break;
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

function isLoopback(host: string): boolean {
  const h = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return h === 'localhost' || /^127\./.test(h) || h === '::1';
}

interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Readable;
  url: URL;
}

interface RequestSpec {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  /** Body factory (called again on retry). */
  body?: () => Buffer | NodeJS.ReadableStream;
  /** Do not follow redirects (uploads). */
  noRedirect?: boolean;
  idempotent?: boolean;
  signal?: AbortSignal;
  /** A GET whose body may be read straight into these buffers (direct-get.ts; FetchOptions.alloc). */
  alloc?: () => Buffer;
}

async function readAll(s: NodeJS.ReadableStream, max = 64 << 20): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of s as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) throw new Error(`response larger than ${max} bytes`);
    parts.push(c);
  }
  return Buffer.concat(parts);
}

function drain(res: Response): void {
  res.body.resume();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A registry error body `{errors:[{code,message}]}` as one line. */
async function errorText(res: Response): Promise<string> {
  let text = '';
  try {
    text = (await readAll(res.body, 1 << 20)).toString('utf8');
  } catch {
    /* ignore */
  }
  try {
    const j = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
    if (Array.isArray(j.errors) && j.errors.length) return j.errors.map((e) => `${(e.message ?? '').trim() || e.code}`).join('; ');
  } catch {
    /* not JSON */
  }
  return text.trim().slice(0, 300) || `HTTP ${res.status}`;
}

export class RegistryTransport implements ImageTransport {
  readonly name = 'registry';
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 8 });

  constructor(readonly opts: RegistryOptions = {}) {}

  handles(repoName: string): boolean {
    return repoName.includes('/');
  }

  /** Base URLs for `host`, mirrors first when `forPull`. */
  endpoints(host: string, forPull: boolean, forceInsecure = false): URL[] {
    const out: URL[] = [];
    if (forPull) for (const m of this.opts.mirrors?.[host] ?? []) out.push(new URL(/^https?:\/\//.test(m) ? m : `https://${m}`));
    const insecure = forceInsecure || (this.opts.insecure ?? []).includes(host) || isLoopback(host);
    const apiHost = host === 'docker.io' ? DOCKER_HUB_API : host;
    out.push(new URL(`${insecure ? 'http' : 'https'}://${apiHost}`));
    return out;
  }

  open(repoName: string, opts: OpenOptions): RepositorySession {
    return new RegistrySession(this, repoName, opts);
  }

  async login(host: string, creds: Credentials): Promise<void> {
    const s = new RegistrySession(this, `${host}/`, { actions: [], credentials: async () => creds });
    try {
      await s.ping(true);
    } finally {
      s.close();
    }
  }

  /** One HTTP exchange with redirects and retries; the caller consumes `body`. */
  async request(spec: RequestSpec): Promise<Response> {
    const retries = this.opts.retries ?? 3;
    const base = this.opts.backoffMs ?? 100;
    let attempt = 0;
    for (;;) {
      try {
        const res = await this.once(spec);
        if ((res.status >= 500 || res.status === 429) && spec.idempotent !== false && attempt < retries) {
          drain(res);
          const ra = Number(res.headers['retry-after']);
          await sleep(Number.isFinite(ra) && ra > 0 ? Math.min(ra * 1000, 5000) : base * 4 ** attempt);
          attempt++;
          continue;
        }
        return res;
      } catch (e) {
        if (spec.signal?.aborted) throw e;
        if (spec.idempotent === false || attempt >= retries || e instanceof BerthError) {
          if (e instanceof BerthError) throw e;
          throw ERR_REGISTRY_UNAVAILABLE.with({ cause: e }, spec.url.host, `${spec.method} ${spec.url.pathname}: ${(e as Error).message}`);
        }
        await sleep(base * 4 ** attempt);
        attempt++;
      }
    }
  }

  private async once(spec: RequestSpec): Promise<Response> {
    let url = spec.url;
    let headers = { ...(spec.headers ?? {}) };
    let method = spec.method;
    let body = spec.body;
    for (let hop = 0; ; hop++) {
      const res = method === 'GET' && spec.alloc && body === undefined
        ? { ...(await directGet(url, { headers: { 'User-Agent': this.opts.userAgent ?? 'berth/0.1.0', ...headers }, alloc: spec.alloc, timeoutMs: this.opts.timeoutMs ?? 30_000, ...(spec.signal ? { signal: spec.signal } : {}) })), url }
        : await this.raw(method, url, headers, body?.(), spec.signal);
      if (!spec.noRedirect && [301, 302, 303, 307, 308].includes(res.status) && res.headers.location) {
        drain(res);
        if (hop >= 5) throw ERR_REGISTRY_PROTOCOL(url.host, 'too many redirects');
        const next = new URL(res.headers.location, url);
        if (next.host !== url.host || next.protocol !== url.protocol) {
          // Never leak credentials to another host (pre-signed CDN URLs also refuse a second auth).
          delete headers.Authorization;
        }
        if (res.status === 303) {
          method = 'GET';
          body = undefined;
          headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'content-length' && k.toLowerCase() !== 'content-type'));
        }
        url = next;
        continue;
      }
      return res;
    }
  }

  private raw(method: string, url: URL, headers: Record<string, string>, body: Buffer | NodeJS.ReadableStream | undefined, signal?: AbortSignal): Promise<Response> {
    return new Promise((resolve, reject) => {
      const isHttps = url.protocol === 'https:';
      const req = (isHttps ? https : http).request(url, {
        method,
        headers: { 'User-Agent': this.opts.userAgent ?? 'berth/0.1.0', ...headers },
        agent: isHttps ? this.httpsAgent : this.httpAgent,
        timeout: this.opts.timeoutMs ?? 30_000,
        ...(signal ? { signal } : {}),
      });
      req.on('response', (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url }));
      req.on('timeout', () => req.destroy(new Error(`timeout after ${this.opts.timeoutMs ?? 30_000} ms`)));
      req.on('error', reject);
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        (body as NodeJS.ReadableStream).on('error', (e) => req.destroy(e));
        (body as NodeJS.ReadableStream).pipe(req);
      }
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

interface Token { value: string; expires: number }

class RegistrySession implements RepositorySession {
  readonly host: string;
  readonly path: string;
  private endpointList: URL[];
  private endpoint: URL;
  private challenge?: Challenge;
  private pinged = false;
  private readonly tokens = new Map<string, Token>();
  private creds?: Credentials | null;

  constructor(
    private readonly t: RegistryTransport,
    readonly name: string,
    private readonly opts: OpenOptions,
  ) {
    const i = name.indexOf('/');
    this.host = name.slice(0, i);
    this.path = name.slice(i + 1);
    this.endpointList = t.endpoints(this.host, !opts.actions.includes('push'), opts.insecure ?? false);
    this.endpoint = this.endpointList[0]!;
  }

  private async credentials(): Promise<Credentials | undefined> {
    if (this.creds === undefined) this.creds = (await this.opts.credentials?.(this.host)) ?? null;
    return this.creds ?? undefined;
  }

  private scopes(): string[] {
    const actions = this.opts.actions.includes('push') ? 'pull,push' : 'pull';
    const out = this.path ? [`repository:${this.path}:${actions}`] : [];
    for (const other of this.opts.alsoPullFrom ?? []) {
      const j = other.indexOf('/');
      if (other.slice(0, j) === this.host) out.push(`repository:${other.slice(j + 1)}:pull`);
    }
    return out;
  }

  /** GET /v2/ on each endpoint until one answers; learns the auth challenge. */
  async ping(requireAuth = false): Promise<void> {
    if (this.pinged && !requireAuth) return;
    let lastErr: unknown;
    for (const ep of this.endpointList) {
      try {
        const res = await this.t.request({ method: 'GET', url: new URL('/v2/', ep) });
        drain(res);
        if (res.status === 401) {
          const c = parseChallenge(String(res.headers['www-authenticate'] ?? ''));
          if (c) this.challenge = c;
        } else if (res.status !== 200) {
          throw ERR_REGISTRY_PROTOCOL(ep.host, `GET /v2/ answered ${res.status}`);
        }
        this.endpoint = ep;
        this.pinged = true;
        if (requireAuth && this.challenge) {
          // Prove the credentials work: for Bearer, a token must be issued; for Basic, /v2/ must accept them.
          const auth = await this.authorization(true);
          const again = await this.t.request({ method: 'GET', url: new URL('/v2/', ep), headers: auth ? { Authorization: auth } : {} });
          drain(again);
          if (again.status === 401) throw ERR_REGISTRY_UNAUTHORIZED(this.host, 'incorrect username or password');
          if (again.status !== 200) throw ERR_REGISTRY_PROTOCOL(this.host, `GET /v2/ answered ${again.status}`);
        }
        return;
      } catch (e) {
        lastErr = e;
        if (ERR_REGISTRY_UNAUTHORIZED.is(e)) throw e;
      }
    }
    throw lastErr;
  }

  private async authorization(force = false): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    const creds = await this.credentials();
    if (c.scheme === 'basic') {
      if (!creds?.username) return undefined;
      return `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
    }
    if (c.scheme !== 'bearer') return undefined;
    const scopes = this.scopes();
    const key = scopes.join(' ');
    const cached = this.tokens.get(key);
    if (!force && cached && cached.expires > Date.now()) return `Bearer ${cached.value}`;
    const realm = c.params.realm;
    if (!realm) throw ERR_REGISTRY_PROTOCOL(this.host, 'Bearer challenge without realm');
    const url = new URL(realm);
    if (c.params.service) url.searchParams.set('service', c.params.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    let res: Response;
    if (creds?.identityToken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'berth', service: c.params.service ?? '', scope: scopes.join(' ') });
      res = await this.t.request({ method: 'POST', url: new URL(realm), headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: () => Buffer.from(form.toString()) });
    } else {
      const headers: Record<string, string> = {};
      if (creds?.username) headers.Authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
      res = await this.t.request({ method: 'GET', url, headers });
    }
    if (res.status === 401 || res.status === 403) {
      const text = await errorText(res);
      throw ERR_REGISTRY_UNAUTHORIZED(this.host, creds?.username ? `incorrect username or password (${text})` : `authentication required (${text})`);
    }
    if (res.status !== 200) throw ERR_REGISTRY_PROTOCOL(this.host, `token endpoint answered ${res.status}: ${await errorText(res)}`);
    let j: { token?: string; access_token?: string; expires_in?: number };
    try {
      j = JSON.parse((await readAll(res.body, 1 << 20)).toString('utf8')) as typeof j;
    } catch (e) {
      throw ERR_REGISTRY_PROTOCOL.with({ cause: e }, this.host, 'token response is not JSON');
    }
    const value = j.token ?? j.access_token;
    if (typeof value !== 'string' || !value) throw ERR_REGISTRY_PROTOCOL(this.host, 'token response without token');
    const ttl = typeof j.expires_in === 'number' && j.expires_in > 0 ? j.expires_in : 60;
    this.tokens.set(key, { value, expires: Date.now() + Math.max(ttl - 10, 5) * 1000 });
    return `Bearer ${value}`;
  }

  /** A request against the session's endpoint with auth; re-authenticates once on 401. */
  private async call(spec: Omit<RequestSpec, 'url'> & { path: string }): Promise<Response> {
    await this.ping();
    const url = /^https?:\/\//.test(spec.path) ? new URL(spec.path) : new URL(spec.path, this.endpoint);
    for (let round = 0; ; round++) {
      const auth = await this.authorization(round > 0);
      const headers = { ...(spec.headers ?? {}), ...(auth ? { Authorization: auth } : {}) };
      const res = await this.t.request({ ...spec, url, headers });
      if (res.status === 401 && round === 0) {
        const c = parseChallenge(String(res.headers['www-authenticate'] ?? ''));
        drain(res);
        if (c) this.challenge = c;
        continue;
      }
      if (res.status === 401) {
        const text = await errorText(res);
        throw ERR_REGISTRY_UNAUTHORIZED(this.host, (await this.credentials())?.username ? `access to ${this.path} refused (${text})` : `authentication required (${text})`);
      }
      if (res.status === 403) throw ERR_REGISTRY_DENIED(this.host, await errorText(res));
      return res;
    }
  }

  async getManifest(tagOrDigest: string): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
    const res = await this.call({ method: 'GET', path: `/v2/${this.path}/manifests/${tagOrDigest}`, headers: { Accept: MANIFEST_ACCEPT } });
    if (res.status === 404) {
      const text = await errorText(res);
      throw ERR_REGISTRY_NOT_FOUND(this.host, `manifest for ${this.name}${tagOrDigest.includes(':') ? '@' : ':'}${tagOrDigest} not found: ${text}`);
    }
    if (res.status !== 200) throw ERR_REGISTRY_PROTOCOL(this.host, `GET manifest answered ${res.status}: ${await errorText(res)}`);
    const bytes = await readAll(res.body, 4 << 20);
    const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
    if (tagOrDigest.startsWith('sha256:') && digest !== tagOrDigest) {
      const { ERR_CONTENT_DIGEST_MISMATCH } = require('../../../core/store/content') as typeof import('../../../core/store/content');
      throw ERR_CONTENT_DIGEST_MISMATCH(`manifest ${this.name}`, tagOrDigest, digest);
    }
    const ct = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
    let mediaType = ct;
    try {
      const mt = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
      if (typeof mt === 'string') mediaType = mt;
    } catch {
      /* validated by the caller */
    }
    return { descriptor: { mediaType, digest, size: bytes.length }, bytes };
  }

  async fetchBlob(desc: Descriptor, opts: FetchOptions = {}): Promise<NodeJS.ReadableStream> {
    const offset = opts.offset ?? 0;
    const headers: Record<string, string> = {};
    if (offset > 0) headers.Range = `bytes=${offset}-`;
    // Large blobs: one connection each, the body read straight into the caller's buffers
    // (direct-get.ts); small ones share node:http's pooled connections.
    const direct = opts.alloc && desc.size - offset >= DIRECT_MIN ? { alloc: opts.alloc } : {};
    const res = await this.call({ method: 'GET', path: `/v2/${this.path}/blobs/${desc.digest}`, headers, ...direct, ...(opts.signal ? { signal: opts.signal } : {}) });
    if (res.status === 404) throw ERR_REGISTRY_NOT_FOUND(this.host, `blob ${desc.digest} of ${this.name} not found: ${await errorText(res)}`);
    if (res.status === 206 || (res.status === 200 && offset === 0)) return res.body;
    if (res.status === 200) {
      // The server ignored Range: skip what we already have.
      let skip = offset;
      const cut = new Transform({
        transform(chunk: Buffer, _e, cb) {
          if (skip >= chunk.length) {
            skip -= chunk.length;
            return cb();
          }
          const out = skip > 0 ? chunk.subarray(skip) : chunk;
          skip = 0;
          cb(null, out);
        },
      });
      res.body.on('error', (e) => cut.destroy(e));
      return res.body.pipe(cut);
    }
    if (res.status === 416 && offset > 0) {
      drain(res);
      return this.fetchBlob(desc, { ...opts, offset: 0 });
    }
    throw ERR_REGISTRY_PROTOCOL(this.host, `GET blob ${desc.digest} answered ${res.status}: ${await errorText(res)}`);
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    const res = await this.call({ method: 'HEAD', path: `/v2/${this.path}/blobs/${desc.digest}` });
    drain(res);
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw ERR_REGISTRY_PROTOCOL(this.host, `HEAD blob answered ${res.status}`);
  }

  private location(res: Response): string {
    const loc = res.headers.location;
    if (!loc) throw ERR_REGISTRY_PROTOCOL(this.host, `upload answered ${res.status} without Location`);
    return new URL(loc, res.url).toString();
  }

  private withDigest(loc: string, digest: string): string {
    const u = new URL(loc);
    u.searchParams.set('digest', digest);
    return u.toString();
  }

  async pushBlob(desc: Descriptor, open: () => NodeJS.ReadableStream, opts: PushBlobOptions = {}): Promise<PushBlobResult> {
    if (await this.hasBlob(desc)) return 'exists';
    let loc: string;
    if (opts.mountFrom && opts.mountFrom !== this.name && opts.mountFrom.startsWith(`${this.host}/`)) {
      const from = opts.mountFrom.slice(this.host.length + 1);
      const res = await this.call({ method: 'POST', path: `/v2/${this.path}/blobs/uploads/?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(from)}`, headers: { 'Content-Length': '0' }, idempotent: false, noRedirect: true });
      drain(res);
      if (res.status === 201) return 'mounted';
      if (res.status !== 202) throw ERR_REGISTRY_PROTOCOL(this.host, `mount answered ${res.status}`);
      loc = this.location(res);
    } else {
      const res = await this.call({ method: 'POST', path: `/v2/${this.path}/blobs/uploads/`, headers: { 'Content-Length': '0' }, idempotent: false, noRedirect: true });
      if (res.status !== 202) throw ERR_REGISTRY_PROTOCOL(this.host, `starting upload answered ${res.status}: ${await errorText(res)}`);
      drain(res);
      loc = this.location(res);
    }
    const max = this.t.opts.monolithicMax ?? 32 << 20;
    if (desc.size <= max) {
      const res = await this.call({
        method: 'PUT', path: this.withDigest(loc, desc.digest), idempotent: false, noRedirect: true,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(desc.size) },
        body: open,
      });
      if (res.status !== 201) throw ERR_REGISTRY_PROTOCOL(this.host, `PUT blob ${desc.digest} answered ${res.status}: ${await errorText(res)}`);
      drain(res);
      opts.onProgress?.(desc.size);
      return 'uploaded';
    }
    // Chunked: PATCH consecutive ranges, then PUT ?digest= with no body.
    const chunkSize = this.t.opts.chunkSize ?? 16 << 20;
    let sent = 0;
    let pending: Buffer[] = [];
    let pendingLen = 0;
    const flush = async () => {
      const chunk = Buffer.concat(pending, pendingLen);
      pending = [];
      pendingLen = 0;
      const res = await this.call({
        method: 'PATCH', path: loc, idempotent: false, noRedirect: true,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(chunk.length), 'Content-Range': `${sent}-${sent + chunk.length - 1}` },
        body: () => chunk,
      });
      if (res.status !== 202) throw ERR_REGISTRY_PROTOCOL(this.host, `PATCH chunk at ${sent} answered ${res.status}: ${await errorText(res)}`);
      drain(res);
      loc = this.location(res);
      sent += chunk.length;
      opts.onProgress?.(sent);
    };
    for await (const c of open() as AsyncIterable<Buffer>) {
      let buf = c;
      while (buf.length > 0) {
        const take = Math.min(buf.length, chunkSize - pendingLen);
        pending.push(buf.subarray(0, take));
        pendingLen += take;
        buf = buf.subarray(take);
        if (pendingLen === chunkSize) await flush();
      }
    }
    if (pendingLen > 0) await flush();
    const res = await this.call({ method: 'PUT', path: this.withDigest(loc, desc.digest), idempotent: false, noRedirect: true, headers: { 'Content-Length': '0' } });
    if (res.status !== 201) throw ERR_REGISTRY_PROTOCOL(this.host, `closing upload of ${desc.digest} answered ${res.status}: ${await errorText(res)}`);
    drain(res);
    return 'uploaded';
  }

  async putManifest(tagOrDigest: string, mediaType: string, bytes: Buffer): Promise<string> {
    const res = await this.call({
      method: 'PUT', path: `/v2/${this.path}/manifests/${tagOrDigest}`, idempotent: false,
      headers: { 'Content-Type': mediaType, 'Content-Length': String(bytes.length) }, body: () => bytes,
    });
    if (res.status !== 201 && res.status !== 200) throw ERR_REGISTRY_PROTOCOL(this.host, `PUT manifest answered ${res.status}: ${await errorText(res)}`);
    drain(res);
    return String(res.headers['docker-content-digest'] ?? '') || 'sha256:' + createHash('sha256').update(bytes).digest('hex');
  }

  close(): void {
    /* connections are pooled per transport */
  }
}
