import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Streams `data` through transform `tr` in `chunk`-byte writes and returns everything it output. */
export async function throughChunks(tr: NodeJS.ReadWriteStream, data: Buffer, chunk = 65536): Promise<Buffer> {
  const parts: Buffer[] = [];
  const chunks: Buffer[] = [];
  for (let o = 0; o < data.length; o += chunk) chunks.push(data.subarray(o, o + chunk));
  await pipeline(Readable.from(chunks), tr, new Writable({ write(c: Buffer, _e, cb) { parts.push(c); cb(); } }));
  return Buffer.concat(parts);
}
