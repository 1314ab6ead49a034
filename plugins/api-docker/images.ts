/**
 * The image routes of the Docker Engine API (server.ts): pull, push, list, inspect, history, tag,
 * delete, prune, save, load and the login check — the same operations the `berth` image commands
 * run (through the same core functions), answered in Docker's shapes
 * (../shared/reference/api-surfaces.md §1.7–1.8).
 *
 * Pull (`POST /images/create?fromImage=NAME&tag=TAG[&platform=os/arch]`) streams Docker's
 * JSON messages, one per line: `{"status":"Pulling from big","id":"latest"}`, per layer
 * `Pulling fs layer` / `Waiting` / `Downloading` (with progressDetail) / `Download complete` /
 * `Extracting` / `Pull complete` (or `Already exists`), then `Digest: …` and `Status: …`.
 * Byte progress is sent at most every 100 ms per layer (as dockerd does). Credentials come from
 * the `X-Registry-Auth` header (base64 JSON AuthConfig: username/password, auth, identitytoken),
 * as Docker's daemon takes them: the client reads its config.json, not the server; an empty
 * header (`e30=`, `{}`) means anonymous.
 */
import { type ApiRequest, ERR_API_BAD_REQUEST, ERR_API_NOT_SERVED, queryBool, queryFilters, type Route, sendJson } from './http';
import type { ImageRecord, ImageService } from '../../core/images/service';
import type { PullProgress } from '../../core/images/pull';
import type { CredentialLookup, Credentials } from '../../core/contracts/image-transport';

const images = (r: ApiRequest): ImageService => {
  const { imageService } = require('../../core/images/service') as typeof import('../../core/images/service');
  return r.engine.use(imageService);
};

/** The credentials in an `X-Registry-Auth` header, or undefined for anonymous. */
export function registryAuth(header: string | string[] | undefined): Credentials | undefined {
  const raw = Array.isArray(header) ? header[0] : header;
  if (!raw) return undefined;
  let cfg: Record<string, unknown>;
  try {
    // base64url as the CLI sends it; Node's base64 decoder takes both alphabets.
    cfg = JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw ERR_API_BAD_REQUEST(`invalid X-Registry-Auth header: ${(e as Error).message}`);
  }
  if (cfg === null || typeof cfg !== 'object') throw ERR_API_BAD_REQUEST('invalid X-Registry-Auth header: want a JSON object');
  const str = (k: string) => (typeof cfg[k] === 'string' && cfg[k] !== '' ? (cfg[k] as string) : undefined);
  let username = str('username');
  let password = str('password');
  const auth = str('auth');
  if (auth && (username === undefined || password === undefined)) {
    const plain = Buffer.from(auth, 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    if (colon > 0) {
      username = plain.slice(0, colon);
      password = plain.slice(colon + 1);
    }
  }
  const identityToken = str('identitytoken');
  if (username === undefined && password === undefined && identityToken === undefined) return undefined;
  return { ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}), ...(identityToken !== undefined ? { identityToken } : {}) };
}

/**
 * Pull or push progress as Docker's JSON messages on a response that starts with the first
 * message (so a pull failing before it still gets an HTTP error status).
 */
class JsonProgress implements PullProgress {
  started = false;
  private readonly lastSent = new Map<string, number>();
  constructor(private readonly res: ApiRequest['res']) {}

  send(msg: Record<string, unknown>): void {
    if (this.res.destroyed) return;
    if (!this.started) {
      this.started = true;
      this.res.writeHead(200, { 'Content-Type': 'application/json' });
    }
    this.res.write(`${JSON.stringify(msg)}\r\n`);
  }

  update(id: string, status: string, p?: { current?: number; total?: number }): void {
    if (p?.current !== undefined) {
      // Byte counts at most every 100 ms per layer, and always the last one.
      const now = performance.now();
      const done = p.total !== undefined && p.current >= p.total;
      if (!done && now - (this.lastSent.get(id) ?? -Infinity) < 100) return;
      this.lastSent.set(id, now);
    } else {
      this.lastSent.delete(id);
    }
    this.send({ status, progressDetail: p ? { ...(p.current !== undefined ? { current: p.current } : {}), ...(p.total !== undefined ? { total: p.total } : {}) } : {}, id });
  }

  line(text: string): void {
    // pull.ts prints Docker's CLI line `latest: Pulling from big`; the API carries it as id + status.
    const m = /^(\S+): (Pulling from .+)$/.exec(text);
    this.send(m ? { status: m[2], id: m[1] } : { status: text });
  }
}

