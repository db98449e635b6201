/**
 * Heap in use after a forced full GC, for tests that bound what objects hold. `gc` is exposed for
 * the test file that imports this only (vitest runs each file in its own worker).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
/** A forced full GC. */
export const fullGc = runInNewContext('gc') as () => void;

/** Twice: the first pass can leave what finalizers of the first released. */
export function heapAfterGc(): number {
  fullGc();
  fullGc();
  return process.memoryUsage().heapUsed;
}
