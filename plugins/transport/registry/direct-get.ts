/**
 * A GET whose response body is read by the kernel straight into the caller's buffers: the blob
 * download path of the registry transport.
 *
 * Why: node:http hands a body over as one fresh Buffer per socket read (the HTTP parser copies
 * each read, ≈ 64 KiB), which the pull then copies again into its 1 MiB pieces. For the bench
 * image (85 MB of layers) that path cost ≈ 130–170 ms of CPU per pull plus the garbage collections
 * its allocations trigger; reading with `onread` into the pieces themselves cost ≈ 40 ms
 * (docs/decisions/032-registry-transport.md, "Blob bodies").
 *
 *   const res = await directGet(new URL('http://127.0.0.1:5000/v2/app/blobs/sha256:…'), {
 *     headers: { Authorization: 'Bearer …' }, alloc: () => Buffer.allocUnsafe(1 << 20), timeoutMs: 30_000,
 *   });
 *   res.status, res.headers          // as node:http gives them (lower-case names, repeats joined)
 *   for await (const chunk of res.body) …
 *
 * Body chunks: each buffer `alloc()` returned is filled completely, then emitted as it is (the
 * same object); the last one is emitted as a subarray of what the body filled. The caller owns
 * every emitted buffer. Bytes that arrived with the response head, and chunked bodies (whose
 * framing is interleaved with the data), are copied into the buffers instead.
 *
 * HTTP/1.1 as a client needs it for one GET: `Connection: close` (one connection per request: the
 * registry transport uses this for blobs of 8 MiB and more, where a connection's set-up is small
 * next to the transfer, and keeps node:http's pooled agent for everything else); interim 1xx answers are skipped; the body is framed by
 * `Content-Length`, `Transfer-Encoding: chunked` or the connection's end; 204/304 have none.
 * https uses tls.connect with SNI and the default CA store (NODE_EXTRA_CA_CERTS included), as
 * node:https does.
 *
 * Errors: connection failures and malformed heads reject the promise; after the head, a body cut
 * short (the connection ends or fails before `Content-Length` bytes or the last chunk), a
 * malformed chunk, an idle socket (`timeoutMs`) or an abort (`signal`) fail the body stream, after
 * the bytes that did arrive have been read from it (so a caller can resume after them).
 * Destroying the body closes the connection.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';

export interface DirectGetOptions {
  headers?: Record<string, string>;
  /** The next buffer to read the body into (never shorter than one byte). */
  alloc: () => Buffer;
  /** Socket idle time before the exchange fails, ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface DirectResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

/** The response head may not exceed this (node:http's default limit is 16 KiB). */
const MAX_HEAD = 64 << 10;
/** Buffers emitted but not yet read before the socket pauses. */
const HIGH_WATER = 4;
/** Where chunked bodies are read before their data is copied out. */
const SCRATCH = 64 << 10;

export class HttpProtocolError extends Error {}

