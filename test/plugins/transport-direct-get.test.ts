// plugins/transport/registry/direct-get.ts: the blob GET that reads its body straight into the
// caller's buffers. Real sockets against small servers written here (raw TCP where the framing
// must be exact), plus the registry transport's blob path against a real docker-registry behind
// the test proxy (token auth, a redirect to another host, a cut connection resumed with Range).
import t from 'tap';
import * as net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { directGet, parseHead, type DirectResponse } from '../../plugins/transport/registry/direct-get';
import { RegistryTransport } from '../../plugins/transport/registry/registry';
import { startRegistry } from '../helpers/registry';
import { tempRoot } from '../helpers/cli';
import { buildLayout, makeTar, pushLayout } from '../helpers/images';

type Teardown = { teardown(fn: () => unknown): void };

/** A TCP server that answers every connection with `answer(socket, request head)`. */
async function rawServer(t: Teardown, answer: (s: net.Socket, head: string) => void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let got = '';
    const onData = (c: Buffer) => {
      got += c.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      answer(s, got.slice(0, end));
    };
    s.on('data', onData);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => srv.close(() => r()));
  });
  return (srv.address() as net.AddressInfo).port;
}

/** Writes `parts` one by one with a pause between them (so they arrive as separate reads). */
async function dribble(s: net.Socket, parts: Array<Buffer | string>, gapMs = 5): Promise<void> {
  for (const p of parts) {
    if (s.destroyed) return;
    s.write(p);
    await new Promise((r) => setTimeout(r, gapMs));
  }
}

/** An allocator that records what it handed out. */
function allocator(size: number): { alloc: () => Buffer; given: Buffer[] } {
  const given: Buffer[] = [];
  return { given, alloc: () => { const b = Buffer.allocUnsafe(size); given.push(b); return b; } };
}

async function collect(res: DirectResponse): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of res.body as AsyncIterable<Buffer>) out.push(c);
  return out;
}

/** The error the body fails with, after the bytes it handed out before failing (`got`). */
async function bodyError(res: DirectResponse, got: Buffer[] = []): Promise<Error | undefined> {
  try {
    for await (const c of res.body as AsyncIterable<Buffer>) got.push(c);
    return undefined;
  } catch (e) {
    return e as Error;
  }
}

const url = (port: number, path = '/blob') => new URL(`http://127.0.0.1:${port}${path}`);

t.test('parseHead: status, lower-case names, repeats joined, malformed lines refused', async (t) => {
  const h = parseHead('HTTP/1.1 206 Partial Content\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\nSet-Cookie: a\r\nSet-Cookie: b');
  t.equal(h.status, 206);
  t.equal(h.headers['content-length'], '5');
  t.equal(h.headers['x-a'], '1, 2');
  t.same(h.headers['set-cookie'], ['a', 'b']);
  t.equal(parseHead('HTTP/1.0 200').status, 200, 'a status line without a reason');
  t.throws(() => parseHead('HTTP/2 200 OK'), /malformed status line/);
  t.throws(() => parseHead('HTTP/1.1 200 OK\r\nno colon here'), /malformed header line/);
  t.throws(() => parseHead('HTTP/1.1 200 OK\r\nBad Name: x'), /malformed header line/);
});

t.test('Content-Length body: whole buffers are the allocated objects, bytes exact across odd reads', async (t) => {
  const data = randomBytes(3 * 65536 + 777);
  let seen = '';
  const port = await rawServer(t, (s, head) => {
    seen = head;
    void dribble(s, [`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`, data.subarray(0, 10), data.subarray(10, 70000), data.subarray(70000)]);
  });
  const a = allocator(65536);
  const res = await directGet(url(port), { alloc: a.alloc, headers: { Authorization: 'Bearer x', 'User-Agent': 'berth-test' } });
  t.equal(res.status, 200);
  const chunks = await collect(res);
  t.same(Buffer.concat(chunks), data, 'the body, byte for byte');
  t.equal(chunks.length, 4, 'three whole buffers and the rest');
  for (let i = 0; i < 3; i++) t.equal(chunks[i], a.given[i], `chunk ${i} is the buffer alloc() returned (no copy)`);
  t.equal(chunks[3]!.buffer, a.given[3]!.buffer, 'the last chunk lies in the last buffer');
  t.match(seen, /^GET \/blob HTTP\/1\.1\r\n/);
  t.match(seen, /\r\nHost: 127\.0\.0\.1:\d+/);
  t.match(seen, /\r\nAuthorization: Bearer x/);
  t.match(seen, /\r\nConnection: close/);
});

