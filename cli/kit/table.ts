/**
 * Table layout and the human-readable units Docker's CLI prints.
 *
 * Vocabulary
 * - *cell*: text between tabs. In tabwriter terms, a cell is *terminated* by a tab; the last piece
 *   of a line (after its final tab) is not part of any column and is written as-is, without
 *   trailing padding. `renderTable([['A','B'],['xx','y']])` therefore pads column A only.
 * - *column block*: consecutive lines that all have a terminated cell in column k. Widths are
 *   computed per block, exactly as Go's text/tabwriter does, so a line with fewer cells (or none)
 *   starts a new alignment block below it.
 * - *width*: `max(cell width) + padding`, but at least `minWidth`. Width counts Unicode code points
 *   (Go counts runes); East Asian wide characters are not measured double, as in Go.
 *
 * Docker's formatter writes tables through `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`: minimum
 * cell width 10, padding 3, spaces. That minimum is why `docker ps` prints `IMAGE     COMMAND`
 * with five spaces. `renderTable` uses the same defaults; pass `{ minWidth: 0 }` for a table that
 * is only padded.
 *
 * Lifecycle
 *   renderTable([['CONTAINER ID', 'NAMES'], ['0123456789ab', 'web']])
 *   → 'CONTAINER ID   NAMES\n0123456789ab   web\n'
 *   humanSize(7_050_000) === '7.05MB'; humanDuration(90_000) === 'About a minute'
 *   truncateId('sha256:0123456789abcdef…') === '0123456789ab'
 */

export interface TableOptions {
  /** Spaces added after the widest cell of a column. Default 3 (Docker). */
  padding?: number;
  /** Minimum column width including padding. Default 10 (Docker's formatter). */
  minWidth?: number;
}

function textWidth(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * Aligns tab-separated text like Go's text/tabwriter with space padding and no flags: `text` is
 * split into lines at `\n` and into cells at `\t`. A trailing newline is kept as is; text after
 * the last newline is emitted as a final line (as `Flush` does).
 */
export function tabwrite(text: string, opts: TableOptions = {}): string {
  const padding = opts.padding ?? 3;
  const minWidth = opts.minWidth ?? 10;
  if (text === '') return '';
  const endsWithNewline = text.endsWith('\n');
  const rawLines = (endsWithNewline ? text.slice(0, -1) : text).split('\n');
  const lines = rawLines.map((l) => l.split('\t'));
  const widths: number[] = [];
  const out: string[] = new Array<string>(lines.length);

  const writeLines = (from: number, to: number) => {
    for (let li = from; li < to; li++) {
      const cells = lines[li] as string[];
      let s = '';
      cells.forEach((c, j) => {
        s += c;
        const w = widths[j];
        if (j < cells.length - 1 && w !== undefined) s += ' '.repeat(Math.max(0, w - textWidth(c)));
      });
      out[li] = s;
    }
  };

  // Go's tabwriter.format: recursively find column blocks, one column deeper each level.
  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    for (let cur = line0; cur < line1; cur++) {
      if (column >= (lines[cur] as string[]).length - 1) continue;
      writeLines(line0, cur);
      line0 = cur;
      let width = minWidth;
      for (; cur < line1; cur++) {
        const cells = lines[cur] as string[];
        if (column >= cells.length - 1) break;
        const w = textWidth(cells[column] as string) + padding;
        if (w > width) width = w;
      }
      widths.push(width);
      format(line0, cur);
      widths.pop();
      // `cur` is the first line outside the block; it lacks this column, so the loop's ++
      // skipping it changes nothing (Go's loop does the same).
      line0 = cur;
    }
    writeLines(line0, line1);
  };
  format(0, lines.length);
  return out.join('\n') + (endsWithNewline ? '\n' : '');
}

/**
 * Renders rows as an aligned table, one line per row ending in `\n`; '' for no rows. Every cell
 * but the last of a row is padded (see the file comment). Tabs and newlines inside cells are
 * replaced by spaces, since they would break the layout.
 */
