/**
 * Benchmark stamping. In benchmark mode every text token is exactly
 *
 *     `${seq}@${tNs} `   e.g. `17@283719466512345 `
 *
 * - `seq`: the token's number within the reply, from 1;
 * - `tNs`: `process.hrtime.bigint()` in decimal, read immediately before the token's frame is
 *   written to the socket. On Linux that is CLOCK_MONOTONIC, shared by every process on the host,
 *   so a client on the same machine can subtract it from its own `process.hrtime.bigint()` to
 *   measure what the relay added per token;
 * - a trailing space, so concatenated text stays splittable with `/\s+/`.
 */

/** One benchmark token, stamped now. */
export function benchToken(seq: number): string {
  return `${seq}@${process.hrtime.bigint()} `;
}

/** Parses the stamps out of benchmark text (for clients and tests). */
export function parseBenchTokens(text: string): { seq: number; tNs: bigint }[] {
  const out: { seq: number; tNs: bigint }[] = [];
  for (const match of text.matchAll(/(\d+)@(\d+) /g)) {
    out.push({ seq: Number(match[1]), tNs: BigInt(match[2] ?? '0') });
  }
  return out;
}
