import t from 'tap';
import { PassThrough } from 'node:stream';
import { createProgress, progressBar } from '../../cli/kit/progress';

type Sink = PassThrough & { isTTY?: boolean; columns?: number; text(): string };

function sink(isTTY: boolean, columns?: number): Sink {
  const s = new PassThrough() as Sink;
  const chunks: string[] = [];
  s.on('data', (c: Buffer) => chunks.push(c.toString()));
  s.isTTY = isTTY;
  if (columns !== undefined) s.columns = columns;
  s.text = () => chunks.join('');
  return s;
}

/** Replays the ANSI stream on a virtual screen: the lines a user would see. */
function screen(stream: string): string[] {
  const rows: string[] = [''];
  let row = 0;
  let col = 0;
  for (let i = 0; i < stream.length; ) {
    const m = /^\x1b\[(\d*)([ABK])/.exec(stream.slice(i));
    if (m) {
      const n = Number(m[1] || '1');
      if (m[2] === 'A') row = Math.max(0, row - n);
      else if (m[2] === 'B') row += n;
      else rows[row] = '';
      while (rows.length <= row) rows.push('');
      i += m[0].length;
      continue;
    }
    const ch = stream[i] as string;
    i++;
    if (ch === '\r') col = 0;
    else if (ch === '\n') {
      row++;
      col = 0;
      while (rows.length <= row) rows.push('');
    } else {
      const r = rows[row] as string;
      rows[row] = r.slice(0, col).padEnd(col) + ch + r.slice(col + 1);
      col++;
    }
  }
  return rows;
}

t.test('progressBar matches Docker JSONProgress.String()', async (t) => {
  t.equal(progressBar(0, 0, 200), '');
  t.equal(progressBar(1_234_567, 0, 200), ' 1.235MB', 'no total: current only, 8 wide');
  t.equal(progressBar(12_345_678, 45_678_901, 80), ' 12.35MB/45.68MB', 'narrow terminal: no bar');
  t.equal(progressBar(12_345_678, 45_678_901, 200), `[${'='.repeat(13)}>${' '.repeat(37)}]  12.35MB/45.68MB`);
  t.equal(progressBar(50, 40, 200), `[${'='.repeat(50)}>]      50B`, 'current above total drops the total');
});

t.test('non-TTY: one line per status change, never per byte', async (t) => {
  const out = sink(false);
  const p = createProgress(out);
  p.update('a3ed95caeb02', 'Pulling fs layer');
  p.update('a3ed95caeb02', 'Pulling fs layer');
  for (let i = 1; i <= 100; i++) p.update('a3ed95caeb02', 'Downloading', { current: i * 1000, total: 100_000 });
  p.update('a3ed95caeb02', 'Download complete');
  p.update('b1', 'Already exists');
  p.update('a3ed95caeb02', 'Pull complete');
  p.line('Digest: sha256:abc');
  p.close();
  p.update('late', 'ignored');
  t.equal(out.text(), 'a3ed95caeb02: Pulling fs layer\na3ed95caeb02: Download complete\nb1: Already exists\na3ed95caeb02: Pull complete\nDigest: sha256:abc\n');
});

t.test('quiet prints nothing', async (t) => {
  const out = sink(true);
  const p = createProgress(out, { quiet: true });
  p.update('a', 'Downloading', { current: 1, total: 2 });
  p.line('x');
  p.close();
  t.equal(out.text(), '');
});

t.test('TTY: lines redrawn in place with cursor movement', async (t) => {
  let now = 0;
  const out = sink(true, 200);
  const p = createProgress(out, { now: () => now });
  p.update('aaaaaaaaaaaa', 'Pulling fs layer');
  p.update('bbbbbbbbbbbb', 'Pulling fs layer');
  now = 10;
  p.update('aaaaaaaaaaaa', 'Downloading', { current: 1_000_000, total: 2_000_000 });
  t.match(out.text(), /\x1b\[2A\x1b\[2K\raaaaaaaaaaaa: Downloading \[=+>/, 'moves up two lines to redraw the first id');
  t.same(screen(out.text()), ['aaaaaaaaaaaa: Downloading [=========================>                         ]      1MB/2MB', 'bbbbbbbbbbbb: Pulling fs layer', '']);
  p.update('bbbbbbbbbbbb', 'Pull complete');
  p.line('Status: Downloaded newer image for busybox:latest');
  p.update('aaaaaaaaaaaa', 'Pull complete');
  p.close();
  t.same(screen(out.text()), [
    'aaaaaaaaaaaa: Downloading [=========================>                         ]      1MB/2MB',
    'bbbbbbbbbbbb: Pull complete',
    'Status: Downloaded newer image for busybox:latest',
    'aaaaaaaaaaaa: Pull complete',
    '',
  ]);
});

t.test('TTY: byte-only updates are throttled to 10/s, status changes are immediate, close flushes', async (t) => {
  let now = 1000;
  const out = sink(true, 80);
  const p = createProgress(out, { now: () => now });
  p.update('l1', 'Downloading', { current: 1, total: 1000 });
  const draws = () => out.text().split('\x1b[2K').length - 1;
  t.equal(draws(), 1);
  for (let i = 2; i < 50; i++) {
    now += 1;
    p.update('l1', 'Downloading', { current: i, total: 1000 });
  }
  t.equal(draws(), 1, '49 updates within 50ms: no redraw');
  now += 100;
  p.update('l1', 'Downloading', { current: 500, total: 1000 });
  t.equal(draws(), 2, 'after 100ms the next update draws');
  now += 1;
  p.update('l1', 'Downloading', { current: 600, total: 1000 });
  t.equal(draws(), 2);
  p.update('l1', 'Verifying Checksum');
  t.equal(draws(), 3, 'a status change draws at once');
  now += 1;
  p.update('l1', 'Verifying Checksum', { current: 5, total: 10 });
  t.equal(draws(), 3);
  p.close();
  t.equal(draws(), 4, 'close draws the pending state');
  t.same(screen(out.text()), ['l1: Verifying Checksum       5B/10B', '']);
});

t.test('TTY: pending redraws are flushed by a timer', async (t) => {
  let now = 0;
  const out = sink(true, 80);
  const p = createProgress(out, { now: () => now, throttleMs: 20 });
  p.update('x', 'Downloading', { current: 1, total: 10 });
  now = 5;
  p.update('x', 'Downloading', { current: 9, total: 10 });
  now = 30;
  await new Promise((r) => setTimeout(r, 60));
  t.same(screen(out.text()), ['x: Downloading       9B/10B', '']);
  p.close();
});

t.test('TTY: lines are cut to the terminal width', async (t) => {
  const out = sink(true, 20);
  const p = createProgress(out);
  p.update('0123456789ab', 'Downloading a very long status');
  p.close();
  t.same(screen(out.text()), ['0123456789ab: Downl', ''], 'columns - 1 characters, so the line never wraps');
});
