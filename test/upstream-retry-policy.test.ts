/** The retry policy's pure parts: backoff, retry-after parsing, classification, the budget rule. */
import { APIError } from '@anthropic-ai/sdk';
import { describe, expect, test } from 'vitest';
import { RelayError } from '../src/core/errors.js';
import {
  type AttemptFailure,
  backoffDelay,
  classifyFailure,
  decideRetry,
  errorEventFailure,
  retryAfterMs,
} from '../src/upstream/retry-policy.js';

const OPTIONS = { budgetMs: 1000, maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 300 };

function statusError(status: number, headers: Record<string, string> = {}, message = 'nope'): APIError {
  return APIError.generate(
    status,
    { type: 'error', error: { type: 'api_error', message } },
    undefined,
    new Headers(headers),
  );
}

describe('backoffDelay', () => {
  test('full jitter: a draw in [0, min(max, base·2^(attempt-1)))', () => {
    expect(backoffDelay(1, 100, 300, () => 0)).toBe(0);
    expect(backoffDelay(1, 100, 300, () => 0.999)).toBe(99);
    expect(backoffDelay(2, 100, 300, () => 0.5)).toBe(100);
    expect(backoffDelay(3, 100, 300, () => 0.999)).toBe(299);
    expect(backoffDelay(30, 100, 300, () => 0.999)).toBe(299);
  });
});

describe('retryAfterMs', () => {
  test('prefers retry-after-ms, then retry-after seconds, then an HTTP date', () => {
    expect(retryAfterMs(new Headers({ 'retry-after-ms': '250', 'retry-after': '9' }))).toBe(250);
    expect(retryAfterMs(new Headers({ 'retry-after': '1.5' }))).toBe(1500);
    expect(retryAfterMs(new Headers({ 'retry-after': '0' }))).toBe(0);
    const inTwoMinutes = new Date(Date.now() + 120_000).toUTCString();
    const fromDate = retryAfterMs(new Headers({ 'retry-after': inTwoMinutes }));
    expect(fromDate).toBeGreaterThan(100_000);
    expect(fromDate).toBeLessThanOrEqual(120_000);
  });

  test('absent or unreadable hints are undefined', () => {
    expect(retryAfterMs(undefined)).toBeUndefined();
    expect(retryAfterMs(new Headers())).toBeUndefined();
    expect(retryAfterMs(new Headers({ 'retry-after': 'soon' }))).toBeUndefined();
    expect(retryAfterMs(new Headers({ 'retry-after-ms': '-5' }))).toBeUndefined();
  });
});

