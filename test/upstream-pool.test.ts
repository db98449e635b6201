/**
 * The pool's routing and health bookkeeping, on a fake clock: exact weight shares, tiers,
 * cooldown and recovery, 401/403, stickiness, capacity. The relay-level tests (real sockets,
 * several simulated upstreams) are in upstream-pool-relay.test.ts.
 */
import { describe, expect, test } from 'vitest';
import { RelayError } from '../src/core/errors.js';
import { type PoolChange, type PoolMember, UpstreamPool } from '../src/upstream/pool.js';
import type { AttemptFailure } from '../src/upstream/retry-policy.js';

function member(name: string, extra: Partial<PoolMember> = {}): PoolMember {
  return { name, priority: 0, weight: 1, ...extra };
}

function pool(members: PoolMember[], cooldownMs = 5000) {
  const clock = { now: 0 };
  const changes: PoolChange[] = [];
  const p = new UpstreamPool(members, {
    cooldownMs,
    now: () => clock.now,
    onChange: (c) => changes.push(c),
  });
  return { p, clock, changes };
}

const transient = (retryAfterMs?: number): AttemptFailure => ({
  error: new RelayError('upstream_overloaded', 'upstream answered 529', {
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  }),
  retry: true,
  reason: 'upstream_overloaded (529)',
});
const refused = (code: 'unauthorized' | 'forbidden'): AttemptFailure => ({
  error: new RelayError(code, 'upstream answered 401'),
  retry: false,
  reason: `${code} (401)`,
});
const badRequest: AttemptFailure = {
  error: new RelayError('invalid_request', 'upstream answered 400'),
  retry: false,
  reason: 'invalid_request (400)',
};

/** Picks for `model`, runs an attempt there that ends with `report`, returns the name. */
function attempt(p: UpstreamPool, report: 'ok' | AttemptFailure, model = 'm'): string {
  const choice = p.choose(model);
  if (!choice.ok) throw choice.failure.error;
  p.begin(choice.name).end(
    report === 'ok' ? { kind: 'ok', latencyMs: 10 } : { kind: 'failed', failure: report },
  );
  return choice.name;
}

function stateOf(p: UpstreamPool, name: string) {
  return p.status().find((s) => s.name === name)?.state;
}

describe('routing', () => {
  test('weights 3:1 give exact 3:1 shares, interleaved', () => {
    const { p } = pool([member('a', { weight: 3 }), member('b', { weight: 1 })]);
    const picks = Array.from({ length: 400 }, () => attempt(p, 'ok'));
    expect(picks.filter((n) => n === 'a')).toHaveLength(300);
    // Smooth round-robin: never more than three a's in a row.
    expect(picks.join('')).not.toContain('aaaa');
  });

  test('the highest-priority tier with a healthy upstream takes everything', () => {
    const { p } = pool([member('backup', { priority: 1, weight: 100 }), member('main'), member('main2')]);
    const picks = Array.from({ length: 50 }, () => attempt(p, 'ok'));
    expect(new Set(picks)).toEqual(new Set(['main', 'main2']));
  });

  test('upstreams the stream already tried come last, whatever their tier', () => {
    const { p } = pool([member('a'), member('b', { priority: 1 })]);
    expect(p.choose('m', { tried: new Set(['a']) })).toEqual({ ok: true, name: 'b' });
    // Everything tried: the best of them again (the retry loop backs off then).
    expect(p.choose('m', { tried: new Set(['a', 'b']) })).toEqual({ ok: true, name: 'a' });
  });

  test('only upstreams serving the model are chosen; none serving it is a clear invalid_request', () => {
    const { p } = pool([member('a', { models: ['m1'] }), member('b', { models: ['m2'] })]);
    expect(p.choose('m2')).toEqual({ ok: true, name: 'b' });
    const none = p.choose('m3');
    expect(none.ok).toBe(false);
    if (!none.ok) {
      expect(none.failure.error.code).toBe('invalid_request');
      expect(none.failure.error.message).toContain('"m3"');
      expect(none.failure.retry).toBe(false);
    }
  });

  test('an upstream at max_concurrent is skipped; all full is a retryable upstream_overloaded', () => {
    const { p } = pool([member('a', { maxConcurrent: 1 }), member('b', { maxConcurrent: 1 })]);
    const first = p.choose('m');
    if (!first.ok) throw new Error('no choice');
    const lease = p.begin(first.name);
    const second = p.choose('m');
    expect(second.ok && second.name).not.toBe(first.name);
    if (!second.ok) throw new Error('no choice');
    p.begin(second.name);
    const full = p.choose('m');
    expect(full.ok).toBe(false);
    if (!full.ok) {
      expect(full.failure.error.code).toBe('upstream_overloaded');
      expect(full.failure.retry).toBe(true);
    }
    lease.end({ kind: 'neutral' });
    expect(p.choose('m')).toEqual({ ok: true, name: first.name });
  });

  test('a conversation stays on its upstream while it is healthy, and moves when it is not', () => {
    const { p } = pool([member('a'), member('b'), member('c')]);
    p.remember('conv', 'b');
    for (let i = 0; i < 10; i++) expect(p.choose('m', { affinity: 'conv' })).toEqual({ ok: true, name: 'b' });
    for (let i = 0; i < 3; i++) p.begin('b').end({ kind: 'failed', failure: transient() });
    expect(stateOf(p, 'b')).toBe('cooling');
    const moved = p.choose('m', { affinity: 'conv' });
    expect(moved.ok && moved.name).not.toBe('b');
  });

  test('remembered conversations are bounded, oldest forgotten first', () => {
    const p = new UpstreamPool([member('a'), member('b')], { cooldownMs: 1, affinityLimit: 2 });
    p.remember('c1', 'b');
    p.remember('c2', 'b');
    p.remember('c3', 'b');
    // c1 was forgotten: round-robin from a fresh start picks a first.
    expect(p.choose('m', { affinity: 'c1' })).toEqual({ ok: true, name: 'a' });
    expect(p.choose('m', { affinity: 'c3' })).toEqual({ ok: true, name: 'b' });
  });
});

