/**
 * Phase timing for latency work: with `BERTH_TRACE=1`, `mark(label)` writes
 * `[trace] <ms since the process started> <label>` to stderr (performance.now() counts from the
 * process's start, so Node's own bootstrap is included). Off, it costs one boolean test.
 *
 *   BERTH_TRACE=1 berth run --rm bb true
 */
const on = process.env.BERTH_TRACE === '1';

export function mark(label: string): void {
  if (on) process.stderr.write(`[trace] ${performance.now().toFixed(1).padStart(7)} ms  ${label}\n`);
}
