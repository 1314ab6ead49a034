import t from 'tap';
import { renderTable, tabwrite, humanSize, humanDuration, truncateId, formatG } from '../../cli/kit/table';

t.test('renderTable aligns like Docker tabwriter (minwidth 10, padding 3)', async (t) => {
  t.equal(
    renderTable([
      ['CONTAINER ID', 'IMAGE', 'COMMAND', 'NAMES'],
      ['0123456789ab', 'busybox', '"sh"', 'web'],
    ]),
    'CONTAINER ID   IMAGE     COMMAND   NAMES\n' + '0123456789ab   busybox   "sh"      web\n',
  );
  // With minWidth 0 only the padding remains.
  t.equal(renderTable([['a', 'b'], ['ccc', 'd']], { minWidth: 0 }), 'a     b\nccc   d\n');
  t.equal(renderTable([['a', 'b'], ['ccc', 'd']], { minWidth: 0, padding: 1 }), 'a   b\nccc d\n');
  t.equal(renderTable([]), '');
  t.equal(renderTable([['only']]), 'only\n', 'the last cell is never padded');
  t.equal(renderTable([['a\tb', 'c']], { minWidth: 0 }), 'a b   c\n', 'tabs inside cells are neutralised');
  t.equal(renderTable([['é', 'x'], ['ab', 'y']], { minWidth: 0 }), 'é    x\nab   y\n', 'width counts code points');
});

t.test('tabwrite: column blocks end at lines with fewer cells, like Go', async (t) => {
  const text = 'aaaa\tb\tc\n' + 'a\tbbbbbb\tc\n' + 'no tabs here\n' + 'x\ty\n';
  t.equal(tabwrite(text, { minWidth: 0, padding: 1 }), 'aaaa b      c\n' + 'a    bbbbbb c\n' + 'no tabs here\n' + 'x y\n');
  t.equal(tabwrite('a\tb', { minWidth: 0, padding: 1 }), 'a b', 'text without a final newline is flushed');
  t.equal(tabwrite('', {}), '');
  t.equal(tabwrite('a\t\tb\n', { minWidth: 0, padding: 2 }), 'a    b\n', 'empty cells still take padding');
});

t.test('humanSize is units.HumanSizeWithPrecision(size, 3)', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '0B'],
    [1, '1B'],
    [999, '999B'],
    [1000, '1kB'],
    [1024, '1.02kB'],
    [1125, '1.12kB'], // exact tie rounds half to even, as Go does
    [1135, '1.14kB'],
    [7_050_000, '7.05MB'],
    [7_054_999, '7.05MB'],
    [7_055_001, '7.06MB'],
    [45_600_000, '45.6MB'],
    [123_456_789, '123MB'],
    [1_200_000_000, '1.2GB'],
    [999_999, '1e+03kB'], // Go's %.3g switches to exponent form; Docker prints this too
    [5.5e15, '5.5PB'],
  ];
  for (const [n, want] of cases) t.equal(humanSize(n), want, `${n}`);
});

t.test('formatG matches Go %g', async (t) => {
  t.equal(formatG(0.0001234, 3), '0.000123');
  t.equal(formatG(0.00001234, 3), '1.23e-05');
  t.equal(formatG(100, 3), '100');
  t.equal(formatG(1234, 3), '1.23e+03');
  t.equal(formatG(2.5, 1), '2');
  t.equal(formatG(3.5, 1), '4');
  t.equal(formatG(-1.5, 3), '-1.5');
});

t.test('humanDuration matches go-units', async (t) => {
  const s = 1000;
  const m = 60 * s;
  const h = 60 * m;
  const d = 24 * h;
  const w = 7 * d;
  const mo = 30 * d;
  const y = 365 * d;
  const cases: Array<[number, string]> = [
    [450, 'Less than a second'],
    [-5 * s, 'Less than a second'],
    [1 * s, '1 second'],
    [47 * s, '47 seconds'],
    [59 * s, '59 seconds'],
    [60 * s, 'About a minute'],
    [3 * m, '3 minutes'],
    [35 * m + 40 * s, '35 minutes'],
    [59 * m, '59 minutes'],
    [1 * h, 'About an hour'],
    [1 * h + 29 * m, 'About an hour'],
    [1 * h + 31 * m, '2 hours'],
    [3 * h + 29 * m, '3 hours'],
    [3 * h + 31 * m, '4 hours'],
    [24 * h, '24 hours'],
    [1 * d + 12 * h, '36 hours'],
    [2 * d, '2 days'],
    [13 * d + 5 * h, '13 days'],
    [2 * w, '2 weeks'],
    [2 * w + 4 * d, '2 weeks'],
    [1 * mo, '4 weeks'],
    [1 * mo + 2 * w, '6 weeks'],
    [2 * mo, '2 months'],
    [5 * mo + 2 * w, '5 months'],
    [24 * mo, '24 months'],
    [24 * mo + 2 * w, '2 years'],
    [3 * y + 2 * mo, '3 years'],
  ];
  for (const [ms, want] of cases) t.equal(humanDuration(ms), want, `${ms}ms`);
});

t.test('truncateId is stringid.TruncateID', async (t) => {
  t.equal(truncateId('sha256:0123456789abcdef0123456789abcdef'), '0123456789ab');
  t.equal(truncateId('0123456789abcdef'), '0123456789ab');
  t.equal(truncateId('abc'), 'abc');
  t.equal(truncateId('sha512:abc'), 'abc');
});
