/** Assertions shared by the conformance suites. */
import type { Test } from 'tap';
import { classOf } from '../errors';

/** Awaits `p` and asserts it fails with an error of class `cls` (see core/errors.ts). */
export async function expectClass(t: Test, p: Promise<unknown>, cls: string, what: string): Promise<void> {
  try {
    await p;
    t.fail(`${what}: expected a ${cls} error`);
  } catch (e) {
    t.equal(classOf(e), cls, `${what}: ${(e as Error).message}`);
  }
}
