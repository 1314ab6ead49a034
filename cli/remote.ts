/**
 * berth as a client of a running engine: `berth -H unix:///run/berth.sock pull busybox`, or
 * `BERTH_HOST=…`, as `docker -H` / `DOCKER_HOST`. The engine at the other end is `berth serve`
 * (plugins/api-docker) — or any server of the Docker Engine API, dockerd included — and this
 * module speaks that API: the same requests the docker CLI sends, the same JSON it gets back.
 *
 * Why a client at all: a daemonless `berth pull` pays Node's start, the plugins' boot, a fresh
 * isolate per apply worker and a cold JIT on every run; a running engine has paid them once.
 * The image commands served by `berth serve` therefore run there when a host is given, and print
 * exactly what they print daemonless (cli/commands/images-remote.ts; the differential test in
 * test/cli/remote.test.ts runs both against one state root). Commands the server does not serve
 * yet fail with ERR_REMOTE_NOT_SERVED instead of silently running on a local engine.
 *
 * Addresses (Docker's `-H` syntax): `unix:///path/to.sock`, a bare absolute socket path, or
 * `tcp://HOST:PORT` (plain HTTP; TLS is not spoken). Errors:
 * - the engine cannot be reached (no socket, refused): ERR_REMOTE_UNREACHABLE, exit 1 — Docker's
 *   "Cannot connect to the Docker daemon … Is the docker daemon running?";
 * - the engine answers an error: a BerthError with the code the server named in its message
 *   (`No such image: x (ERR_IMAGE_NOT_FOUND)`), else ERR_REMOTE_FAILED, classed by the HTTP
 *   status, so `describeError` and the exit code are those of the same failure daemonless;
 * - an answer that is not the API's shape: ERR_REMOTE_PROTOCOL.
 */
import * as http from 'node:http';
import { BerthError, defineError, type ErrorClass, HTTP_STATUS } from '../core/errors';

export const ERR_REMOTE_HOST_INVALID = defineError('ERR_REMOTE_HOST_INVALID', 'invalidArgument', 'invalid engine address %s: %s');
export const ERR_REMOTE_UNREACHABLE = defineError('ERR_REMOTE_UNREACHABLE', 'unavailable', 'Cannot connect to the berth engine at %s (%s). Is `berth serve` running?');
export const ERR_REMOTE_NOT_SERVED = defineError('ERR_REMOTE_NOT_SERVED', 'notImplemented', '`berth %s` is not served by the engine API yet: run it without -H/BERTH_HOST, on the engine\'s machine');
export const ERR_REMOTE_PROTOCOL = defineError('ERR_REMOTE_PROTOCOL', 'internal', 'the engine at %s answered %s: %s');
/** An error the engine reported without naming a berth code (dockerd does not). */
const REMOTE_FAILED = 'ERR_REMOTE_FAILED';

export interface EngineAddress {
  /** As given (`unix:///run/berth.sock`), for messages. */
  text: string;
  socketPath?: string;
  hostname?: string;
  port?: number;
}

/** Docker's `-H` syntax: `unix:///path`, `/path`, `tcp://host:port` (port 2375 by default). */
export function parseEngineAddress(text: string): EngineAddress {
  if (text.startsWith('/')) return { text, socketPath: text };
  const m = /^([a-z]+):\/\/(.*)$/.exec(text);
  if (!m) throw ERR_REMOTE_HOST_INVALID(text, 'want unix:///path/to/socket or tcp://host:port');
  const [, scheme, rest] = m as unknown as [string, string, string];
  if (scheme === 'unix') {
    if (!rest.startsWith('/')) throw ERR_REMOTE_HOST_INVALID(text, 'a unix socket path must be absolute (unix:///path)');
    return { text, socketPath: rest };
  }
  if (scheme === 'tcp' || scheme === 'http') {
    const hm = /^(\[[0-9a-fA-F:.]+\]|[^:/[\]]+)(?::(\d{1,5}))?\/?$/.exec(rest);
    if (!hm) throw ERR_REMOTE_HOST_INVALID(text, 'want tcp://host:port');
    const port = hm[2] === undefined ? 2375 : Number(hm[2]);
    if (port < 1 || port > 65535) throw ERR_REMOTE_HOST_INVALID(text, `port ${hm[2]} is out of range`);
    return { text, hostname: hm[1]!.replace(/^\[|\]$/g, ''), port };
  }
  throw ERR_REMOTE_HOST_INVALID(text, `the ${scheme}:// scheme is not supported (unix:// and tcp:// are)`);
}

const CLASS_OF_STATUS = new Map<number, ErrorClass>();
for (const [cls, status] of Object.entries(HTTP_STATUS) as Array<[ErrorClass, number]>) if (!CLASS_OF_STATUS.has(status)) CLASS_OF_STATUS.set(status, cls);
// 409 is also alreadyExists and failedPrecondition; "conflict" is what an engine's 409 says.
CLASS_OF_STATUS.set(409, 'conflict');

/**
 * The error an engine reported, as a BerthError: the code berth's server appends to its
 * messages (`… (ERR_X_Y)`) is taken back out of the text; the class follows the HTTP status.
 */
export function engineError(status: number, message: string): BerthError {
  const m = /\s*\((ERR_[A-Z0-9]+(?:_[A-Z0-9]+)+)\)$/.exec(message);
  const cls = CLASS_OF_STATUS.get(status) ?? (status >= 500 ? 'internal' : 'invalidArgument');
  return new BerthError(m ? m[1]! : REMOTE_FAILED, cls, m ? message.slice(0, m.index) : message, { details: { status } });
}

