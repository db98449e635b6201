/**
 * The in-memory Limiter: exact sliding one-minute windows per principal (every request and every
 * token reservation is remembered for a minute), and a count of running streams. Single process;
 * a shared store implements the same interface for several instances.
 */
import type { Lease, Limiter } from './limiter.js';
import { refusals } from './limiter.js';
import type { Limits } from './principal.js';

const WINDOW_MS = 60_000;

interface Spend {
  readonly at: number;
  tokens: number;
}

interface Usage {
  running: number;
  /** Start times of requests in the window, oldest first. */
  requests: number[];
  /** Token spends in the window, oldest first (reservations until settled). */
  tokens: Spend[];
}

export class MemoryLimiter implements Limiter {
  private readonly usage = new Map<string, Usage>();
  private readonly now: () => number;
  private lastSweep: number;

  constructor(options: { now?: () => number } = {}) {
    this.now = options.now ?? Date.now;
    this.lastSweep = this.now();
  }

  /** Principals currently tracked (tests prove idle ones are forgotten). */
  get tracked(): number {
    return this.usage.size;
  }

  acquire(principalId: string, limits: Limits, reserveTokens: number): Promise<Lease> {
    try {
      return Promise.resolve(this.take(principalId, limits, reserveTokens));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private take(principalId: string, limits: Limits, reserveTokens: number): Lease {
    const now = this.now();
    // Once a window, forget idle principals (no timer: the work rides on requests).
    if (now - this.lastSweep >= WINDOW_MS) this.sweep(now);
    const u = this.usage.get(principalId) ?? { running: 0, requests: [], tokens: [] };
    prune(u, now);

    const { concurrentStreams, requestsPerMinute, tokensPerMinute } = limits;
    if (concurrentStreams !== undefined && u.running >= concurrentStreams) {
      throw refusals.concurrency(concurrentStreams);
    }
    if (requestsPerMinute !== undefined && u.requests.length >= requestsPerMinute) {
      throw refusals.requests(
        requestsPerMinute,
        u.requests[u.requests.length - requestsPerMinute]! + WINDOW_MS - now,
      );
    }
    if (tokensPerMinute !== undefined) {
      const wait = tokenWait(u.tokens, tokensPerMinute - reserveTokens, now);
      if (wait > 0) {
        throw refusals.tokens(tokensPerMinute, reserveTokens, wait);
      }
    }

    u.running++;
    u.requests.push(now);
    const spend: Spend = { at: now, tokens: reserveTokens };
    u.tokens.push(spend);
    this.usage.set(principalId, u);
    let settled = false;
    return {
      settle: (usedTokens: number) => {
        if (settled) return;
        settled = true;
        u.running--;
        spend.tokens = Math.max(0, usedTokens);
        const later = this.now();
        prune(u, later);
        if (isIdle(u)) this.usage.delete(principalId);
      },
    };
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [id, u] of this.usage) {
      prune(u, now);
      if (isIdle(u)) this.usage.delete(id);
    }
  }
}

function prune(u: Usage, now: number): void {
  const since = now - WINDOW_MS;
  let r = 0;
  while (r < u.requests.length && u.requests[r]! <= since) r++;
  if (r > 0) u.requests.splice(0, r);
  let t = 0;
  while (t < u.tokens.length && u.tokens[t]!.at <= since) t++;
  if (t > 0) u.tokens.splice(0, t);
}

function isIdle(u: Usage): boolean {
  return u.running === 0 && u.requests.length === 0 && u.tokens.length === 0;
}

/** How long until the window's spend is at most `room` (0: it already is). */
function tokenWait(spends: readonly Spend[], room: number, now: number): number {
  let total = 0;
  for (const s of spends) total += s.tokens;
  if (total <= room) return 0;
  for (const s of spends) {
    total -= s.tokens;
    if (total <= room) return s.at + WINDOW_MS - now;
  }
  return WINDOW_MS;
}
