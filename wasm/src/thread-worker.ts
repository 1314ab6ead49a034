/**
 * Worker-thread side of wasm/src/thread.ts: runs one decoder (DecoderCore) and streams its output
 * back. Messages in: {t:'data', buf, final}, {t:'ack', n}. Out: {t:'out', buf}, {t:'consumed', n},
 * {t:'end'}, {t:'error', code, message}. Output is credit-based: the worker stops decoding while
 * more than OUT_CREDIT bytes are posted but not yet acknowledged by the main thread.
 */
import { parentPort } from 'node:worker_threads';
import { BerthError } from '../../core/errors';
import { DecoderCore } from './decoder';
import { newInflateCore, DeflateFormat } from './inflate';
import { newZstdCore } from './zstd';

export interface ThreadWorkerData {
  kind: DeflateFormat | 'zstd';
  maxOutputLength?: number;
  maxWindowSize?: number;
}

const OUT_CREDIT = 8 << 20;

function start(): void {
  const port = parentPort;
  if (!port) return;
  let core: DecoderCore | undefined;
  let queue: Array<{ buf: Uint8Array; final: boolean }> = [];
  let current: { buf: Uint8Array; final: boolean } | undefined;
  let outstanding = 0;
  let failed = false;
  const fail = (err: unknown): void => {
    failed = true;
    if (err instanceof BerthError) port.postMessage({ t: 'error', code: err.code, message: err.message });
    else port.postMessage({ t: 'error', code: 'ERR_WASM_ABORT', message: err instanceof Error ? err.message : String(err) });
  };
  /** A new stream: the same worker serves many streams, one after the other. */
  const init = (data: ThreadWorkerData): void => {
    queue = [];
    current = undefined;
    outstanding = 0;
    failed = false;
    core = undefined;
    try {
      const limits = { ...(data.maxOutputLength !== undefined ? { maxOutputLength: data.maxOutputLength } : {}) };
      core = data.kind === 'zstd'
        ? newZstdCore({ ...limits, ...(data.maxWindowSize !== undefined ? { maxWindowSize: data.maxWindowSize } : {}) })
        : newInflateCore(data.kind, limits);
    } catch (err) {
      fail(err);
    }
  };
  const emit = (b: Buffer): boolean => {
    // small Buffers live in Node's shared pool: copy those into an exact, transferable buffer
    const own = b.byteOffset === 0 && b.buffer.byteLength === b.length ? b : new Uint8Array(b);
    outstanding += own.length;
    port.postMessage({ t: 'out', buf: own.buffer }, [own.buffer as ArrayBuffer]);
    return outstanding < OUT_CREDIT;
  };
  const work = (): void => {
    if (failed || !core) return;
    try {
      for (;;) {
        if (!current) {
          current = queue.shift();
          if (!current) return;
          core.feed(current.buf, current.final);
        }
        if (!core.pump(emit)) return; // out of credit: resumed by an ack
        port.postMessage({ t: 'consumed', n: current.buf.length });
        const final = current.final;
        current = undefined;
        if (final) {
          core = undefined;
          port.postMessage({ t: 'end' });
          return;
        }
      }
    } catch (err) {
      fail(err);
    }
  };
  port.on('message', (m: { t: string; buf?: ArrayBuffer; final?: boolean; n?: number; data?: ThreadWorkerData }) => {
    if (m.t === 'init') {
      init(m.data!);
    } else if (m.t === 'data') {
      queue.push({ buf: new Uint8Array(m.buf!), final: m.final === true });
      if (queue.length === 1 && !current) work();
    } else if (m.t === 'ack') {
      const before = outstanding;
      outstanding -= m.n ?? 0;
      if (before >= OUT_CREDIT && outstanding < OUT_CREDIT) work();
    }
  });
}

start();
