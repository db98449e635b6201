/**
 * Vitest global setup: checks RELAY_TEST_SKIP once (an unknown name stops the run before any test),
 * and at the end of the run names every component that was skipped on purpose, so a green summary
 * never hides suites that did not run (test/helpers/components.ts).
 */
import { skippedComponents, skipSummary } from './helpers/components.js';

export default function setup(): () => void {
  const summary = skipSummary(skippedComponents());
  return () => {
    if (summary !== '') console.log(`\n ${summary}\n`);
  };
}
