/**
 * The race's verdict on one figure (first token, finished): who led and by how much, or a tie
 * when the difference is inside the measurement's noise, saying so.
 *
 * Both streams are timed by one page: one event loop handles both (an event of one transport can
 * wait behind the other's), each clock starts right before its own request in the same tick, and
 * browsers coarsen `performance.now()` (to 0.1 ms or more). A difference below NOISE_FLOOR_MS, or
 * below NOISE_FRACTION of the faster time, is not evidence of a winner.
 */

/** The page's timing noise floor, in ms (event-loop turns and coarsened timers). */
export const NOISE_FLOOR_MS = 2;
/** Relative noise: differences within this share of the faster time are ties too. */
export const NOISE_FRACTION = 0.05;

/** @param {number} ms */
const fmt = (ms) => (ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`);

/**
 * @param {{ label: string, ms: number | undefined }[]} entries
 * @param {string} what
 * @returns {{ text: string, tie: boolean | undefined }}
 */
export function lead(entries, what) {
  const known = entries.filter((e) => e.ms !== undefined);
  if (known.length < 2) return { text: `${what}: —`, tie: undefined };
  known.sort((a, b) => (a.ms ?? 0) - (b.ms ?? 0));
  const [first, second] = known;
  const by = (second.ms ?? 0) - (first.ms ?? 0);
  const noise = Math.max(NOISE_FLOOR_MS, NOISE_FRACTION * (first.ms ?? 0));
  if (by < noise) {
    return {
      text: `${what}: a tie (${fmt(by)} apart, inside the ±${fmt(noise)} measurement noise)`,
      tie: true,
    };
  }
  return { text: `${what}: ${first.label} by ${fmt(by)}`, tie: false };
}
