/**
 * Stream and conversation ids cut from the pooled random bytes: the shape clients rely on
 * (prefix + 22 base64url characters = 128 bits), and no id repeated across many pool refills.
 */
import { describe, expect, it } from 'vitest';
import { randomToken } from '../src/core/random-token.js';
import { newConversationId, newStreamId } from '../src/core/streams.js';

describe('random ids', () => {
  it('are 128-bit base64url after their prefix', () => {
    expect(newStreamId()).toMatch(/^str_[A-Za-z0-9_-]{22}$/);
    expect(newConversationId()).toMatch(/^conv_[A-Za-z0-9_-]{22}$/);
  });

  it('never repeat across pool refills (10,000 ids, 39 refills)', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 10_000; i++) ids.add(newStreamId());
    expect(ids.size).toBe(10_000);
  });

  it('gives odd sizes and sizes past the pool their own bytes', () => {
    expect(Buffer.from(randomToken(5), 'base64url')).toHaveLength(5);
    const big = randomToken(10_000);
    expect(Buffer.from(big, 'base64url')).toHaveLength(10_000);
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) seen.add(randomToken(7));
    expect(seen.size).toBe(2000);
  });
});
