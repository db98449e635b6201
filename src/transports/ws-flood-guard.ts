/**
 * The WebSocket flood limit as a token bucket. Frames that arrive faster than the limit are not a
 * reason to close by themselves: a relay that paused (a long GC, CPU steal) reads a compliant
 * client's queued frames all at once. So the bucket holds a burst of two seconds' worth; past it the
 * connection stops reading until the bucket refills, and only a client that keeps it empty for
 * several seconds, or is far over it in one go (a burst of thousands), is closed.
 */

export type FloodVerdict = 'ok' | 'pause' | 'close';

export interface FloodGuardOptions {
  /** Sustained frames per second. */
  readonly perSecond: number;
  /** Clock in ms (performance.now by default). */
  readonly now?: () => number;
}

/** Seconds of frames the bucket holds when full. */
const BURST_SECONDS = 2;
/** Frames beyond an empty bucket, in seconds of the limit, that close the connection at once. */
const MAX_DEBT_SECONDS = 2;
/** How long a connection may stay throttled (its bucket never half full again) before it is closed. */
export const MAX_THROTTLED_MS = 3000;
/** Reading resumes once this many seconds of frames are available again. */
const RESUME_AT_SECONDS = 0.1;

export class FloodGuard {
  private readonly perMs: number;
  private readonly burst: number;
  private readonly maxDebt: number;
  private readonly resumeAt: number;
  private readonly now: () => number;
  private tokens: number;
  private last: number;
  /** When the bucket first ran dry in the current throttled spell (undefined: not throttled). */
  private throttledSince: number | undefined;

  constructor(options: FloodGuardOptions) {
    this.perMs = options.perSecond / 1000;
    this.burst = options.perSecond * BURST_SECONDS;
    this.maxDebt = options.perSecond * MAX_DEBT_SECONDS;
    this.resumeAt = Math.max(1, options.perSecond * RESUME_AT_SECONDS);
    this.now = options.now ?? (() => performance.now());
    this.tokens = this.burst;
    this.last = this.now();
  }

  /** Counts one frame: `ok`, `pause` (stop reading for `resumeInMs()`), or `close` (a flood). */
  take(): FloodVerdict {
    const now = this.refill();
    this.tokens -= 1;
    if (this.tokens >= 0) return 'ok';
    this.throttledSince ??= now;
    if (-this.tokens > this.maxDebt || now - this.throttledSince > MAX_THROTTLED_MS) return 'close';
    return 'pause';
  }

  /** Milliseconds until enough frames are allowed again to resume reading. */
  resumeInMs(): number {
    this.refill();
    return Math.max(0, Math.ceil((this.resumeAt - this.tokens) / this.perMs));
  }

  private refill(): number {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.perMs);
    this.last = now;
    // A client that let the bucket fill to half again is no longer being throttled.
    if (this.throttledSince !== undefined && this.tokens >= this.burst / 2) this.throttledSince = undefined;
    return now;
  }
}