t.test('bytes that arrive with the head, an interim 100, then the body', async (t) => {
  const port = await rawServer(t, (s) => {
    s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world');
  });
  const res = await directGet(url(port), { alloc: () => Buffer.allocUnsafe(4) });
  t.equal(res.status, 200);
  t.equal(Buffer.concat(await collect(res)).toString(), 'hello world');
});

t.test('chunked bodies: sizes, extensions and trailers, split at every byte', async (t) => {
  const payload = randomBytes(5000);
  const wire = Buffer.concat([
    Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'),
    Buffer.from('a;ext=1\r\n'), payload.subarray(0, 10), Buffer.from('\r\n'),
    Buffer.from(`${(4000).toString(16)}\r\n`), payload.subarray(10, 4010), Buffer.from('\r\n'),
    Buffer.from(`${(990).toString(16).toUpperCase()}\r\n`), payload.subarray(4010), Buffer.from('\r\n'),
    Buffer.from('0\r\nX-Trailer: t\r\n\r\n'),
  ]);
  for (const step of [1, 7, 4096, wire.length]) {
    const port = await rawServer(t, (s) => {
      const parts: Buffer[] = [];
      for (let i = 0; i < wire.length; i += step) parts.push(wire.subarray(i, i + step));
      void dribble(s, parts, step === 1 ? 0 : 2);
    });
    const res = await directGet(url(port), { alloc: () => Buffer.allocUnsafe(1024) });
    t.same(Buffer.concat(await collect(res)), payload, `chunked body written ${step} bytes at a time`);
  }
});

t.test('a body framed by the connection end; 204 and an empty Content-Length end at once', async (t) => {
  const port = await rawServer(t, (s) => {
    s.end('HTTP/1.0 200 OK\r\n\r\nuntil the end');
  });
  const res = await directGet(url(port), { alloc: () => Buffer.allocUnsafe(64) });
  t.equal(Buffer.concat(await collect(res)).toString(), 'until the end');
  for (const head of ['HTTP/1.1 204 No Content\r\n\r\n', 'HTTP/1.1 307 Temporary Redirect\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n']) {
    const p = await rawServer(t, (s) => s.write(head)); // the connection stays open: the framing must end the body
    const r = await directGet(url(p), { alloc: () => Buffer.allocUnsafe(64) });
    t.same(await collect(r), [], `no body for ${head.split('\r\n')[0]}`);
  }
});