/** Docker's `GET /images/json` item. */
function listItem(r: ImageRecord): Record<string, unknown> {
  const created = Date.parse(r.config.created ?? r.created);
  return {
    Id: r.id,
    ParentId: '',
    RepoTags: r.repoTags,
    RepoDigests: r.repoDigests,
    Created: Number.isFinite(created) ? Math.floor(created / 1000) : 0,
    Size: r.size,
    SharedSize: -1,
    VirtualSize: r.size,
    Labels: r.config.config?.Labels ?? {},
    Containers: -1,
  };
}

/** Runs `op` with a JSON progress stream as the answer (pull, push, load). */
async function streamed(r: ApiRequest, op: (progress: JsonProgress) => Promise<void>): Promise<void> {
  const progress = new JsonProgress(r.res);
  try {
    await op(progress);
  } catch (e) {
    if (!progress.started) throw e;
    const { describeError } = require('../../core/errors') as typeof import('../../core/errors');
    const message = describeError(e);
    progress.send({ errorDetail: { message }, error: message });
  }
  if (!progress.started) r.res.writeHead(200, { 'Content-Type': 'application/json' });
  r.res.end();
}

/** Docker's `GET /images/{name}/history` items, newest first: the id and tags on the newest. */
function historyItems(img: import('../../core/images/store').StoredImage): Array<Record<string, unknown>> {
  const { imageHistory } = require('../../core/images/inspect') as typeof import('../../core/images/inspect');
  return imageHistory(img).map((h, i) => ({
    Id: i === 0 ? img.id : '<missing>',
    Created: Number.isFinite(h.created) ? Math.floor(h.created / 1000) : 0,
    CreatedBy: h.createdBy,
    Tags: i === 0 ? img.repoTags : null,
    Size: h.size,
    Comment: h.comment,
  }));
}

