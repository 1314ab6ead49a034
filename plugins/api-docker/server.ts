/**
 * The Docker Engine API on a unix socket: `berth serve` runs one Engine for as long as it lives
 * and answers the requests the real `docker` CLI, docker-py, dockerode and docker-compose send,
 * so they can drive berth with `DOCKER_HOST=unix:///var/run/berth.sock`.
 *
 *   const api = await serveDockerApi(engine, { socket: '/var/run/berth.sock' });
 *   ...                      // docker -H unix:///var/run/berth.sock pull busybox
 *   await api.close();       // stops accepting, waits for the requests in progress
 *
 * What it serves today (the image half of the API; containers, networks, volumes and build come
 * with their own issues, and answer 501 with a message saying so):
 *   HEAD|GET /_ping, GET /version, GET /info, POST /auth (login check),
 *   POST /images/create (pull), GET /images/json, GET /images/{name}/json,
 *   GET /images/{name}/history, POST /images/{name}/tag, DELETE /images/{name},
 *   POST /images/prune, GET /images/{name}/get and /images/get (save), POST /images/load,
 *   POST /images/{name}/push.
 *
 * Conventions kept from moby (see ../shared/reference/api-surfaces.md §1.1–1.2):
 * - every path may carry a version prefix `/v1.NN/`; none means the newest. A version outside
 *   [MIN_API_VERSION, API_VERSION] is refused with 400 and moby's wording;
 * - every response carries `Api-Version`, `Ostype: linux`, `Server` and `Docker-Experimental`;
 * - errors are `{"message": "..."}` with the status of the error's class (core/errors.ts
 *   HTTP_STATUS: 404 not found, 409 conflict, 400 invalid argument, 501 not implemented, …);
 * - boolean query parameters: "", 0, no, false, none (any case) are false, anything else true;
 * - `filters` is URL-encoded JSON in the map form (`{"reference":{"bb":true}}`, the CLI's) or
 *   the list form (`{"reference":["bb"]}`, docker-py's and dockerode's);
 * - a streamed answer (pull) starts only with its first message: an error before it is an HTTP
 *   error, an error after it is a last `{"errorDetail":…,"error":…}` line (moby's WriteFlusher).
 *
 * Requests that change images (pull, tag, delete) run one at a time, in arrival order; reads do
 * not wait for them. The engine is the same one the CLI opens, so `berth` commands and the
 * server can share a state root (the stores lock across processes).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import { API_VERSION, VERSION } from '../../core/version';
import { defineError } from '../../core/errors';
import type { Engine } from '../../core/engine';
import { imageRoutes } from './images';
import { type ApiRequest, compareApiVersions, ERR_API_BAD_REQUEST, ERR_API_NOT_SERVED, type Route, sendError, sendJson } from './http';

export { compareApiVersions, queryBool, queryFilters } from './http';

export const MIN_API_VERSION = '1.24';

export const ERR_API_VERSION = defineError('ERR_API_VERSION_UNSUPPORTED', 'invalidArgument', 'client version %s is too %s. %s');
export const ERR_API_NO_ROUTE = defineError('ERR_API_NO_ROUTE', 'notFound', 'page not found');
export const ERR_API_SOCKET = defineError('ERR_API_SOCKET_IN_USE', 'conflict', 'cannot listen on %s: %s');

export interface DockerApiOptions {
  /** Path of the unix socket to listen on. An existing socket nobody answers on is replaced. */
  socket: string;
  /** One line per request (method, path, status, ms); none by default. */
  log?: (line: string) => void;
}

export interface DockerApiServer {
  /** `unix://<socket>`, what DOCKER_HOST takes. */
  readonly address: string;
  /** Stops listening, waits for the requests in progress, removes the socket file. */
  close(): Promise<void>;
}

function commonHeaders(res: http.ServerResponse): void {
  res.setHeader('Api-Version', API_VERSION);
  res.setHeader('Ostype', 'linux');
  res.setHeader('Server', `Berth/${VERSION} (linux)`);
  res.setHeader('Docker-Experimental', 'false');
}

/** The parts of the API that are not served yet, so a client gets a reason and not a 404. */
const LATER: Array<[RegExp, string]> = [
  [/^\/(containers|exec)(\/|$)/, 'containers over the Docker API come with the API server issue; use `berth run`, `berth ps`, `berth exec`'],
  [/^\/build(\/|$)/, 'image builds come with the build issue'],
  [/^\/(networks|volumes)(\/|$)/, 'networks and volumes come with their own issues'],
  [/^\/(images\/search|commit|events|system\/df|swarm|services|nodes|tasks|secrets|configs|plugins|session|distribution)(\/|$)/, 'not part of berth serve yet'],
];

