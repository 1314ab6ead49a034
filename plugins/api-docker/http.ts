/**
 * What the Docker Engine API server's routes share (server.ts, images.ts): the request a handler
 * gets, the route record, moby's conventions for query values, and the JSON/error answers.
 */
import type * as http from 'node:http';
import type { Engine } from '../../core/engine';
import { BerthError, defineError, describeError, httpStatusOf } from '../../core/errors';

export const ERR_API_NOT_SERVED = defineError('ERR_API_NOT_SERVED', 'notImplemented', '%s is not served by berth serve yet: %s');
export const ERR_API_BAD_REQUEST = defineError('ERR_API_BAD_REQUEST', 'invalidArgument', '%s');

/** What a route handler gets: the parsed request, and the engine the server runs. */
export interface ApiRequest {
  engine: Engine;
  req: http.IncomingMessage;
  res: http.ServerResponse;
  /** The API version the client asked for (the path prefix), or the newest. */
  version: string;
  /** Path parameters captured by the route's pattern, in order, URL-decoded ('' for a group that did not take part). */
  params: string[];
  query: URLSearchParams;
  /** Runs `fn` after every earlier mutation has finished (pull, tag, delete). */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
}

/** One route: method, a pattern over the unversioned path, and the handler. */
export interface Route {
  method: 'GET' | 'HEAD' | 'POST' | 'DELETE' | 'PUT';
  pattern: RegExp;
  handle(r: ApiRequest): Promise<void>;
}

/** Compares two `major.minor` API versions numerically. */
export function compareApiVersions(a: string, b: string): number {
  const [am, an] = a.split('.').map(Number) as [number, number];
  const [bm, bn] = b.split('.').map(Number) as [number, number];
  return am !== bm ? am - bm : (an ?? 0) - (bn ?? 0);
}

/** moby's boolean query values: "", 0, no, false, none (any case) are false. */
export function queryBool(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null) return false;
  return !['', '0', 'no', 'false', 'none'].includes(v.toLowerCase());
}

/** `filters` in the map form or the list form, as name → values. */
export function queryFilters(q: URLSearchParams): Record<string, string[]> {
  const raw = q.get('filters');
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw ERR_API_BAD_REQUEST(`invalid filters ${JSON.stringify(raw)}: ${(e as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw ERR_API_BAD_REQUEST(`invalid filters ${JSON.stringify(raw)}: want a JSON object`);
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(v)) out[k] = v.map(String);
    else if (v !== null && typeof v === 'object') out[k] = Object.entries(v as Record<string, unknown>).filter(([, on]) => on === true).map(([name]) => name);
    else throw ERR_API_BAD_REQUEST(`invalid filter ${k}: want a list or a map of values`);
  }
  return out;
}

/** Answers `status` with a JSON body (unless HEAD). */
export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/** Answers an error the way moby does: `{"message"}` with the status of its class. */
export function sendError(res: http.ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy(err instanceof Error ? err : undefined);
    return;
  }
  sendJson(res, httpStatusOf(err), { message: err instanceof BerthError ? describeError(err) : err instanceof Error ? err.message : String(err) });
}