/** A JSON request body, at most `limit` bytes. */
async function jsonBody(r: ApiRequest, limit = 64 << 10): Promise<Record<string, unknown>> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of r.req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) throw ERR_API_BAD_REQUEST(`request body larger than ${limit} bytes`);
    parts.push(c);
  }
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(parts).toString('utf8') || '{}');
  } catch (e) {
    throw ERR_API_BAD_REQUEST(`invalid JSON body: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw ERR_API_BAD_REQUEST('invalid JSON body: want an object');
  return v as Record<string, unknown>;
}

export function imageRoutes(): Route[] {
  return [
    {
      // docker login: the daemon checks the credentials against the registry; the CLI stores them.
      method: 'POST',
      pattern: /^\/auth$/,
      async handle(r) {
        const body = await jsonBody(r);
        const str = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : '');
        const { normalizeServer } = require('../../core/images/auth') as typeof import('../../core/images/auth');
        const server = normalizeServer(str('serveraddress'));
        const username = str('username');
        const password = str('password');
        if (!username || !password) throw ERR_API_BAD_REQUEST('username and password are required');
        const { pickTransport } = require('../../core/images/pull') as typeof import('../../core/images/pull');
        await pickTransport(r.engine, `${server}/x`).login(server, { username, password });
        sendJson(r.res, 200, { Status: 'Login Succeeded', IdentityToken: '' });
      },
    },
    {
      method: 'POST',
      pattern: /^\/images\/create$/,
      async handle(r) {
        const q = r.query;
        if (q.get('fromSrc') !== null) throw ERR_API_NOT_SERVED('POST /images/create?fromSrc', 'import a root filesystem with `berth import`');
        const from = q.get('fromImage');
        if (!from) throw ERR_API_BAD_REQUEST('fromImage is required');
        const tag = q.get('tag') ?? '';
        // `tag` may be a digest (docker pull NAME@sha256:…).
        const input = tag === '' ? from : /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$/.test(tag) ? `${from}@${tag}` : `${from}:${tag}`;
        const creds = registryAuth(r.req.headers['x-registry-auth']);
        const credentials: CredentialLookup = async () => creds;
        const platform = q.get('platform') || undefined;
        const { pullImage } = require('../../core/images/pull') as typeof import('../../core/images/pull');
        await streamed(r, async (progress) => {
          await r.exclusive(() => pullImage(r.engine, input, { progress, credentials, ...(platform ? { platform } : {}) }));
        });
      },
    },
    {
      method: 'GET',
      pattern: /^\/images\/json$/,
      async handle(r) {
        const list = await images(r).list({ all: queryBool(r.query, 'all'), filters: queryFilters(r.query) });
        sendJson(r.res, 200, list.map(listItem));
      },
    },
    {
      method: 'GET',
      pattern: /^\/images\/(.+)\/json$/,
      async handle(r) {
        const { inspectImage } = require('../../core/images/inspect') as typeof import('../../core/images/inspect');
        sendJson(r.res, 200, await inspectImage(r.engine, await images(r).stored(r.params[0]!)));
      },
    },
    {
      method: 'POST',
      pattern: /^\/images\/(.+)\/tag$/,
      async handle(r) {
        const repo = r.query.get('repo');
        if (!repo) throw ERR_API_BAD_REQUEST('repo is required');
        const tag = r.query.get('tag');
        await r.exclusive(() => images(r).tag(r.params[0]!, tag ? `${repo}:${tag}` : repo));
        r.res.writeHead(201, { 'Content-Length': 0 });
        r.res.end();
      },
    },
    {
      method: 'GET',
      pattern: /^\/images\/(.+)\/history$/,
      async handle(r) {
        sendJson(r.res, 200, historyItems(await images(r).stored(r.params[0]!)));
      },
    },
    {
      method: 'POST',
      pattern: /^\/images\/prune$/,
      async handle(r) {
        const filters = queryFilters(r.query);
        // `dangling=false` is the CLI's `--all`.
        const all = (filters.dangling ?? []).some((v) => ['false', '0'].includes(v.toLowerCase()));
        const { pruneImages } = require('../../core/images/prune') as typeof import('../../core/images/prune');
        const { dangling: _d, ...rest } = filters;
        const res = await r.exclusive(() => pruneImages(r.engine, { all, filters: rest }));
        sendJson(r.res, 200, { ImagesDeleted: res.deleted.length ? res.deleted : null, SpaceReclaimed: res.reclaimed });
      },
    },
    {
      // docker save: `GET /images/{name}/get` for one, `GET /images/get?names=a&names=b` for several.
      method: 'GET',
      pattern: /^\/images\/(?:(.+)\/)?get$/,
      async handle(r) {
        const refs = r.params[0] ? [r.params[0]] : r.query.getAll('names');
        if (refs.length === 0) throw ERR_API_BAD_REQUEST('names is required');
        // Resolve every name before the answer starts, so a missing one is a 404.
        for (const ref of refs) await images(r).stored(ref);
        const { saveImages } = require('../../core/images/archive') as typeof import('../../core/images/archive');
        r.res.writeHead(200, { 'Content-Type': 'application/x-tar' });
        try {
          await saveImages(r.engine, refs, r.res);
        } catch (e) {
          r.res.destroy(e as Error);
          return;
        }
        r.res.end();
      },
    },
    {
      method: 'POST',
      pattern: /^\/images\/load$/,
      async handle(r) {
        const { loadImages } = require('../../core/images/archive') as typeof import('../../core/images/archive');
        const res = await r.exclusive(() => loadImages(r.engine, r.req));
        const lines = res.loaded.flatMap((l) => (l.tags.length ? l.tags.map((t) => `Loaded image: ${t}\n`) : [`Loaded image ID: ${l.id}\n`]));
        r.res.writeHead(200, { 'Content-Type': 'application/json' });
        r.res.end(lines.map((stream) => `${JSON.stringify({ stream })}\r\n`).join(''));
      },
    },
    {
      method: 'POST',
      pattern: /^\/images\/(.+)\/push$/,
      async handle(r) {
        const tag = r.query.get('tag');
        const input = tag ? `${r.params[0]!}:${tag}` : r.params[0]!;
        const creds = registryAuth(r.req.headers['x-registry-auth']);
        const { pushImage } = require('../../core/images/push') as typeof import('../../core/images/push');
        await streamed(r, async (progress) => {
          const res = await r.exclusive(() => pushImage(r.engine, input, { progress, credentials: async () => creds }));
          progress.send({ progressDetail: {}, aux: { Tag: res.tag, Digest: res.digest, Size: res.size } });
        });
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/images\/(.+)$/,
      async handle(r) {
        const out = await r.exclusive(() => images(r).remove(r.params[0]!, { force: queryBool(r.query, 'force') }));
        sendJson(r.res, 200, out);
      },
    },
  ];
}
