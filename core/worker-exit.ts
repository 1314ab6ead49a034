/**
 * Worker threads stopped together when the process exits.
 *
 * At exit Node stops each remaining worker thread in turn: it asks one to stop, waits for its
 * isolate and heap to be torn down (≈ 8–14 ms for an apply worker after a large pull), then does
 * the next. A worker registered here is asked to stop from the process's `exit` event, so all
 * of them tear down at the same time on their own threads while the main thread goes on with its
 * own exit; Node's sequential stop then only waits for threads that are already finishing.
 *
 * Only for workers that hold no work worth finishing at exit (idle pools): `exit` handlers run
 * after the event loop has drained or after `process.exit()`, when no more messages would be
 * delivered anyway.
 */
import type { Worker } from 'node:worker_threads';

const live = new Set<Worker>();
let hooked = false;

function stopAll(): void {
  for (const w of live) {
    // terminate() asks the thread to stop at once; its promise settles after the loop is gone.
    w.terminate().catch(() => undefined);
  }
  live.clear();
}

/** Stops `w` (with every other registered worker, concurrently) when the process exits. */
export function stopOnExit(w: Worker): void {
  live.add(w);
  w.once('exit', () => live.delete(w));
  if (!hooked) {
    hooked = true;
    process.once('exit', stopAll);
  }
}
