/**
 * Attempt counting for `fail_first=N`: how many times each request (by body hash) was seen.
 * Bounded, oldest hash evicted first, so a long benchmark cannot grow it without limit.
 */
export class AttemptCounter {
  readonly #counts = new Map<string, number>();
  readonly #limit: number;

  constructor(limit = 10_000) {
    this.#limit = limit;
  }

  /** Counts one more attempt of `hash` and returns its number (1 for the first). */
  next(hash: string): number {
    const n = (this.#counts.get(hash) ?? 0) + 1;
    // Re-insert so the most recently used hash is evicted last.
    this.#counts.delete(hash);
    this.#counts.set(hash, n);
    while (this.#counts.size > this.#limit) {
      const oldest = this.#counts.keys().next().value;
      if (oldest === undefined) break;
      this.#counts.delete(oldest);
    }
    return n;
  }
}