t.test('bad answers: a clear error, never a hang', async (t) => {
  const cases: Array<{ name: string; wire: string; atHead?: RegExp; inBody?: RegExp }> = [
    { name: 'not HTTP', wire: 'SSH-2.0-OpenSSH\r\n\r\n', atHead: /malformed status line/ },
    { name: 'closed before the head ends', wire: 'HTTP/1.1 200 OK\r\nContent-Le', atHead: /before a complete response head|before a response/ },
    { name: 'two Content-Lengths', wire: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n', atHead: /invalid Content-Length/ },
    { name: 'gzip transfer coding', wire: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', atHead: /unsupported Transfer-Encoding/ },
    { name: 'a body cut short', wire: 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this', inBody: /body bytes missing|before the body ended/ },
    { name: 'a malformed chunk size', wire: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', inBody: /malformed chunk size/ },
    { name: 'chunk data longer than its size', wire: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n', inBody: /longer than its size/ },
    { name: 'a chunked body cut short', wire: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab', inBody: /inside a chunked body|before the body ended/ },
  ];
  for (const c of cases) {
    const port = await rawServer(t, (s) => s.end(c.wire));
    let res: DirectResponse | undefined;
    let err: Error | undefined;
    try {
      res = await directGet(url(port), { alloc: () => Buffer.allocUnsafe(64), timeoutMs: 5000 });
    } catch (e) {
      err = e as Error;
    }
    if (c.atHead) {
      t.match(err?.message, c.atHead, `${c.name}: the request fails`);
    } else {
      t.ok(res, `${c.name}: the head is accepted`);
      const got: Buffer[] = [];
      t.match((await bodyError(res!, got))?.message, c.inBody!, `${c.name}: the body fails`);
      if (c.name === 'a body cut short') t.equal(Buffer.concat(got).toString(), 'only this', 'what arrived is read before the error');
    }
  }
  // a head that never ends is refused once it passes 64 KiB
  const big = await rawServer(t, (s) => void dribble(s, ['HTTP/1.1 200 OK\r\n', ...Array.from({ length: 80 }, (_, i) => `X-${i}: ${'a'.repeat(1000)}\r\n`)], 0));
  await t.rejects(directGet(url(big), { alloc: () => Buffer.allocUnsafe(64) }), /response head larger than 65536 bytes/);
  // nobody listening
  const closed = await rawServer(t, () => undefined);
  const gone = net.createServer();
  await new Promise<void>((r) => gone.listen(0, '127.0.0.1', () => r()));
  const deadPort = (gone.address() as net.AddressInfo).port;
  await new Promise<void>((r) => gone.close(() => r()));
  await t.rejects(directGet(url(deadPort), { alloc: () => Buffer.allocUnsafe(64) }), { code: 'ECONNREFUSED' });
  // a line break smuggled into a header value is refused before anything is sent
  await t.rejects(directGet(url(closed), { alloc: () => Buffer.allocUnsafe(64), headers: { 'X-A': 'a\r\nX-B: b' } }), /line break/);
});

t.test('an idle server times out; an abort ends the body; both close the connection', async (t) => {
  let closedByClient = 0;
  const port = await rawServer(t, (s) => {
    s.on('close', () => closedByClient++);
    s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nsome'); // then nothing
  });
  const res = await directGet(url(port), { alloc: () => Buffer.allocUnsafe(64), timeoutMs: 200 });
  t.match((await bodyError(res))?.message, /timeout after 200 ms/);
  const ac = new AbortController();
  const res2 = await directGet(url(port), { alloc: () => Buffer.allocUnsafe(64), signal: ac.signal });
  setTimeout(() => ac.abort(new Error('stop now')), 50);
  t.match((await bodyError(res2))?.message, /stop now/);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(closedByClient, 2, 'both connections were closed');
  const pre = new AbortController();
  pre.abort(new Error('before'));
  await t.rejects(directGet(url(port), { alloc: () => Buffer.allocUnsafe(64), signal: pre.signal }), /before/);
});

t.test('a slow reader pauses the socket: few buffers wait, none are lost', async (t) => {
  const data = randomBytes(8 << 20);
  const port = await rawServer(t, (s) => {
    s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`);
    s.end(data);
  });
  const res = await directGet(url(port), { alloc: () => Buffer.allocUnsafe(64 << 10) });
  let most = 0;
  const hash = createHash('sha256');
  for await (const c of res.body as AsyncIterable<Buffer>) {
    most = Math.max(most, res.body.readableLength);
    hash.update(c);
    await new Promise((r) => setImmediate(r));
  }
  t.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
  t.ok(most <= 8, `at most a few buffers waited (${most})`);
});

t.test('https: the certificate is verified against the CA store (NODE_EXTRA_CA_CERTS included)', async (t) => {
  const dir = await tempRoot(t, 'berth-tls-');
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
  const body = randomBytes(300_000);
  const https = await import('node:https');
  const srv = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => {
    res.writeHead(200, { 'Content-Length': body.length });
    res.end(body);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())));
  const port = (srv.address() as net.AddressInfo).port;
  // This process's CA store does not hold the test CA: refused.
  await t.rejects(directGet(new URL(`https://localhost:${port}/b`), { alloc: () => Buffer.allocUnsafe(65536) }), /self[- ]signed|unable to verify|certificate/i);
  // A process started with NODE_EXTRA_CA_CERTS accepts it (the compiled module, as the CLI runs it).
  const mod = join(__dirname, '../../dist/plugins/transport/registry/direct-get.js');
  const script = join(dir, 'get.js');
  writeFileSync(script, `const { directGet } = require(${JSON.stringify(mod)});
directGet(new URL('https://localhost:${port}/b'), { alloc: () => Buffer.allocUnsafe(65536) }).then(async (r) => {
  const h = require('node:crypto').createHash('sha256');
  for await (const c of r.body) h.update(c);
  process.stdout.write(r.status + ' ' + h.digest('hex'));
}, (e) => { process.stdout.write('error ' + e.message); });`);
  // the server lives in this process: run the child without blocking the event loop
  const out = await new Promise<string>((resolve) => {
    const c = spawn(process.execPath, [script], { env: { ...process.env, NODE_EXTRA_CA_CERTS: cert, NODE_OPTIONS: '' } });
    let s = '';
    c.stdout.on('data', (d: Buffer) => (s += d.toString()));
    c.on('close', () => resolve(s));
  });
  t.equal(out, `200 ${createHash('sha256').update(body).digest('hex')}`);
});

t.test('the registry transport: large blobs into the caller buffers through token auth, a redirect, 503s and a cut', async (t) => {
  // 9 MB: above the transport's 8 MiB threshold for direct reads
  const layer = await makeTar([{ name: 'big', data: randomBytes(9_000_000) }]);
  for (const opts of [{ auth: 'token' as const, redirectBlobs: true }, { cutBlobOnce: true }, { flakyBlobs: 2 }]) {
    const reg = await startRegistry(t, opts);
    const dir = await tempRoot(t, 'berth-layout-');
    const { built } = await buildLayout(dir, 'latest', [{ layers: [layer], compression: 'none' }]);
    await pushLayout(dir, 'latest', `${reg.directHost}/direct/blob:latest`);
    const digest = built[0]!.layerDigests[0]!;
    const transport = new RegistryTransport();
    t.teardown(() => transport.close());
    const s = transport.open(`${reg.host}/direct/blob`, { actions: ['pull'] });
    const given = new WeakSet<Buffer>();
    const alloc = () => {
      const b = Buffer.allocUnsafe(1 << 20);
      given.add(b);
      return b;
    };
    const size = layer.length;
    // as the pull does: a cut connection is resumed with a Range request from what arrived
    const got: Buffer[] = [];
    let have = 0;
    for (let attempt = 0; have < size && attempt < 3; attempt++) {
      try {
        const body = await s.fetchBlob({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size }, { offset: have, alloc });
        for await (const c of body as AsyncIterable<Buffer>) {
          got.push(c);
          have += c.length;
        }
      } catch {
        /* resumed below */
      }
    }
    s.close();
    const all = Buffer.concat(got);
    t.equal(all.length, size, `${JSON.stringify(opts)}: the whole blob`);
    t.equal('sha256:' + createHash('sha256').update(all).digest('hex'), digest, `${JSON.stringify(opts)}: its digest`);
    t.ok(got.some((c) => given.has(c)), `${JSON.stringify(opts)}: whole buffers arrive as the caller's own`);
    if ('redirectBlobs' in opts) {
      const cdn = reg.log.filter((l) => l.url.startsWith('/_cdn/'));
      t.ok(cdn.length >= 1 && cdn.every((l) => !l.auth), 'fetched through the redirect, without Authorization');
    } else if ('cutBlobOnce' in opts) {
      t.ok(reg.log.some((l) => l.range === 'bytes=32768-'), 'resumed from the cut with a Range request');
    } else {
      t.equal(reg.log.filter((l) => l.method === 'GET' && l.url.includes('/blobs/')).length, 3, 'two 503s, retried, then the blob');
    }
  }
});
