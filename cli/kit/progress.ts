/**
 * Progress output for pull, push and build, as Docker's CLI draws it (pkg/jsonmessage).
 *
 * Vocabulary
 * - *id*: what a line is about, usually a short layer id (`a3ed95caeb02`). Each id owns one line.
 * - *status*: the phase of that id: `Pulling fs layer`, `Waiting`, `Downloading`,
 *   `Verifying Checksum`, `Download complete`, `Extracting`, `Pull complete`, `Already exists` …
 * - *progress*: optional byte counts of the current phase (`current` of `total`).
 * - *line*: free text that belongs to no id (`Digest: sha256:…`, `Status: Downloaded newer image`).
 *
 * Three modes, chosen by `createProgress`:
 * - TTY (`out.isTTY`): one line per id, redrawn in place. A new id appends a line; an update moves
 *   the cursor up to its line (`ESC[nA`), clears it (`ESC[2K`), writes
 *   `a3ed95caeb02: Downloading [=====>        ]  12.35MB/45.67MB` and moves back down (`ESC[nB`),
 *   so the cursor always rests on the empty line below the block. As in Docker, the bar is shown
 *   only when the terminal is wider than 110 columns (or its width is unknown), sizes use four
 *   significant digits (`units.HumanSize`), and a free `line` ends the block: later updates of old
 *   ids start a new block below it. Redraws that only change the byte counts are throttled to one
 *   per id every 100 ms; status changes are drawn at once, and `close()` draws whatever is pending.
 *   Unlike Docker, a line is cut to the terminal width (when known) so that wrapping never breaks
 *   the cursor arithmetic.
 * - plain (not a TTY: a pipe, a file, CI logs): one `id: status` line per status *change*; updates
 *   that carry byte counts are not printed at all, exactly as Docker skips progress messages when
 *   its output is not a terminal, so logs never grow per byte. `line` prints its text.
 * - quiet: nothing at all (`docker pull -q` prints only the final reference, the caller's job).
 *
 * Lifecycle
 *   const p = createProgress(process.stdout, { quiet: opts.quiet });
 *   p.update('a3ed95caeb02', 'Pulling fs layer');
 *   p.update('a3ed95caeb02', 'Downloading', { current: 12_345_678, total: 45_678_901 });
 *   p.update('a3ed95caeb02', 'Pull complete');
 *   p.line('Digest: sha256:…');
 *   p.close();                               // flushes throttled redraws; later calls are ignored
 */
import { formatG } from './table';

export interface Progress {
  update(id: string, status: string, p?: { current?: number; total?: number }): void;
  line(text: string): void;
  close(): void;
}

export interface ProgressOptions {
  quiet?: boolean;
  /** Clock in milliseconds, for tests of the throttle. Default `Date.now`. */
  now?: () => number;
  /** Minimum interval between byte-count-only redraws of one id. Default 100 ms (10/s). */
  throttleMs?: number;
}

type Out = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

/** Docker's progress sizes: `units.HumanSize`, four significant digits, base 1000. */
function size4(bytes: number): string {
  const unitsList = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
  let s = bytes;
  let i = 0;
  while (s >= 1000 && i < unitsList.length - 1) {
    s /= 1000;
    i++;
  }
  return `${formatG(s, 4)}${unitsList[i]}`;
}

/**
 * Docker's JSONProgress.String(): `[====>    ]  12.35MB/45.67MB`, the bar (50 cells) only when
 * `width > 110`; counts right-aligned in 8 columns; total dropped when current exceeds it; only
 * the current size when the total is unknown; '' when there is nothing to show.
 */
export function progressBar(current: number, total: number, width: number): string {
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return size4(current).padStart(8);
  const pct = Math.min(50, Math.trunc(Math.trunc((current / total) * 100) / 2));
  const bar = width > 110 ? `[${'='.repeat(pct)}>${' '.repeat(50 - pct)}] ` : '';
  const numbers = current > total ? size4(current).padStart(8) : `${size4(current).padStart(8)}/${size4(total)}`;
  return bar + numbers;
}

const ESC = '\x1b[';

interface IdState {
  status: string;
  current: number;
  total: number;
  lastDraw: number;
  dirty: boolean;
}

class TtyProgress implements Progress {
  private readonly lines = new Map<string, number>(); // id → line index within the current block
  private readonly state = new Map<string, IdState>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly out: Out,
    private readonly now: () => number,
    private readonly throttleMs: number,
  ) {}

  update(id: string, status: string, p?: { current?: number; total?: number }): void {
    if (this.closed) return;
    if (id === '') {
      this.line(status);
      return;
    }
    const prev = this.state.get(id);
    const st: IdState = { status, current: p?.current ?? 0, total: p?.total ?? 0, lastDraw: prev?.lastDraw ?? -Infinity, dirty: true };
    this.state.set(id, st);
    const t = this.now();
    const onlyBytes = prev !== undefined && prev.status === status && this.lines.has(id);
    if (onlyBytes && t - st.lastDraw < this.throttleMs) {
      this.schedule(st.lastDraw + this.throttleMs - t);
      return;
    }
    this.draw(id, st, t);
  }

  line(text: string): void {
    if (this.closed) return;
    this.flush();
    // A line that belongs to no id ends the block, as Docker resets its id map.
    this.lines.clear();
    this.state.clear();
    this.out.write(`${text}\n`);
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
  }

  private schedule(delay: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.closed) this.flush();
    }, Math.max(0, delay));
    this.timer.unref();
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const t = this.now();
    for (const [id, st] of this.state) if (st.dirty) this.draw(id, st, t);
  }

  private draw(id: string, st: IdState, t: number): void {
    let index = this.lines.get(id);
    let buf = '';
    if (index === undefined) {
      index = this.lines.size;
      this.lines.set(id, index);
      buf += '\n';
    }
    const diff = this.lines.size - index;
    const columns = this.out.columns;
    const bar = progressBar(st.current, st.total, columns ?? 200);
    let text = `${id}: ${st.status}${bar === '' ? '' : ` ${bar}`}`;
    if (columns !== undefined && columns > 1 && [...text].length > columns - 1) text = [...text].slice(0, columns - 1).join('');
    buf += `${ESC}${diff}A${ESC}2K\r${text}\r${ESC}${diff}B`;
    this.out.write(buf);
    st.dirty = false;
    st.lastDraw = t;
  }
}

class PlainProgress implements Progress {
  private readonly last = new Map<string, string>();
  private closed = false;

  constructor(private readonly out: Out) {}

  update(id: string, status: string, p?: { current?: number; total?: number }): void {
    if (this.closed) return;
    if ((p?.current ?? 0) > 0 || (p?.total ?? 0) > 0) return; // Docker drops byte progress off a terminal
    if (id === '') {
      this.line(status);
      return;
    }
    if (this.last.get(id) === status) return;
    this.last.set(id, status);
    this.out.write(`${id}: ${status}\n`);
  }

  line(text: string): void {
    if (this.closed) return;
    this.out.write(`${text}\n`);
  }

  close(): void {
    this.closed = true;
  }
}

const QUIET: Progress = {
  update() {},
  line() {},
  close() {},
};

/** Chooses TTY, plain or quiet progress for `out` (see the file comment). */
export function createProgress(out: Out, opts: ProgressOptions = {}): Progress {
  if (opts.quiet) return QUIET;
  if (out.isTTY) return new TtyProgress(out, opts.now ?? Date.now, opts.throttleMs ?? 100);
  return new PlainProgress(out);
}
