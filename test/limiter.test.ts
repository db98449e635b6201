/** The in-memory Limiter at every boundary, on a fake clock; and the request policy (cap, models). */
import { describe, expect, it } from 'vitest';
import { RelayError } from '../src/core/errors.js';
import { checkRequestPolicy, matchesGlob } from '../src/core/limiter.js';
import { MemoryLimiter } from '../src/core/memory-limiter.js';
import { describeLimiter } from './limiter.contract.js';

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

async function refusal(p: Promise<unknown>): Promise<RelayError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RelayError);
  return err as RelayError;
}

describe('MemoryLimiter', () => {
  it('admits N concurrent streams, refuses the N+1-th with quota_exceeded and a retry hint, admits again after a settle', async () => {
    const limiter = new MemoryLimiter();
    const limits = { concurrentStreams: 2 };
    const a = await limiter.acquire('k', limits, 10);
    await limiter.acquire('k', limits, 10);
    const err = await refusal(limiter.acquire('k', limits, 10));
    expect(err.code).toBe('quota_exceeded');
    expect(err.status).toBe(429);
    expect(err.retryable).toBe(true);
    expect(err.retryAfterMs).toBeGreaterThan(0);
    a.settle(5);
    a.settle(5); // idempotent: frees one slot, not two
    await limiter.acquire('k', limits, 10);
    expect((await refusal(limiter.acquire('k', limits, 10))).code).toBe('quota_exceeded');
  });

  it('keeps principals apart', async () => {
    const limiter = new MemoryLimiter();
    await limiter.acquire('a', { concurrentStreams: 1 }, 1);
    await limiter.acquire('b', { concurrentStreams: 1 }, 1);
    expect((await refusal(limiter.acquire('a', { concurrentStreams: 1 }, 1))).code).toBe('quota_exceeded');
  });

  it('admits N requests per sliding minute and says exactly when the next one fits', async () => {
    const c = clock();
    const limiter = new MemoryLimiter({ now: c.now });
    const limits = { requestsPerMinute: 3 };
    for (let i = 0; i < 3; i++) {
      (await limiter.acquire('k', limits, 0)).settle(0);
      c.advance(10_000);
    }
    // Requests at t=0, 10 s, 20 s; now t=30 s: the first leaves the window at t=60 s.
    const err = await refusal(limiter.acquire('k', limits, 0));
    expect(err.code).toBe('quota_exceeded');
    expect(err.retryAfterMs).toBe(30_000);
    c.advance(29_999);
    await refusal(limiter.acquire('k', limits, 0));
    c.advance(1);
    await limiter.acquire('k', limits, 0);
  });

  it('reserves max_tokens at start and settles to the real usage at the end', async () => {
    const c = clock();
    const limiter = new MemoryLimiter({ now: c.now });
    const limits = { tokensPerMinute: 1000 };
    const first = await limiter.acquire('k', limits, 600);
    // 600 reserved: another 600 would overrun the minute, even though nothing was spent yet.
    const err = await refusal(limiter.acquire('k', limits, 600));
    expect(err.code).toBe('quota_exceeded');
    expect(err.retryAfterMs).toBe(60_000);
    // 400 still fits exactly (boundary).
    const second = await limiter.acquire('k', limits, 400);
    expect((await refusal(limiter.acquire('k', limits, 1))).code).toBe('quota_exceeded');
    first.settle(100); // it really used 100: 500 of the minute are free again
    second.settle(100);
    await limiter.acquire('k', limits, 800);
    expect((await refusal(limiter.acquire('k', limits, 1))).code).toBe('quota_exceeded');
  });

  it('forgets a principal once it is idle and its window has passed', async () => {
    const c = clock();
    const limiter = new MemoryLimiter({ now: c.now });
    (await limiter.acquire('k', { requestsPerMinute: 5 }, 10)).settle(10);
    const running = await limiter.acquire('busy', {}, 0);
    expect(limiter.tracked).toBe(2);
    c.advance(60_001);
    (await limiter.acquire('other', {}, 0)).settle(0);
    // "k" is idle and out of its window; "busy" still runs; "other" is in its window.
    expect(limiter.tracked).toBe(2);
    running.settle(0);
    c.advance(60_001);
    (await limiter.acquire('last', {}, 0)).settle(0);
    expect(limiter.tracked).toBe(1);
  });
});

describe('request policy', () => {
  it('refuses max_tokens above the cap with 400 naming the cap; the cap itself is allowed', () => {
    expect(() => checkRequestPolicy({ maxTokens: 100 }, 'm', 100)).not.toThrow();
    try {
      checkRequestPolicy({ maxTokens: 100 }, 'm', 101);
      expect.unreachable();
    } catch (err) {
      expect((err as RelayError).code).toBe('invalid_request');
      expect((err as RelayError).status).toBe(400);
      expect((err as RelayError).message).toContain('100');
    }
  });

  it('refuses a model outside the globs with 403 forbidden', () => {
    const limits = { models: ['claude-sonnet-*', 'claude-haiku-4'] };
    expect(() => checkRequestPolicy(limits, 'claude-sonnet-5-5', 1)).not.toThrow();
    expect(() => checkRequestPolicy(limits, 'claude-haiku-4', 1)).not.toThrow();
    try {
      checkRequestPolicy(limits, 'claude-opus-4', 1);
      expect.unreachable();
    } catch (err) {
      expect((err as RelayError).code).toBe('forbidden');
      expect((err as RelayError).status).toBe(403);
    }
  });

  it('matches globs with * anywhere and nothing else special', () => {
    expect(matchesGlob('claude-*', 'claude-x')).toBe(true);
    expect(matchesGlob('claude-*', 'claude-')).toBe(true);
    expect(matchesGlob('*-sim', 'claude-sim')).toBe(true);
    expect(matchesGlob('c*d*e', 'claude')).toBe(true);
    expect(matchesGlob('c*d*e', 'clauded')).toBe(false);
    expect(matchesGlob('claude.x', 'claudeXx')).toBe(false);
    expect(matchesGlob('*', 'anything')).toBe(true);
    expect(matchesGlob('a*a', 'a')).toBe(false);
  });
});

describeLimiter('memory', async () => {
  const limiter = new MemoryLimiter();
  return { limiters: [limiter, limiter], close: async () => {} };
});
