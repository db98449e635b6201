/**
 * The contract every Limiter keeps (src/core/limiter.ts), over real time. Each implementation runs
 * it: `describeLimiter('memory', factory)`. The factory gives two instances on one backend (the same
 * object twice for a limiter that is not shared): limits must hold across them. A settle on one
 * instance may take a moment to be seen by the other, so cross-instance admissions after a settle
 * are awaited (bounded); everything else is asserted at once. Each test uses its own principals.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RelayError } from '../src/core/errors.js';
import type { Lease, Limiter } from '../src/core/limiter.js';
import type { Limits } from '../src/core/principal.js';

export interface LimitersUnderTest {
  readonly limiters: readonly [Limiter, Limiter];
  close(): Promise<void>;
}

export type LimiterFactory = () => Promise<LimitersUnderTest>;

export async function refusal(p: Promise<unknown>): Promise<RelayError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RelayError);
  return err as RelayError;
}

/** Admitted within `ms` (retrying only quota refusals): for a settle seen through another instance. */
export async function admittedWithin(
  limiter: Limiter,
  principal: string,
  limits: Limits,
  reserve: number,
  ms = 3000,
): Promise<Lease> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await limiter.acquire(principal, limits, reserve);
    } catch (err) {
      if (!(err instanceof RelayError) || err.code !== 'quota_exceeded' || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

export function describeLimiter(name: string, factory: LimiterFactory): void {
  describe(`Limiter contract: ${name}`, () => {
    let under: LimitersUnderTest;
    let a: Limiter;
    let b: Limiter;
    let principal: string;
    beforeEach(async () => {
      under = await factory();
      [a, b] = under.limiters;
      principal = `key:${randomUUID()}`;
    });
    afterEach(() => under.close());

    it('holds a concurrency limit across instances, refuses with 429 quota_exceeded and a retry hint, and frees a slot on settle (once)', async () => {
      const limits = { concurrentStreams: 2 };
      const first = await a.acquire(principal, limits, 10);
      await b.acquire(principal, limits, 10);
      for (const limiter of [a, b]) {
        const err = await refusal(limiter.acquire(principal, limits, 10));
        expect(err.code).toBe('quota_exceeded');
        expect(err.status).toBe(429);
        expect(err.retryable).toBe(true);
        expect(err.retryAfterMs).toBeGreaterThan(0);
        expect(err.message).toContain('2 concurrent streams');
      }
      first.settle(5);
      first.settle(5); // idempotent: frees one slot, not two
      await a.acquire(principal, limits, 10);
      expect((await refusal(b.acquire(principal, limits, 10))).code).toBe('quota_exceeded');
      expect((await refusal(a.acquire(principal, limits, 10))).code).toBe('quota_exceeded');
    });

    it('a slot freed on one instance is taken on the other', async () => {
      const limits = { concurrentStreams: 1 };
      const held = await a.acquire(principal, limits, 1);
      await refusal(b.acquire(principal, limits, 1));
      held.settle(1);
      (await admittedWithin(b, principal, limits, 1)).settle(1);
    });

    it('counts requests per minute across instances and says when the next one fits (within the minute)', async () => {
      const limits = { requestsPerMinute: 3 };
      (await a.acquire(principal, limits, 0)).settle(0);
      (await b.acquire(principal, limits, 0)).settle(0);
      (await a.acquire(principal, limits, 0)).settle(0);
      for (const limiter of [a, b]) {
        const err = await refusal(limiter.acquire(principal, limits, 0));
        expect(err.code).toBe('quota_exceeded');
        expect(err.message).toContain('3 requests');
        expect(err.retryAfterMs).toBeGreaterThan(50_000);
        expect(err.retryAfterMs).toBeLessThanOrEqual(60_000);
      }
    });

    it('reserves max_tokens at start across instances and settles to the real usage', async () => {
      const limits = { tokensPerMinute: 1000 };
      const first = await a.acquire(principal, limits, 600);
      const err = await refusal(b.acquire(principal, limits, 600));
      expect(err.code).toBe('quota_exceeded');
      expect(err.message).toContain('tokens_per_minute (1000)');
      expect(err.retryAfterMs).toBeGreaterThan(50_000);
      expect(err.retryAfterMs).toBeLessThanOrEqual(60_000);
      // 400 still fits exactly (boundary); then nothing does.
      const second = await b.acquire(principal, limits, 400);
      await refusal(a.acquire(principal, limits, 1));
      first.settle(100);
      second.settle(100);
      // 800 free again once both settles are seen.
      await admittedWithin(a, principal, limits, 800);
      await refusal(b.acquire(principal, limits, 1));
    });

    it('a refusal takes nothing: refused requests do not count against the minute', async () => {
      const limits = { concurrentStreams: 1, requestsPerMinute: 2 };
      const held = await a.acquire(principal, limits, 0);
      for (let i = 0; i < 5; i++) await refusal(b.acquire(principal, limits, 0));
      held.settle(0);
      (await admittedWithin(b, principal, limits, 0)).settle(0);
      expect((await refusal(a.acquire(principal, limits, 0))).message).toContain('2 requests');
    });

    it('keeps principals apart', async () => {
      const other = `key:${randomUUID()}`;
      await a.acquire(principal, { concurrentStreams: 1 }, 1);
      await b.acquire(other, { concurrentStreams: 1 }, 1);
      expect((await refusal(b.acquire(principal, { concurrentStreams: 1 }, 1))).code).toBe('quota_exceeded');
      expect((await refusal(a.acquire(other, { concurrentStreams: 1 }, 1))).code).toBe('quota_exceeded');
    });

    it('admits everything for a principal without limits', async () => {
      for (let i = 0; i < 20; i++) await (i % 2 === 0 ? a : b).acquire(principal, {}, 1000);
    });
  });
}
