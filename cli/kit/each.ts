/**
 * Commands over several names (`rm a b c`, `rmi x y`, `image inspect p q`) go on past a failure
 * as Docker's do: each failure is printed as `Error response from daemon: …` and the command
 * exits 1 if any failed.
 */
import { describeError } from '../../core/errors';

/** Runs `fn` for each of `items` in order, printing each failure on `err`; 1 if any failed, else 0. */
export async function eachItem(err: (line: string) => void, items: string[], fn: (item: string) => Promise<void>): Promise<number> {
  let code = 0;
  for (const item of items) {
    try {
      await fn(item);
    } catch (e) {
      err(`Error response from daemon: ${describeError(e)}`);
      code = 1;
    }
  }
  return code;
}