/** One message of a JSON progress stream (pull, push, load), as dockerd and berth serve send them. */
export interface JsonMessage {
  status?: string;
  id?: string;
  stream?: string;
  progressDetail?: { current?: number; total?: number };
  aux?: Record<string, unknown>;
  error?: string;
  errorDetail?: { message?: string; code?: number };
}

export interface RequestOptions {
  query?: Record<string, string | string[] | boolean | undefined>;
  headers?: Record<string, string>;
  /** A JSON body (serialised here) or a stream piped as the body. */
  json?: unknown;
  body?: NodeJS.ReadableStream;
}

export class EngineClient {
  constructor(readonly address: EngineAddress) {}

  /** Sends one request; resolves with the response whatever its status (see `checked`). */
  request(method: string, path: string, opts: RequestOptions = {}): Promise<http.IncomingMessage> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) qs.append(k, typeof one === 'boolean' ? (one ? '1' : '0') : one);
    }
    const q = qs.toString();
    const headers: Record<string, string> = { ...opts.headers };
    let payload: Buffer | undefined;
    if (opts.json !== undefined) {
      payload = Buffer.from(JSON.stringify(opts.json));
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    const a = this.address;
    return new Promise((resolve, reject) => {
      const req = http.request({
        method,
        path: q ? `${path}?${q}` : path,
        headers: { Host: a.socketPath ? 'berth' : `${a.hostname}:${a.port}`, ...headers },
        ...(a.socketPath ? { socketPath: a.socketPath } : { host: a.hostname, port: a.port }),
      }, resolve);
      req.on('error', (e: NodeJS.ErrnoException) => {
        // No answer at all: nothing listens there (a request cut mid-way surfaces on the response).
        reject(['ENOENT', 'ECONNREFUSED', 'EACCES', 'ENOTSOCK', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'].includes(e.code ?? '')
          ? ERR_REMOTE_UNREACHABLE.with({ cause: e }, a.text, e.code)
          : e);
      });
      if (opts.body) {
        opts.body.on('error', (e) => req.destroy(e));
        opts.body.pipe(req);
      } else {
        req.end(payload);
      }
    });
  }

  /** The response if its status is below 400; else its error, read from the body. */
  async checked(res: http.IncomingMessage): Promise<http.IncomingMessage> {
    const status = res.statusCode ?? 0;
    if (status < 400) return res;
    const text = (await readAll(res, 1 << 20))?.toString('utf8') ?? '';
    let message = text.trim();
    try {
      const body = JSON.parse(text) as { message?: unknown };
      if (typeof body.message === 'string') message = body.message;
    } catch {
      /* a proxy's plain-text answer: shown as it is */
    }
    throw engineError(status, message || `HTTP ${status}`);
  }

  /** A request whose answer is one JSON document. */
  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.checked(await this.request(method, path, opts));
    const body = await readAll(res, 64 << 20);
    if (body === undefined) throw ERR_REMOTE_PROTOCOL(this.address.text, `${method} ${path}`, 'an answer larger than 64 MiB');
    const text = body.toString('utf8');
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw ERR_REMOTE_PROTOCOL(this.address.text, `${method} ${path}`, `not JSON: ${(e as Error).message}`);
    }
  }

  /** A request whose answer carries no body worth reading (tag: 201). */
  async send(method: string, path: string, opts: RequestOptions = {}): Promise<void> {
    const res = await this.checked(await this.request(method, path, opts));
    res.resume();
    await new Promise<void>((resolve, reject) => res.on('end', resolve).on('error', reject));
  }

  /**
   * A request answered by a JSON progress stream: `onMessage` sees each message in order; a
   * message carrying `error` ends the stream as that error (the engine's code kept).
   */
  async stream(method: string, path: string, opts: RequestOptions, onMessage: (m: JsonMessage) => void): Promise<void> {
    const res = await this.checked(await this.request(method, path, opts));
    res.setEncoding('utf8');
    let buf = '';
    let failure: BerthError | undefined;
    const take = (line: string): void => {
      if (failure || line.trim() === '') return;
      let m: JsonMessage;
      try {
        m = JSON.parse(line) as JsonMessage;
      } catch (e) {
        failure = ERR_REMOTE_PROTOCOL(this.address.text, `${method} ${path}`, `a progress line is not JSON: ${(e as Error).message}`);
        return;
      }
      if (m.error !== undefined || m.errorDetail?.message !== undefined) {
        failure = engineError(500, m.errorDetail?.message ?? m.error ?? 'unknown error');
        return;
      }
      onMessage(m);
    };
    for await (const chunk of res as AsyncIterable<string>) {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        take(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    }
    take(buf);
    if (failure) throw failure;
  }
}

/** A whole response body, or undefined when it is longer than `limit` bytes (then dropped). */
async function readAll(res: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) {
      res.destroy();
      return undefined;
    }
    parts.push(c);
  }
  return Buffer.concat(parts);
}

/**
 * The `X-Registry-Auth` header for a registry host: the credentials this user's config.json (or
 * its credential helper) holds for it, as the docker CLI sends them — the engine never reads
 * the client's files. Undefined when there are none (an anonymous pull).
 */
export async function registryAuthHeader(host: string): Promise<Record<string, string>> {
  const { getCredentials, serverKey } = require('../core/images/auth') as typeof import('../core/images/auth');
  const c = await getCredentials(host);
  if (!c) return {};
  const cfg = c.identityToken !== undefined
    ? { identitytoken: c.identityToken, serveraddress: serverKey(host) }
    : { username: c.username ?? '', password: c.password ?? '', serveraddress: serverKey(host) };
  return { 'X-Registry-Auth': Buffer.from(JSON.stringify(cfg)).toString('base64url') };
}
