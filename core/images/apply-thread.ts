/**
 * A layer blob decompressed, hashed and applied on a worker thread: decompression, the tar's
 * sha256 (diff id), tar parsing and the file-creation syscalls of one layer run off the main
 * thread, so a pull applying several layers at once (DetachedApplier) uses several cores while the
 * main thread only downloads.
 *
 *   const r = await unpackThreaded(blobStream, 'gzip', layerDir, { whiteoutMode: 'overlay', detached: true });
 *   r.diffId, r.size, r.result   // sha256 of the tar, its length, applyLayer's result
 * `decode.unchecked`: the caller compares r.diffId with the image's (gzip's CRC-32 is then
 * skipped, see codecs.ts decodeHashApply).
 *
 * Errors as applyLayer and layers.ts give them: the same ERR_LAYER_* / ERR_IMAGE_DECOMPRESS_FAILED
 * codes (rebuilt from the worker's message); a failing source rejects with the source's error;
 * the source is destroyed on any other failure. Input is copied into 1 MiB transferred batches;
 * at most IN_FLIGHT bytes wait in the worker per layer.
 * Workers: a pool of at most one per core (max 4), started on demand and kept (unref'd while
 * idle); a layer goes to the least busy one. A worker start costs ~50–250 ms of CPU (Node's
 * internal modules are compiled again in every isolate), so 3 layers on 2 cores share 2 workers.
 * Split apply: a detached layer also gets another pool worker as its file writer (apply.ts
 * FileOffload / serveFileWriter, over a MessageChannel), so one many-files layer uses two cores
 * when the rest of the pull leaves one idle; writer jobs do not count as load when a layer picks
 * its worker. BERTH_APPLY_SPLIT=0 turns it off.
 */
import * as os from 'node:os';
import { MessageChannel, Worker, type TransferListItem } from 'node:worker_threads';
import { BerthError, type ErrorClass } from '../errors';
import { workerEntry } from '../paths';
import { stopOnExit } from '../worker-exit';
import type { ApplyResult } from '../contracts/storage';
import { ERR_LAYER_APPLY_FAILED, ERR_LAYER_CORRUPT, type ApplyOptions } from './apply';
import type { FromApplyWorker, ToApplyWorker } from './apply-worker';
import type { Compression } from './manifest';
import { allocPiece, PIECE, recyclePiece, takeOver } from './handoff';

const IN_FLIGHT = 8 << 20;
/** Batches are piece-sized, so the worker hands them back for reuse too (handoff.ts). */
const BATCH = PIECE;
/** A given-away chunk at least this large is transferred whole (smaller ones are batched). */
const MIN_HANDOFF = 64 << 10;

function workerScript(): { file: string | URL; eval: boolean } {
  return workerEntry(__filename, 'core/images', 'apply-worker');
}

export interface ThreadedUnpack { result: ApplyResult; diffId: string; size: number }

/** `helps`: how many of `jobs` are file-writer jobs (they do not count as load when picking). */
interface PoolWorker { worker: Worker; jobs: Map<number, (m: FromApplyWorker | Error) => void>; helps: number }
const pool: PoolWorker[] = [];
let nextJob = 1;

/** BERTH_APPLY_WORKERS overrides the pool size (experiments). */
function poolSize(): number {
  const env = Number(process.env.BERTH_APPLY_WORKERS);
  if (env >= 1) return Math.min(env, 16);
  return Math.max(1, Math.min(os.availableParallelism?.() ?? os.cpus().length, 4));
}

const load = (w: PoolWorker) => w.jobs.size - w.helps;

function acquire(): PoolWorker {
  let w = pool.length >= poolSize() ? pool.reduce((a, b) => (load(b) < load(a) ? b : a)) : undefined;
  w ??= startWorker();
  if (w.jobs.size === 0) w.worker.ref();
  return w;
}

/**
 * The file writer for a detached apply running on `w`: the least busy other pool worker (one
 * is started when the pool may still grow), or undefined on one core. BERTH_APPLY_SPLIT=0: never.
 */
function acquireHelper(w: PoolWorker): PoolWorker | undefined {
  if (process.env.BERTH_APPLY_SPLIT === '0') return undefined;
  const others = pool.filter((p) => p !== w);
  let h = others.length > 0 ? others.reduce((a, b) => (load(b) < load(a) ? b : a)) : undefined;
  if (!h && pool.length < poolSize()) h = startWorker();
  if (h && h.jobs.size === 0) h.worker.ref();
  return h;
}

function startWorker(): PoolWorker {
  {
    const script = workerScript();
    const pw: PoolWorker = { worker: new Worker(script.file, { eval: script.eval }), jobs: new Map(), helps: 0 };
    stopOnExit(pw.worker);
    const failAll = (e: Error) => {
      const i = pool.indexOf(pw);
      if (i >= 0) pool.splice(i, 1);
      for (const h of [...pw.jobs.values()]) h(e);
      pw.jobs.clear();
    };
    pw.worker.on('message', (m: FromApplyWorker) => {
      if (m.t === 'free') for (const ab of m.bufs) recyclePiece(ab);
      else pw.jobs.get(m.id)?.(m);
    });
    pw.worker.on('error', (e) => failAll(e));
    pw.worker.on('exit', (code) => failAll(new Error(`apply worker exited (${code})`)));
    pool.push(pw);
    return pw;
  }
}

