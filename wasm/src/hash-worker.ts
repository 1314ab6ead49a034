/**
 * Worker-thread side of wasm/src/hash-thread.ts: sha256 (node:crypto) of byte ranges of
 * SharedArrayBuffers, many streams at once, each hashed in the order its pieces arrive. The
 * pieces are not copied: the main thread posts references (a SharedArrayBuffer in a message is
 * shared, not cloned) and never writes a range again once posted.
 */
import { createHash, Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

/** A piece: `len` bytes at `off` of `buf`. */
export type HashPiece = [buf: SharedArrayBuffer, off: number, len: number];

/**
 * Main thread → worker. `end`: the stream's last pieces (its digest is posted back); `report`:
 * post the stream's progress once these pieces are hashed (a producer waits for it).
 */
export type ToHashWorker = { t: 'data'; id: number; pieces: HashPiece[]; end?: boolean; report?: boolean } | { t: 'drop'; id: number };

/**
 * Worker → main thread. `progress`: `n` bytes of stream `id` hashed so far (posted every
 * REPORT bytes and when the worker has nothing left to do); `digest`: the stream's sha256.
 */
export type FromHashWorker = { t: 'progress'; id: number; n: number } | { t: 'digest'; id: number; n: number; digest: Uint8Array } | { t: 'error'; id: number; message: string };

/** Hashed bytes between two progress reports of a stream. */
export const REPORT = 8 << 20;

function start(): void {
  const port = parentPort;
  if (!port) return;
  const streams = new Map<number, { h: Hash; n: number; reported: number }>();
  port.on('message', (m: ToHashWorker) => {
    if (m.t === 'drop') {
      streams.delete(m.id);
      return;
    }
    let s = streams.get(m.id);
    if (!s) streams.set(m.id, (s = { h: createHash('sha256'), n: 0, reported: 0 }));
    try {
      for (const [buf, off, len] of m.pieces) {
        s.h.update(new Uint8Array(buf, off, len));
        s.n += len;
      }
      if (m.end) {
        streams.delete(m.id);
        port.postMessage({ t: 'digest', id: m.id, n: s.n, digest: s.h.digest() } satisfies FromHashWorker);
      } else if (m.report || s.n - s.reported >= REPORT) {
        s.reported = s.n;
        port.postMessage({ t: 'progress', id: m.id, n: s.n } satisfies FromHashWorker);
      }
    } catch (err) {
      streams.delete(m.id);
      port.postMessage({ t: 'error', id: m.id, message: err instanceof Error ? err.message : String(err) } satisfies FromHashWorker);
    }
  });
}

start();
