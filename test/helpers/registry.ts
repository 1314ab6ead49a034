/**
 * A real registry for tests: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 with a
 * temp storage dir, optionally behind a small Node reverse proxy that enforces authentication:
 *
 * - `auth: 'none'`   clients talk to the registry directly;
 * - `auth: 'basic'`  the proxy demands `Authorization: Basic` (user/password given) — Debian has
 *                    no htpasswd/bcrypt tool, so Basic is enforced by the proxy, not by the registry;
 * - `auth: 'token'`  the proxy answers 401 with `WWW-Authenticate: Bearer realm=…/token,service=…,
 *                    scope=repository:<name>:<actions>` and serves the token endpoint itself;
 *                    tokens are random, bound to the granted scopes, and checked on every request.
 *                    With `user`, the token endpoint demands Basic credentials.
 * - `redirectBlobs`  blob GETs are answered with 307 to another host name (`localhost` instead of
 *                    `127.0.0.1`) whose handler refuses requests that still carry Authorization —
 *                    as pre-signed CDN URLs do.
 * The proxy logs every request (`log`) so tests can assert on the protocol (PATCH, mount, scopes).
 *
 *   const reg = await startRegistry(t, { auth: 'token', user: 'u', password: 'p' });
 *   reg.host  // '127.0.0.1:PORT' — what image references use
 *   reg.storage  // the registry's storage dir (tests tamper blobs there)
 * Everything is stopped and removed in t.teardown.
 */