function baseRoutes(): Route[] {
  const ping = async ({ res }: ApiRequest) => {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache', 'Builder-Version': '1', Swarm: 'inactive', 'Content-Length': 2 });
    res.end(res.req.method === 'HEAD' ? undefined : 'OK');
  };
  const versionDoc = () => {
    const { ociArch } = require('../host/linux/probe') as typeof import('../host/linux/probe');
    return {
      Platform: { Name: 'berth' },
      Components: [{ Name: 'Engine', Version: VERSION, Details: { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, GitCommit: '', GoVersion: process.version, Os: 'linux', Arch: ociArch(), KernelVersion: os.release(), Experimental: 'false', BuildTime: '' } }],
      Version: VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: '',
      GoVersion: process.version,
      Os: 'linux',
      Arch: ociArch(),
      KernelVersion: os.release(),
      BuildTime: '',
    };
  };
  return [
    { method: 'GET', pattern: /^\/_ping$/, handle: ping },
    { method: 'HEAD', pattern: /^\/_ping$/, handle: ping },
    { method: 'GET', pattern: /^\/version$/, handle: async ({ res }) => sendJson(res, 200, versionDoc()) },
    {
      method: 'GET',
      pattern: /^\/info$/,
      handle: async ({ res, engine }) => {
        const { imageService } = require('../../core/images/service') as typeof import('../../core/images/service');
        const images = await engine.use(imageService).list({ all: true });
        const { ociArch } = require('../host/linux/probe') as typeof import('../host/linux/probe');
        let driver: string;
        try {
          driver = engine.storage().name;
        } catch {
          driver = '';
        }
        sendJson(res, 200, {
          ID: '', Containers: 0, ContainersRunning: 0, ContainersPaused: 0, ContainersStopped: 0, Images: images.length,
          Driver: driver, DockerRootDir: engine.root, OSType: 'linux', OperatingSystem: 'berth', Architecture: ociArch(),
          KernelVersion: os.release(), NCPU: os.availableParallelism?.() ?? os.cpus().length, MemTotal: os.totalmem(),
          Name: os.hostname(), ServerVersion: VERSION, IndexServerAddress: 'https://index.docker.io/v1/', Labels: [], Warnings: [],
        });
      },
    },
  ];
}

/**
 * Starts serving `engine` on a unix socket. Rejects with ERR_API_SOCKET_IN_USE when another
 * server answers on that socket (a stale socket file is replaced).
 */
export async function serveDockerApi(engine: Engine, opts: DockerApiOptions): Promise<DockerApiServer> {
  const routes = [...baseRoutes(), ...imageRoutes()];
  let chain: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn);
    chain = run.catch(() => undefined);
    return run;
  };
  const server = http.createServer((req, res) => {
    const t0 = performance.now();
    commonHeaders(res);
    res.on('finish', () => opts.log?.(`${req.method} ${req.url} ${res.statusCode} ${(performance.now() - t0).toFixed(0)} ms`));
    void dispatch(req, res).catch((e: unknown) => sendError(res, e));
  });
  // A pull's answer streams for as long as the pull takes.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;

  async function dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://berth');
    let path = url.pathname;
    let version = API_VERSION;
    const m = /^\/v([0-9]+\.[0-9]+)(\/.*)$/.exec(path);
    if (m) {
      version = m[1]!;
      path = m[2]!;
      if (compareApiVersions(version, MIN_API_VERSION) < 0) throw ERR_API_VERSION(version, 'old', `Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
      if (compareApiVersions(version, API_VERSION) > 0) throw ERR_API_VERSION(version, 'new', `Maximum supported API version is ${API_VERSION}`);
    }
    for (const r of routes) {
      if (r.method !== req.method) continue;
      const pm = r.pattern.exec(path);
      if (!pm) continue;
      let params: string[];
      try {
        params = pm.slice(1).map((p) => (p === undefined ? '' : decodeURIComponent(p)));
      } catch {
        throw ERR_API_BAD_REQUEST(`malformed path ${JSON.stringify(path)}`);
      }
      await r.handle({ engine, req, res, version, params, query: url.searchParams, exclusive });
      return;
    }
    const later = LATER.find(([re]) => re.test(path));
    if (later) throw ERR_API_NOT_SERVED(`${req.method} ${path}`, later[1]);
    throw ERR_API_NO_ROUTE();
  }

  await listenUnix(server, opts.socket);
  return {
    address: `unix://${opts.socket}`,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await chain;
      fs.rmSync(opts.socket, { force: true });
    },
  };
}

/** Listens on `socket`, replacing a socket file nobody answers on (a server that died). */
async function listenUnix(server: http.Server, socket: string): Promise<void> {
  const tryListen = () =>
    new Promise<void>((resolve, reject) => {
      const onError = (e: Error) => {
        server.off('listening', onListening);
        reject(e);
      };
      const onListening = () => {
        server.off('error', onError);
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen(socket);
    });
  try {
    await tryListen();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw ERR_API_SOCKET.with({ cause: e }, socket, (e as Error).message);
    if (await answers(socket)) throw ERR_API_SOCKET(socket, 'another server is listening there');
    fs.rmSync(socket, { force: true });
    await tryListen().catch((e2: Error) => {
      throw ERR_API_SOCKET.with({ cause: e2 }, socket, e2.message);
    });
  }
  // Like /var/run/docker.sock: root and the socket's group only.
  fs.chmodSync(socket, 0o660);
}

function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const net = require('node:net') as typeof import('node:net');
    const c = net.connect(socket);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}
