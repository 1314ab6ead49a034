/**
 * Sets environment variable `name` to `value` (unsets it for `undefined`) for the rest of test
 * `t`; its teardown puts back what was there before. Later changes within the test are undone too.
 */
export function envForTest(t: { teardown(fn: () => void): void }, name: string, value: string | undefined): void {
  const saved = process.env[name];
  t.teardown(() => {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  });
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
