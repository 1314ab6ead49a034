/**
 * A layer blob decompressed, hashed and applied on a worker thread: decompression, the tar's
 * sha256 (diff id), tar parsing and the file-creation syscalls of one layer run off the main
 * thread, so a pull applying several layers at once (DetachedApplier) uses several cores while the
 * main thread only downloads.
 *
 *   const r = await unpackThreaded(blobStream, 'gzip', layerDir, { whiteoutMode: 'overlay', detached: true });
 *   r.diffId, r.size, r.result   // sha256 of the tar, its length, applyLayer's result
 *
 * Errors as applyLayer and layers.ts give them: the same ERR_LAYER_* / ERR_IMAGE_DECOMPRESS_FAILED
 * codes (rebuilt from the worker's message); a failing source rejects with the source's error;
 * the source is destroyed on any other failure. Input is copied into 1 MiB transferred batches;
 * at most IN_FLIGHT bytes wait in the worker. One worker per call (a start costs ~20–40 ms, small
 * next to a layer), terminated when the apply ends.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { BerthError, type ErrorClass } from '../errors';
import { packageFile } from '../paths';
import type { ApplyResult } from '../contracts/storage';
import { ERR_LAYER_APPLY_FAILED, ERR_LAYER_CORRUPT, type ApplyOptions } from './apply';
import type { FromApplyWorker, ToApplyWorker } from './apply-worker';
import type { Compression } from './manifest';

const IN_FLIGHT = 8 << 20;
const BATCH = 1 << 20;

function workerScript(): { file: string | URL; eval: boolean } {
  const ts = __filename.endsWith('.ts');
  // Beside this file in a compiled tree; from the bundle (dist/berth.js) the compiled file in dist/core/images.
  const beside = path.join(__dirname, `apply-worker${ts ? '.ts' : '.js'}`);
  const file = ts || fs.existsSync(beside) ? beside : packageFile('dist', 'core', 'images', 'apply-worker.js');
  if (!ts) return { file, eval: false };
  // Under a TypeScript loader: ESM hooks (`--import`, as tap uses) reach workers by URL; a
  // CommonJS require hook needs require().
  if (process.execArgv.some((a) => a.startsWith('--import') || a.startsWith('--loader') || a.startsWith('--experimental-loader'))) {
    return { file: pathToFileURL(file), eval: false };
  }
  return { file: `require(${JSON.stringify(file)});`, eval: true };
}

export interface ThreadedUnpack { result: ApplyResult; diffId: string; size: number }

export function unpackThreaded(tar: NodeJS.ReadableStream, compression: Compression, targetDir: string, opts: ApplyOptions): Promise<ThreadedUnpack> {
  const src = tar as NodeJS.ReadableStream & { destroy?: (e?: Error) => void; destroyed?: boolean; errored?: Error | null };
  // A source that failed before we listen (a download verified and rejected while the snapshot
  // was being prepared) emits nothing any more: its error, or a truncated layer.
  if (src.destroyed) return Promise.reject(src.errored ?? ERR_LAYER_CORRUPT('the layer stream closed before its end'));
  const script = workerScript();
  const worker = new Worker(script.file, { eval: script.eval });
  const post = (m: ToApplyWorker, transfer?: ArrayBuffer[]) => worker.postMessage(m, transfer);
  return new Promise<ThreadedUnpack>((resolve, reject) => {
    let inFlight = 0;
    let srcErr: unknown;
    let ended = false;
    let settled = false;
    const detach = () => {
      src.removeListener('data', onData);
      src.removeListener('end', onEnd);
      src.removeListener('error', onError);
      src.removeListener('close', onClose);
    };
    const settle = (err: unknown, result?: ThreadedUnpack) => {
      if (settled) return;
      settled = true;
      detach();
      void worker.terminate();
      if (err === undefined) return resolve(result!);
      // A failing source explains everything after it; otherwise the source is destroyed.
      if (srcErr !== undefined) return reject(srcErr);
      src.destroy?.();
      reject(err);
    };
    const abort = (e: unknown) => {
      srcErr ??= e;
      detach();
      post({ t: 'abort', message: (e as Error)?.message ?? String(e) });
    };
    // Chunks are copied into a batch the worker then owns (transferred, not cloned): one message
    // per MiB, not one per network or zlib chunk.
    let batch: Uint8Array | undefined;
    let used = 0;
    const flush = () => {
      if (!batch || used === 0) return;
      const ab = used === batch.length ? batch.buffer as ArrayBuffer : (batch.buffer as ArrayBuffer).slice(0, used);
      inFlight += used;
      post({ t: 'data', buf: ab }, [ab]);
      batch = undefined;
      used = 0;
    };
    const onData = (chunk: Buffer) => {
      let off = 0;
      while (off < chunk.length) {
        batch ??= new Uint8Array(BATCH);
        const n = Math.min(chunk.length - off, BATCH - used);
        batch.set(chunk.subarray(off, off + n), used);
        used += n;
        off += n;
        if (used === BATCH) flush();
      }
      if (inFlight >= IN_FLIGHT) src.pause();
    };
    const onEnd = () => {
      ended = true;
      flush();
      post({ t: 'end' });
    };
    const onError = (e: unknown) => abort(e);
    // Destroyed without an error and before its end: a truncated layer (as applyLayer sees it).
    const onClose = () => {
      if (!ended && srcErr === undefined) abort(ERR_LAYER_CORRUPT('the layer stream closed before its end'));
    };
    worker.on('message', (m: FromApplyWorker) => {
      if (m.t === 'ack') {
        inFlight -= m.n;
        if (inFlight < IN_FLIGHT && !settled && srcErr === undefined) src.resume();
      } else if (m.t === 'done') {
        settle(srcErr, { result: m.result, diffId: m.diffId, size: m.size });
      } else {
        settle(m.code && m.cls ? new BerthError(m.code, m.cls as ErrorClass, m.message) : ERR_LAYER_APPLY_FAILED(m.message));
      }
    });
    worker.on('error', (e) => settle(ERR_LAYER_APPLY_FAILED.with({ cause: e }, `apply worker: ${e.message}`)));
    worker.on('exit', (code) => settle(ERR_LAYER_APPLY_FAILED(`apply worker exited (${code}) before the end of the layer`)));
    post({ t: 'init', dir: targetDir, opts, compression });
    src.on('data', onData);
    src.on('end', onEnd);
    src.on('error', onError);
    src.on('close', onClose);
  });
}