describe('health', () => {
  test('three failures in a row cool an upstream; after the cooldown it is back, on probation', () => {
    const { p, clock, changes } = pool([member('a', { weight: 1000 }), member('b')]);
    for (let i = 0; i < 2; i++) p.begin('a').end({ kind: 'failed', failure: transient() });
    expect(stateOf(p, 'a')).toBe('healthy');
    p.begin('a').end({ kind: 'failed', failure: transient() });
    expect(stateOf(p, 'a')).toBe('cooling');
    expect(p.status().find((s) => s.name === 'a')?.coolingMs).toBe(5000);
    expect(changes.at(-1)).toMatchObject({
      upstream: 'a',
      state: 'cooling',
      message: 'upstream cooling down',
    });
    // While it rests nothing goes there.
    for (let i = 0; i < 20; i++) expect(attempt(p, 'ok')).toBe('b');
    clock.now = 5000;
    expect(stateOf(p, 'a')).toBe('healthy');
    expect(changes.at(-1)).toMatchObject({ upstream: 'a', state: 'healthy' });
    // On probation, one more failure is enough.
    p.begin('a').end({ kind: 'failed', failure: transient() });
    expect(stateOf(p, 'a')).toBe('cooling');
    clock.now = 10_000;
    // A success ends the probation: one failure no longer cools it.
    p.begin('a').end({ kind: 'ok' });
    p.begin('a').end({ kind: 'failed', failure: transient() });
    expect(stateOf(p, 'a')).toBe('healthy');
  });

  test('half of its attempts failing within a minute cools an upstream too', () => {
    const { p } = pool([member('a'), member('b')]);
    for (let i = 0; i < 2; i++) {
      p.begin('a').end({ kind: 'ok' });
      p.begin('a').end({ kind: 'failed', failure: transient() });
    }
    expect(stateOf(p, 'a')).toBe('cooling');
  });

  test('failures older than a minute are forgotten', () => {
    const { p, clock } = pool([member('a'), member('b')]);
    p.begin('a').end({ kind: 'ok' });
    p.begin('a').end({ kind: 'failed', failure: transient() });
    p.begin('a').end({ kind: 'ok' });
    clock.now = 61_000;
    p.begin('a').end({ kind: 'ok' });
    p.begin('a').end({ kind: 'failed', failure: transient() });
    // 1 of the 2 attempts in the last minute: under the 4-attempt minimum.
    expect(stateOf(p, 'a')).toBe('healthy');
  });

  test('the cooldown lasts at least the retry-after', () => {
    const { p } = pool([member('a'), member('b')], 100);
    for (let i = 0; i < 3; i++) p.begin('a').end({ kind: 'failed', failure: transient(30_000) });
    expect(p.status().find((s) => s.name === 'a')?.coolingMs).toBe(30_000);
  });

  test('the only healthy upstream is never cooled', () => {
    const { p } = pool([member('a'), member('b')]);
    for (let i = 0; i < 3; i++) p.begin('a').end({ kind: 'failed', failure: transient() });
    expect(stateOf(p, 'a')).toBe('cooling');
    for (let i = 0; i < 10; i++) p.begin('b').end({ kind: 'failed', failure: transient() });
    expect(stateOf(p, 'b')).toBe('healthy');
  });

  test('a request the upstream rightly refused (400) says nothing of its health', () => {
    const { p } = pool([member('a'), member('b')]);
    for (let i = 0; i < 10; i++) p.begin('a').end({ kind: 'failed', failure: badRequest });
    expect(stateOf(p, 'a')).toBe('healthy');
    expect(p.status().find((s) => s.name === 'a')?.failures).toBe(0);
  });

  test('401 and 403 disable an upstream for good, with a reason; the last one standing is kept', () => {
    const { p, clock, changes } = pool([member('a'), member('b'), member('c')]);
    p.begin('a').end({ kind: 'failed', failure: refused('unauthorized') });
    expect(stateOf(p, 'a')).toBe('disabled');
    expect(changes.at(-1)).toMatchObject({
      upstream: 'a',
      state: 'disabled',
      reason: "the upstream refused the relay's key (unauthorized (401))",
    });
    clock.now = 3_600_000;
    expect(stateOf(p, 'a')).toBe('disabled');
    p.begin('b').end({ kind: 'failed', failure: refused('forbidden') });
    expect(stateOf(p, 'b')).toBe('disabled');
    p.begin('c').end({ kind: 'failed', failure: refused('unauthorized') });
    expect(stateOf(p, 'c')).toBe('healthy');
    expect(changes.at(-1)?.message).toContain('kept');
    for (let i = 0; i < 5; i++) expect(attempt(p, 'ok')).toBe('c');
    expect(p.readiness()).toEqual({ ok: true, detail: 'a disabled, b disabled, c healthy' });
  });

  test('status counts attempts, failures and in-flight attempts, and smooths latency', () => {
    const { p } = pool([member('a')]);
    const lease = p.begin('a');
    expect(p.status()[0]?.inFlight).toBe(1);
    lease.end({ kind: 'ok', latencyMs: 100 });
    lease.end({ kind: 'ok', latencyMs: 100 });
    p.begin('a').end({ kind: 'ok', latencyMs: 200 });
    p.begin('a').end({ kind: 'failed', failure: transient() });
    expect(p.status()[0]).toMatchObject({ inFlight: 0, attempts: 3, failures: 1, latencyMs: 120 });
  });
});