export function renderTable(rows: string[][], opts: TableOptions = {}): string {
  if (rows.length === 0) return '';
  const text = rows.map((r) => r.map((c) => c.replace(/[\t\n]/g, ' ')).join('\t')).join('\n') + '\n';
  return tabwrite(text, opts);
}

/**
 * Rounds a positive finite number to `p` significant decimal digits with round-half-to-even on
 * its exact binary value, as Go's strconv does. Returns the digits and the decimal exponent of
 * the first digit.
 */
function roundSignificant(x: number, p: number): { digits: string; exp: number } {
  const [mant, e] = x.toExponential(99).split('e') as [string, string];
  const all = mant.replace('.', '');
  let exp = Number(e);
  let digits = all.slice(0, p);
  const rest = all.slice(p);
  const first = rest[0] ?? '0';
  const tail = /[1-9]/.test(rest.slice(1));
  const lastOdd = Number(digits[digits.length - 1]) % 2 === 1;
  if (first > '5' || (first === '5' && (tail || lastOdd))) {
    const bumped = (BigInt(digits) + 1n).toString();
    if (bumped.length > p) {
      digits = bumped.slice(0, p);
      exp++;
    } else digits = bumped;
  }
  return { digits, exp };
}

/** Go's `fmt.Sprintf("%.*g", p, x)` for finite non-negative x. */
export function formatG(x: number, p: number): string {
  if (x === 0) return '0';
  if (x < 0) return '-' + formatG(-x, p);
  const { digits, exp } = roundSignificant(x, p);
  const trimmed = digits.replace(/0+$/, '') || '0';
  if (exp < -4 || exp >= p) {
    const m = trimmed.length > 1 ? `${trimmed[0]}.${trimmed.slice(1)}` : trimmed;
    const ae = Math.abs(exp);
    return `${m}e${exp < 0 ? '-' : '+'}${ae < 10 ? '0' : ''}${ae}`;
  }
  if (exp < 0) return `0.${'0'.repeat(-exp - 1)}${trimmed}`;
  const intPart = trimmed.slice(0, exp + 1).padEnd(exp + 1, '0');
  const frac = trimmed.slice(exp + 1);
  return frac === '' ? intPart : `${intPart}.${frac}`;
}

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/**
 * Docker CLI's sizes (`units.HumanSizeWithPrecision(size, 3)`): base 1000, three significant
 * digits, no space: 0 → '0B', 999 → '999B', 7_050_000 → '7.05MB', 1_200_000_000 → '1.2GB'.
 * Like Go's `%.3g`, a value that rounds up to 1000 of its unit keeps the unit in exponent form
 * (999_999 → '1e+03kB'), which is what Docker prints too.
 */
export function humanSize(bytes: number): string {
  let size = bytes;
  let i = 0;
  while (size >= 1000 && i < DECIMAL_UNITS.length - 1) {
    size /= 1000;
    i++;
  }
  return `${formatG(size, 3)}${DECIMAL_UNITS[i]}`;
}

/**
 * Docker's `units.HumanDuration` for an elapsed time in milliseconds: 'Less than a second',
 * '1 second', '47 seconds', 'About a minute', '35 minutes', 'About an hour', '2 hours' (hours
 * round to nearest), '36 hours' (up to 48), '13 days' (up to 2 weeks), '6 weeks' (up to 60 days),
 * '23 months' (up to 2 years), then '3 years'. `docker ps` prints it as 'Up 5 minutes' and
 * '2 hours ago'.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / 3_600_000) / 24 / 365)} years`;
}

/**
 * Docker's `stringid.TruncateID`: drops an algorithm prefix (`sha256:`), then keeps at most 12
 * characters.
 */
export function truncateId(id: string): string {
  const colon = id.indexOf(':');
  const bare = colon >= 0 ? id.slice(colon + 1) : id;
  return bare.length > 12 ? bare.slice(0, 12) : bare;
}
