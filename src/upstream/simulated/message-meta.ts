/** What a simulated reply needs besides its plan: the frames, the whole message and usage all read it. */
export interface MessageMeta {
  readonly id: string;
  readonly model: string;
  readonly inputTokens: number;
  /** Reported as cache reads and writes (the `cache_read=` / `cache_write=` directives). */
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
}
