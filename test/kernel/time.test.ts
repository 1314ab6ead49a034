import t from 'tap';
import { isoTime } from '../../core/time';

t.test('isoTime returns what toISOString returns', async (t) => {
  const samples = [0, 1, -1, 999, Date.UTC(2026, 10, 28, 14, 12, 50, 878), Date.UTC(1969, 11, 31, 23, 59, 59, 999),
    Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(10000, 0, 1), Date.UTC(-1, 0, 1), Date.UTC(-271821, 3, 20), 8.64e15, -8.64e15, Date.UTC(2000, 1, 29, 12)];
  let seed = 42;
  for (let i = 0; i < 200; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    samples.push(Math.floor(((seed / 2147483648) * 2 - 1) * 4e12));
  }
  const wrong = samples.filter((ms) => isoTime(ms) !== new Date(ms).toISOString());
  t.same(wrong, [], `${samples.length} times format as toISOString formats them`);
  t.equal(isoTime(new Date(5)), '1970-01-01T00:00:00.005Z', 'a Date');
  t.match(isoTime(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'now');
  t.throws(() => isoTime(NaN), RangeError, 'an invalid time throws as toISOString does');
});