describe('classifyFailure', () => {
  test.each([
    [400, 'invalid_request', false],
    [401, 'unauthorized', false],
    [403, 'forbidden', false],
    [404, 'not_found', false],
    [413, 'payload_too_large', false],
    [408, 'upstream_timeout', true],
    [409, 'upstream_error', true],
    [429, 'rate_limited', true],
    [500, 'upstream_error', true],
    [503, 'upstream_error', true],
    [529, 'upstream_overloaded', true],
  ] as const)('status %i → %s, retried: %s', (status, code, retry) => {
    const f = classifyFailure(statusError(status), []);
    expect(f.error.code).toBe(code);
    expect(f.retry).toBe(retry);
    expect(f.error.retryable).toBe(retry);
  });

  test('x-should-retry: false from the upstream overrides the status table', () => {
    const f = classifyFailure(statusError(503, { 'x-should-retry': 'false' }), []);
    expect(f.retry).toBe(false);
  });

  test('the upstream key and key-like strings never reach the message', () => {
    const key = 'my-private-upstream-key-123';
    const f = classifyFailure(statusError(401, {}, `bad key ${key} (also sk-ant-api03-abcdefghijklmnop)`), [
      key,
    ]);
    expect(f.error.message).not.toContain(key);
    expect(f.error.message).not.toContain('sk-ant-api03');
    expect(f.error.message).toContain('[redacted]');
  });

  test('a mid-stream error event (no status) is classified by its type', () => {
    const event = (type: string) =>
      new APIError(undefined, { type: 'error', error: { type, message: 'x' } }, undefined, new Headers());
    expect(classifyFailure(event('overloaded_error'), []).error.code).toBe('upstream_overloaded');
    expect(classifyFailure(event('rate_limit_error'), []).error.code).toBe('rate_limited');
    expect(classifyFailure(event('api_error'), []).error.code).toBe('upstream_error');
    expect(classifyFailure(event('invalid_request_error'), []).retry).toBe(false);
    expect(classifyFailure(event('brand_new_error'), []).retry).toBe(true);
  });

  test('an error event data is classified from its parsed type, its message scrubbed', () => {
    const data = (type: string, message = 'x') => JSON.stringify({ type: 'error', error: { type, message } });
    expect(errorEventFailure(data('overloaded_error'), []).error.code).toBe('upstream_overloaded');
    expect(errorEventFailure(data('overloaded_error'), []).reason).toBe(
      'upstream_overloaded (overloaded_error event)',
    );
    expect(errorEventFailure(data('rate_limit_error'), []).error.code).toBe('rate_limited');
    expect(errorEventFailure(data('permission_error'), []).retry).toBe(false);
    expect(errorEventFailure(data('brand_new_error'), []).retry).toBe(true);
    const scrubbed = errorEventFailure(data('api_error', 'key sk-mine-0123 leaked'), ['sk-mine-0123']);
    expect(scrubbed.error.message).toBe(
      'the upstream sent an error event (api_error): key [redacted] leaked',
    );
    // Not JSON, or JSON of another shape: an unknown type, transient as far as we can tell.
    for (const bad of ['not json', '{"error":"flat"}', '']) {
      const f = errorEventFailure(bad, []);
      expect(f.error.code).toBe('upstream_error');
      expect(f.retry).toBe(true);
      expect(f.error.message).toBe('the upstream sent an error event');
    }
  });

  test('a bug (not an upstream failure) is internal_error, not retried, message hidden', () => {
    const f = classifyFailure(new RangeError('secret detail'), []);
    expect(f.error.code).toBe('internal_error');
    expect(f.retry).toBe(false);
    expect(f.error.message).toBe('internal error');
  });
});

describe('decideRetry', () => {
  const transient = (retryAfter?: number): AttemptFailure => ({
    error: new RelayError(
      'rate_limited',
      'slow down',
      retryAfter === undefined ? {} : { retryAfterMs: retryAfter },
    ),
    retry: true,
    reason: 'rate_limited (429)',
  });

  test('retries with the backoff while attempts and budget remain', () => {
    expect(decideRetry(transient(), 1, 0, OPTIONS, () => 0.5)).toEqual({ kind: 'retry', delayMs: 50 });
  });

  test('an upstream hint replaces the backoff, even above maxDelayMs', () => {
    expect(decideRetry(transient(700), 1, 0, OPTIONS)).toEqual({ kind: 'retry', delayMs: 700 });
  });

  test('the last attempt fails with the same code and says so', () => {
    const d = decideRetry(transient(), 4, 0, OPTIONS);
    expect(d.kind).toBe('fail');
    if (d.kind === 'fail') {
      expect(d.error.code).toBe('rate_limited');
      expect(d.error.message).toMatch(/gave up after 4 attempt/);
    }
  });

  test('a hint beyond the remaining budget fails at once and keeps retryAfterMs', () => {
    const d = decideRetry(transient(900), 1, 200, OPTIONS);
    expect(d.kind).toBe('fail');
    if (d.kind === 'fail') {
      expect(d.error.retryAfterMs).toBe(900);
      expect(d.error.retryable).toBe(true);
    }
  });

  test('a failure that is not retried fails as it is', () => {
    const error = new RelayError('invalid_request', 'bad', { retryable: false });
    expect(decideRetry({ error, retry: false, reason: 'x' }, 1, 0, OPTIONS)).toEqual({ kind: 'fail', error });
  });
});