import { spawn, ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { tempRoot } from './cli';

export interface RegistryOptions {
  auth?: 'none' | 'basic' | 'token';
  user?: string;
  password?: string;
  redirectBlobs?: boolean;
  /** The first N blob GETs are answered 503 (to exercise retries). */
  flakyBlobs?: number;
  /** The first blob GET larger than 64 KiB is cut after 32 KiB (the socket is destroyed). */
  cutBlobOnce?: boolean;
}

export interface LoggedRequest { method: string; url: string; auth?: string; range?: string }

export interface TestRegistry {
  /** `127.0.0.1:PORT` of the endpoint clients use (the proxy when there is one). */
  host: string;
  /** The registry itself, bypassing the proxy. */
  directHost: string;
  storage: string;
  log: LoggedRequest[];
  /** Scopes the token endpoint granted, in order. */
  grantedScopes: string[];
  stop(): Promise<void>;
}

interface Teardownable { teardown(fn: () => unknown): void }

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(host: string, proc: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`docker-registry exited ${proc.exitCode}: ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get(`http://${host}/v2/`, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not start on ${host}: ${stderr()}`);
}

export async function startRegistry(t: Teardownable | undefined, opts: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-reg-'));
  const port = await freePort();
  const storage = join(dir, 'data');
  const directHost = `127.0.0.1:${port}`;
  await writeFile(join(dir, 'config.yml'), [
    'version: 0.1',
    'log: { level: error, accesslog: { disabled: true } }',
    `storage: { filesystem: { rootdirectory: ${storage} }, delete: { enabled: true }, cache: { blobdescriptor: "" } }`,
    `http: { addr: "${directHost}", secret: "${randomBytes(8).toString('hex')}" }`,
    '',
  ].join('\n'));
  // Its log goes to a file, not a pipe: a caller that blocks its event loop (a bench pushing with
  // spawnSync) would stop draining the pipe, and the registry would hang once the pipe is full.
  const logFile = join(dir, 'registry.log');
  const logFd = openSync(logFile, 'a');
  const proc = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', logFd] });
  closeSync(logFd);
  const err = (): string => {
    try {
      return readFileSync(logFile, 'utf8').slice(-8192);
    } catch {
      return '';
    }
  };
  const log: LoggedRequest[] = [];
  const grantedScopes: string[] = [];
  const servers: http.Server[] = [];
  const stop = async () => {
    for (const p of servers.splice(0)) {
      const closed = new Promise<void>((r) => p.close(() => r()));
      p.closeAllConnections?.();
      await closed;
    }
    if (proc.exitCode === null) {
      proc.kill('SIGKILL');
      await new Promise((r) => proc.once('exit', r));
    }
    await rm(dir, { recursive: true, force: true });
  };
  t?.teardown(stop);
  try {
    await waitReady(directHost, proc, err);
  } catch (e) {
    await stop();
    throw e;
  }
  const auth = opts.auth ?? 'none';
  let flaky = opts.flakyBlobs ?? 0;
  let cut = opts.cutBlobOnce ?? false;
  if (auth === 'none' && !opts.redirectBlobs && !flaky && !cut) {
    return { host: directHost, directHost, storage, log, grantedScopes, stop };
  }
  const proxyPort = await freePort();
  const host = `127.0.0.1:${proxyPort}`;
  const tokens = new Map<string, Set<string>>();
  const basicOk = (h: string | undefined) => h === `Basic ${Buffer.from(`${opts.user}:${opts.password}`).toString('base64')}`;
  const needed = (method: string, url: string): string | undefined => {
    const m = /^\/v2\/(.+?)\/(manifests|blobs|tags)\//.exec(url);
    if (!m) return undefined;
    const write = !['GET', 'HEAD'].includes(method);
    return `repository:${m[1]}:${write ? 'push' : 'pull'}`;
  };
  const forward = (req: http.IncomingMessage, res: http.ServerResponse, path: string) => {
    const up = http.request({ host: '127.0.0.1', port, method: req.method, path, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      const len = Number(ur.headers['content-length'] ?? 0);
      if (cut && req.method === 'GET' && /\/blobs\/sha256:/.test(path) && len > 65536) {
        cut = false;
        let sent = 0;
        ur.on('data', (c: Buffer) => {
          if (sent >= 32768) return;
          const part = c.subarray(0, 32768 - sent);
          sent += part.length;
          const last = sent >= 32768;
          res.write(part, () => {
            if (last) setTimeout(() => res.socket?.destroy(), 50);
          });
          if (last) ur.destroy();
        });
        return;
      }
      ur.pipe(res);
    });
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  };
  const proxy = http.createServer((req, res) => {
    const url = req.url ?? '/';
    log.push({ method: req.method ?? '', url, ...(req.headers.authorization ? { auth: req.headers.authorization } : {}), ...(req.headers.range ? { range: req.headers.range } : {}) });
    if (url.startsWith('/_cdn/')) {
      // The "CDN": refuses a request that still carries the registry's Authorization.
      if (req.headers.authorization) {
        res.writeHead(400, { 'Content-Type': 'text/plain' });
        res.end('Only one auth mechanism allowed');
        return;
      }
      forward(req, res, url.slice('/_cdn'.length));
      return;
    }
    if (url.startsWith('/token')) {
      const u = new URL(url, `http://${host}`);
      if (opts.user !== undefined && !basicOk(req.headers.authorization)) {
        res.writeHead(401, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
        return;
      }
      const scopes = u.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
      const granted = new Set<string>();
      for (const s of scopes) {
        const [type, name, actions] = s.split(':') as [string, string, string];
        for (const a of (actions ?? '').split(',')) granted.add(`${type}:${name}:${a}`);
        grantedScopes.push(s);
      }
      const token = randomBytes(16).toString('hex');
      tokens.set(token, granted);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
      return;
    }
    const need = needed(req.method ?? 'GET', url);
    if (auth === 'basic' && !basicOk(req.headers.authorization)) {
      req.resume();
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="berth-test"', 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return;
    }
    if (auth === 'token') {
      const h = req.headers.authorization ?? '';
      const granted = h.startsWith('Bearer ') ? tokens.get(h.slice(7)) : undefined;
      let ok = !!granted;
      let mountFrom: string | undefined;
      if (ok && need) ok = granted!.has(need);
      // A cross-repo mount also needs pull on the source repository.
      const mm = /[?&]from=([^&]+)/.exec(url);
      if (ok && mm && /[?&]mount=/.test(url)) {
        mountFrom = decodeURIComponent(mm[1]!);
        if (!granted!.has(`repository:${mountFrom}:pull`)) ok = false;
      }
      if (!ok) {
        req.resume();
        const scope = need ? `,scope="${need.replace(/:push$/, ':pull,push')}"` : '';
        res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://${host}/token",service="berth-test"${scope}`, 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
        return;
      }
    }
    if (flaky > 0 && req.method === 'GET' && /^\/v2\/.+\/blobs\/sha256:/.test(url)) {
      flaky--;
      req.resume();
      res.writeHead(503, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'try again' }] }));
      return;
    }
    if (opts.redirectBlobs && req.method === 'GET' && /^\/v2\/.+\/blobs\/sha256:/.test(url)) {
      req.resume();
      res.writeHead(307, { Location: `http://localhost:${proxyPort}/_cdn${url}` });
      res.end();
      return;
    }
    forward(req, res, url);
  });
  servers.push(proxy);
  await new Promise<void>((r) => proxy.listen(proxyPort, '127.0.0.1', () => r()));
  return { host, directHost, storage, log, grantedScopes, stop };
}

/** The registry's file for a blob (to tamper with it). */
export function blobDataPath(reg: TestRegistry, digest: string): string {
  const hex = digest.slice(7);
  return join(reg.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

/**
 * A token-auth registry plus a berth root whose config pushes in small PATCH chunks (monolithic
 * uploads only up to 1 KiB, 64 KiB chunks), and a scratch dir: the setup of the push tests.
 */
export async function chunkedPushSetup(t: Teardownable): Promise<{ reg: TestRegistry; root: string; config: string; dir: string }> {
  const reg = await startRegistry(t, { auth: 'token' });
  const root = await tempRoot(t);
  const config = join(await tempRoot(t, 'berth-cfg-'), 'config.yaml');
  await writeFile(config, 'plugins:\n  registry:\n    monolithic-max: 1024\n    chunk-size: 65536\n');
  const dir = await tempRoot(t, 'berth-tar-');
  return { reg, root, config, dir };
}