/**
 * Starts the pool's workers before the first layer needs one (idle, unref'd): a worker's start
 * (an isolate, Node's bootstrap and the apply modules, ~40 ms of CPU each) then runs while the
 * main thread waits for the registry's manifest and config, on a core that is idle then, instead
 * of competing with the first layers' data. Workers already running are kept.
 */
export function prewarmApplyPool(): void {
  while (pool.length < poolSize()) startWorker().worker.unref();
}

/** Workers in the pool now and the most it holds (tests, traces). */
export function applyPoolStats(): { workers: number; max: number } {
  return { workers: pool.length, max: poolSize() };
}

function release(w: PoolWorker, id: number): void {
  w.jobs.delete(id);
  if (w.jobs.size === 0) w.worker.unref();
}

export function unpackThreaded(tar: NodeJS.ReadableStream, compression: Compression, targetDir: string, opts: ApplyOptions, decode: { unchecked?: boolean } = {}): Promise<ThreadedUnpack> {
  const src = tar as NodeJS.ReadableStream & { destroy?: (e?: Error) => void; destroyed?: boolean; errored?: Error | null };
  // A source that failed before we listen (a download verified and rejected while the snapshot
  // was being prepared) emits nothing any more: its error, or a truncated layer.
  if (src.destroyed) return Promise.reject(src.errored ?? ERR_LAYER_CORRUPT('the layer stream closed before its end'));
  const w = acquire();
  const id = nextJob++;
  const post = (m: ToApplyWorker, transfer?: TransferListItem[]) => w.worker.postMessage(m, transfer);
  // A detached apply gets a second worker as its file writer (apply.ts FileOffload): the
  // parsing/hashing and the file-creation syscalls of one layer then use two cores.
  let writerPort: import('node:worker_threads').MessagePort | undefined;
  const helper = opts.detached && !opts.writer ? acquireHelper(w) : undefined;
  if (helper) {
    const hid = nextJob++;
    const ch = new MessageChannel();
    helper.helps++;
    helper.jobs.set(hid, () => {
      if (helper.jobs.delete(hid)) helper.helps--;
      if (helper.jobs.size === 0) helper.worker.unref();
    });
    helper.worker.postMessage({ t: 'writer', id: hid, dir: targetDir, port: ch.port2 } satisfies ToApplyWorker, [ch.port2]);
    writerPort = ch.port1;
  }
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
      release(w, id);
      if (err === undefined) return resolve(result!);
      // A failing source explains everything after it; otherwise the source is destroyed.
      if (srcErr !== undefined) return reject(srcErr);
      src.destroy?.();
      reject(err);
    };
    const abort = (e: unknown) => {
      srcErr ??= e;
      detach();
      post({ t: 'abort', id, message: (e as Error)?.message ?? String(e) });
    };
    // Chunks are copied into a batch the worker then owns (transferred, not cloned): one message
    // per MiB, not one per network or zlib chunk.
    let batch: Uint8Array | undefined;
    let used = 0;
    const flush = () => {
      if (!batch || used === 0) return;
      const ab = used === batch.length ? batch.buffer as ArrayBuffer : (batch.buffer as ArrayBuffer).slice(0, used);
      inFlight += used;
      post({ t: 'data', id, buf: ab }, [ab]);
      batch = undefined;
      used = 0;
    };
    const onData = (chunk: Buffer) => {
      // A piece its producer gave away (the pull's download loop, core/images/handoff.ts) goes to
      // the worker as it is: transferred, not copied into a batch.
      const whole = chunk.length >= MIN_HANDOFF ? takeOver(chunk) : undefined;
      if (whole) {
        flush();
        inFlight += whole.byteLength;
        post({ t: 'data', id, buf: whole }, [whole]);
        if (inFlight >= IN_FLIGHT) src.pause();
        return;
      }
      let off = 0;
      while (off < chunk.length) {
        // malloc'd, not zeroed (every byte is written before it is posted): no calloc of fresh pages
        batch ??= allocPiece(BATCH);
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
      post({ t: 'end', id });
    };
    const onError = (e: unknown) => abort(e);
    // Destroyed without an error and before its end: a truncated layer (as applyLayer sees it).
    const onClose = () => {
      if (!ended && srcErr === undefined) abort(ERR_LAYER_CORRUPT('the layer stream closed before its end'));
    };
    w.jobs.set(id, (m) => {
      if (m instanceof Error) {
        settle(ERR_LAYER_APPLY_FAILED.with({ cause: m }, `apply worker: ${m.message}`));
      } else if (m.t === 'ack') {
        inFlight -= m.n;
        if (inFlight < IN_FLIGHT && !settled && srcErr === undefined) src.resume();
      } else if (m.t === 'done') {
        settle(srcErr, { result: m.result, diffId: m.diffId, size: m.size });
      } else if (m.t === 'error') {
        settle(m.code && m.cls ? new BerthError(m.code, m.cls as ErrorClass, m.message) : ERR_LAYER_APPLY_FAILED(m.message));
      }
    });
    const unchecked = decode.unchecked === true;
    if (writerPort) post({ t: 'init', id, dir: targetDir, opts: { ...opts, writer: writerPort }, compression, unchecked }, [writerPort]);
    else post({ t: 'init', id, dir: targetDir, opts, compression, unchecked });
    src.on('data', onData);
    src.on('end', onEnd);
    src.on('error', onError);
    src.on('close', onClose);
  });
}