/** Parses one response head (without the blank line). Throws HttpProtocolError when malformed. */
export function parseHead(text: string): { status: number; headers: IncomingHttpHeaders } {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]!);
  if (!m) throw new HttpProtocolError(`malformed status line ${JSON.stringify(lines[0]!.slice(0, 80))}`);
  const headers: Record<string, string | string[]> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const c = line.indexOf(':');
    if (c <= 0 || /[\s]/.test(line.slice(0, c))) throw new HttpProtocolError(`malformed header line ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, c).toLowerCase();
    const value = line.slice(c + 1).trim();
    const prev = headers[name];
    if (name === 'set-cookie') headers[name] = [...((prev as string[] | undefined) ?? []), value];
    else headers[name] = prev === undefined ? value : `${prev as string}, ${value}`;
  }
  return { status: Number(m[1]), headers: headers as IncomingHttpHeaders };
}

/** How a body is framed. */
type Framing = { kind: 'length'; left: number } | { kind: 'chunked' } | { kind: 'close' } | { kind: 'none' };

function framingOf(status: number, headers: IncomingHttpHeaders): Framing {
  if (status === 204 || status === 304) return { kind: 'none' };
  const te = headers['transfer-encoding'];
  if (te !== undefined) {
    const codings = String(te).toLowerCase().split(',').map((s) => s.trim());
    if (codings.length !== 1 || codings[0] !== 'chunked') throw new HttpProtocolError(`unsupported Transfer-Encoding ${JSON.stringify(te)}`);
    return { kind: 'chunked' };
  }
  const cl = headers['content-length'];
  if (cl !== undefined) {
    const values = new Set(String(cl).split(',').map((s) => s.trim()));
    const v = [...values][0]!;
    if (values.size !== 1 || !/^\d{1,15}$/.test(v)) throw new HttpProtocolError(`invalid Content-Length ${JSON.stringify(cl)}`);
    return Number(v) === 0 ? { kind: 'none' } : { kind: 'length', left: Number(v) };
  }
  return { kind: 'close' };
}

/**
 * Chunked transfer coding, decoded incrementally: `feed` takes raw bytes and calls `data` with the
 * payload parts; `done` is set after the last chunk and its trailers.
 */
class ChunkedDecoder {
  private state: 'size' | 'data' | 'data-crlf' | 'trailer' = 'size';
  private line = '';
  private left = 0;
  done = false;

  feed(buf: Buffer, data: (part: Buffer) => void): void {
    let i = 0;
    while (i < buf.length && !this.done) {
      if (this.state === 'data') {
        const n = Math.min(this.left, buf.length - i);
        data(buf.subarray(i, i + n));
        i += n;
        this.left -= n;
        if (this.left === 0) this.state = 'data-crlf';
        continue;
      }
      // a line: a chunk size, the CRLF after a chunk's data, or a trailer line
      const nl = buf.indexOf(10, i);
      const end = nl < 0 ? buf.length : nl;
      this.line += buf.toString('latin1', i, end);
      if (this.line.length > 4096) throw new HttpProtocolError('chunk framing line too long');
      i = end;
      if (nl < 0) break;
      i++;
      const line = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line;
      this.line = '';
      if (this.state === 'data-crlf') {
        if (line !== '') throw new HttpProtocolError('chunk data longer than its size');
        this.state = 'size';
      } else if (this.state === 'size') {
        const m = /^([0-9a-fA-F]{1,12})(?:[ \t]*;.*)?$/.exec(line);
        if (!m) throw new HttpProtocolError(`malformed chunk size ${JSON.stringify(line.slice(0, 40))}`);
        this.left = parseInt(m[1]!, 16);
        this.state = this.left === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        this.done = true;
      }
    }
  }
}

/**
 * One GET over its own connection, the body read into `opts.alloc()` buffers (see the file
 * comment). Resolves once the response head has arrived.
 */
export function directGet(url: URL, opts: DirectGetOptions): Promise<DirectResponse> {
  const https = url.protocol === 'https:';
  if (!https && url.protocol !== 'http:') return Promise.reject(new Error(`unsupported protocol ${url.protocol}`));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || (https ? 443 : 80));
  const head = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`];
  for (const [k, v] of Object.entries(opts.headers ?? {})) {
    if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) return Promise.reject(new Error(`header ${k} holds a line break`));
    if (!/^(host|connection)$/i.test(k)) head.push(`${k}: ${v}`);
  }
  head.push('Connection: close', '', '');
  const request = Buffer.from(head.join('\r\n'), 'latin1');

  return new Promise<DirectResponse>((resolve, reject) => {
    let headBuf = Buffer.allocUnsafe(4096);
    let headUsed = 0;
    let framing: Framing | undefined;
    let chunked: ChunkedDecoder | undefined;
    let scratch: Buffer | undefined;
    let cur: Buffer | undefined;
    let curUsed = 0;
    let body: Readable | undefined;
    let finished = false;
    let settled = false;

    const fail = (e: Error) => {
      if (!settled) {
        settled = true;
        reject(e);
      } else if (body && !finished) {
        finished = true;
        // What arrived is handed out first (a caller resumes after it with a Range request);
        // the error follows once the reader has taken everything.
        if (cur && curUsed > 0) {
          const out = cur.subarray(0, curUsed);
          cur = undefined;
          body.push(out);
        }
        // (A timer that keeps the process alive: the reader may have nothing else pending.)
        const b = body;
        const failWhenRead = () => {
          if (b.destroyed) return;
          if (b.readableLength === 0) b.destroy(e);
          else setTimeout(failWhenRead, 2);
        };
        failWhenRead();
      }
      socket.destroy();
    };
    const emitCurrent = () => {
      if (!cur || curUsed === 0) return;
      const out = curUsed === cur.length ? cur : cur.subarray(0, curUsed);
      cur = undefined;
      curUsed = 0;
      if (!body!.push(out)) socket.pause();
    };
    const finish = () => {
      if (finished) return;
      finished = true;
      emitCurrent();
      body!.push(null);
      socket.destroy();
    };
    /** Copies payload bytes into the caller's buffers (bytes that came with the head, chunked data). */
    const copyIn = (part: Buffer) => {
      let off = 0;
      while (off < part.length) {
        cur ??= opts.alloc();
        const n = Math.min(part.length - off, cur.length - curUsed);
        part.copy(cur, curUsed, off, off + n);
        curUsed += n;
        off += n;
        if (curUsed === cur.length) emitCurrent();
      }
    };
    /** Payload bytes that are now in `cur` (read into it directly). */
    const took = (n: number) => {
      curUsed += n;
      if (framing!.kind === 'length') framing!.left -= n;
      if (curUsed === cur!.length) emitCurrent();
      if (framing!.kind === 'length' && framing!.left === 0) finish();
    };
    const onBodyBytes = (buf: Buffer) => {
      // bytes read into the head buffer past the head, or into the scratch buffer (chunked)
      if (framing!.kind === 'chunked') {
        chunked!.feed(buf, copyIn);
        if (chunked!.done) finish();
      } else if (framing!.kind === 'length') {
        const n = Math.min(buf.length, framing!.left);
        copyIn(buf.subarray(0, n));
        framing!.left -= n;
        if (framing!.left === 0) finish();
      } else if (framing!.kind === 'close') {
        copyIn(buf);
      }
    };
    const onHeadBytes = (): void => {
      for (;;) {
        const end = headBuf.subarray(0, headUsed).indexOf('\r\n\r\n', 0, 'latin1');
        if (end < 0) {
          if (headUsed >= MAX_HEAD) throw new HttpProtocolError(`response head larger than ${MAX_HEAD} bytes`);
          return;
        }
        const parsed = parseHead(headBuf.toString('latin1', 0, end));
        const rest = headBuf.subarray(end + 4, headUsed);
        if (parsed.status >= 100 && parsed.status < 200) {
          // interim answer (100 Continue, 103 Early Hints): the real one follows
          headBuf = Buffer.from(rest);
          headUsed = headBuf.length;
          if (headBuf.length < 4096) headBuf = Buffer.concat([headBuf, Buffer.allocUnsafe(4096 - headBuf.length)]);
          continue;
        }
        framing = framingOf(parsed.status, parsed.headers);
        if (framing.kind === 'chunked') {
          chunked = new ChunkedDecoder();
          scratch = Buffer.allocUnsafe(SCRATCH);
        }
        body = new Readable({
          objectMode: true, // one chunk per read(): buffers are never concatenated
          highWaterMark: HIGH_WATER,
          read: () => {
            if (!finished && !socket.destroyed) socket.resume();
          },
          destroy: (err, cb) => {
            socket.destroy();
            cb(err);
          },
        });
        // A failure before anyone reads must not be an uncaught 'error': readers still get it
        // (an async iterator or stream.finished sees a stream that already failed).
        body.on('error', () => undefined);
        settled = true;
        resolve({ status: parsed.status, headers: parsed.headers, body });
        if (framing.kind === 'none') finish();
        else if (rest.length > 0) onBodyBytes(rest);
        return;
      }
    };

    const readTarget = (): Uint8Array => {
      if (!framing) {
        if (headUsed === headBuf.length) {
          const grown = Buffer.allocUnsafe(Math.min(headBuf.length * 2, MAX_HEAD + 4096));
          headBuf.copy(grown, 0, 0, headUsed);
          headBuf = grown;
        }
        return headBuf.subarray(headUsed);
      }
      // chunked framing is parsed out of the scratch buffer; after the body, reads are discarded there
      if (framing.kind === 'chunked' || finished) return scratch ?? (scratch = Buffer.allocUnsafe(SCRATCH));
      cur ??= opts.alloc();
      const room = cur.length - curUsed;
      return cur.subarray(curUsed, curUsed + (framing.kind === 'length' ? Math.min(room, framing.left) : room));
    };
    const onRead = (n: number, buf: Uint8Array): boolean => {
      try {
        if (finished) return true;
        if (!framing) {
          headUsed += n;
          onHeadBytes();
        } else if (framing.kind === 'chunked') {
          onBodyBytes(Buffer.from(buf.buffer, buf.byteOffset, n));
        } else if (framing.kind !== 'none') {
          took(n);
        }
      } catch (e) {
        fail(e as Error);
      }
      return true;
    };

    const connectOpts = { host, port, onread: { buffer: readTarget, callback: onRead } };
    const socket: net.Socket = https
      ? tls.connect({ ...connectOpts, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ['http/1.1'] })
      : net.connect(connectOpts);
    socket.once(https ? 'secureConnect' : 'connect', () => socket.write(request));
    socket.on('error', (e) => fail(e));
    socket.on('end', () => {
      if (!framing) return fail(new HttpProtocolError('connection closed before a complete response head'));
      if (framing.kind === 'close') return finish();
      if (!finished) fail(new Error(framing.kind === 'length' ? `connection closed with ${framing.left} body bytes missing` : 'connection closed inside a chunked body'));
    });
    socket.on('close', () => {
      if (!settled || !finished) fail(new Error(settled ? 'connection closed before the body ended' : 'connection closed before a response'));
    });
    if (opts.timeoutMs) socket.setTimeout(opts.timeoutMs, () => fail(new Error(`timeout after ${opts.timeoutMs} ms`)));
    if (opts.signal) {
      const onAbort = () => fail(opts.signal!.reason instanceof Error ? opts.signal!.reason : new Error('aborted'));
      if (opts.signal.aborted) return onAbort();
      opts.signal.addEventListener('abort', onAbort, { once: true });
      socket.once('close', () => opts.signal!.removeEventListener('abort', onAbort));
    }
  });
}
