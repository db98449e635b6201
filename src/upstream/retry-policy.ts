/**
 * Which upstream failures the relay retries and how long it waits. The relay, not the SDK, owns
 * retries: only it knows whether content already reached a client (after that a retry would
 * duplicate output, so every failure is terminal).
 *
 * Retried before the first content event: connection errors (refused, reset, truncated stream),
 * HTTP 408 / 409 / 429 / 5xx / 529, mid-stream `error` events of a transient type
 * (`overloaded_error`, `rate_limit_error`, `api_error`, `timeout_error`) and the relay's own
 * first-token / idle timeouts. Not retried: every other 4xx, and any answer carrying
 * `x-should-retry: false` (the API's own verdict, which the SDK obeys too).
 */
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
} from '@anthropic-ai/sdk';
import { z } from 'zod';
import { type ErrorCode, RelayError } from '../core/errors.js';

export interface RetryOptions {
  /** Total time from the stream's start within which a retry may still begin. */
  readonly budgetMs: number;
  /** Most attempts per stream (1 = never retry). */
  readonly maxAttempts: number;
  /** Ceiling of the first backoff; doubles per attempt. */
  readonly baseDelayMs: number;
  /** Largest computed backoff (a `retry-after` from the upstream may ask for more). */
  readonly maxDelayMs: number;
}

/** One failed attempt, classified. */
export interface AttemptFailure {
  /** What the client sees if this failure ends the stream (`retryable` set honestly). */
  readonly error: RelayError;
  /** Whether the relay may retry it while no content has been sent. */
  readonly retry: boolean;
  /** Short text for the `retry` event, e.g. `rate_limited (429)`. */
  readonly reason: string;
}

/** The relay's own deadlines (see anthropic.ts). */
export type TimeoutKind = 'first_token' | 'idle';

export type RetryDecision =
  | { readonly kind: 'retry'; readonly delayMs: number }
  | { readonly kind: 'fail'; readonly error: RelayError };

/**
 * Decides what to do after attempt number `attempt` failed, `elapsedMs` after the stream began.
 * Honours the upstream's retry-after hint; otherwise backs off exponentially with full jitter.
 * A retry whose wait does not fit in the remaining budget is not made: the stream fails at once.
 * `failover`: the next attempt goes to another upstream, which has not asked anyone to wait, so
 * it starts at once (while any budget is left).
 */
export function decideRetry(
  failure: AttemptFailure,
  attempt: number,
  elapsedMs: number,
  options: RetryOptions,
  random: () => number = Math.random,
  failover = false,
): RetryDecision {
  if (!failure.retry) return { kind: 'fail', error: failure.error };
  if (attempt >= options.maxAttempts) {
    return { kind: 'fail', error: gaveUp(failure.error, `gave up after ${attempt} attempt(s)`) };
  }
  const remaining = options.budgetMs - elapsedMs;
  if (failover) {
    return remaining > 0
      ? { kind: 'retry', delayMs: 0 }
      : {
          kind: 'fail',
          error: gaveUp(
            failure.error,
            `the retry budget of ${options.budgetMs} ms is spent (${attempt} attempt(s))`,
          ),
        };
  }
  const hinted = failure.error.retryAfterMs;
  const delayMs = hinted ?? backoffDelay(attempt, options.baseDelayMs, options.maxDelayMs, random);
  if (delayMs > remaining) {
    const why =
      hinted === undefined
        ? `the retry budget of ${options.budgetMs} ms is spent`
        : `the upstream asks to wait ${hinted} ms, more than the ${Math.max(0, Math.round(remaining))} ms left of the retry budget`;
    return { kind: 'fail', error: gaveUp(failure.error, `${why} (${attempt} attempt(s))`) };
  }
  return { kind: 'retry', delayMs };
}

/** Full jitter (a random wait in [0, min(max, base·2^(attempt-1)))), which spreads a thundering herd best. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/**
 * The upstream's wait hint in ms: `retry-after-ms` (Anthropic's, preferred as the SDK does), else
 * `retry-after` in seconds or as an HTTP date. Undefined when absent or unreadable.
 */
export function retryAfterMs(headers: Headers | undefined): number | undefined {
  if (headers === undefined) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null) {
    const n = Number.parseFloat(ms);
    if (Number.isFinite(n) && n >= 0) return Math.ceil(n);
  }
  const after = headers.get('retry-after');
  if (after === null) return undefined;
  const seconds = Number.parseFloat(after);
  if (Number.isFinite(seconds) && seconds >= 0 && /^\s*[\d.]+\s*$/.test(after))
    return Math.ceil(seconds * 1000);
  const date = Date.parse(after);
  if (Number.isFinite(date)) return Math.max(0, date - Date.now());
  return undefined;
}

/**
 * Classifies anything an attempt threw. `secrets` (the upstream key) are scrubbed from every
 * message taken from the upstream, though Anthropic's messages never echo it: a compatible
 * upstream might.
 */
export function classifyFailure(err: unknown, secrets: readonly string[]): AttemptFailure {
  if (err instanceof RelayError) return { error: err, retry: err.retryable, reason: err.code };
  if (err instanceof APIConnectionTimeoutError) {
    return failure(
      'upstream_timeout',
      'the upstream did not answer in time',
      true,
      'connection timeout',
      err,
    );
  }
  // An abort the adapter did not ask for (it handles its own); treat like a lost connection.
  if (err instanceof APIUserAbortError || err instanceof APIConnectionError) {
    return failure('upstream_error', 'could not reach the upstream', true, 'connection error', err);
  }
  if (err instanceof APIError) {
    // An APIError without a status is the SDK's own reading of an `error` event.
    return err.status === undefined
      ? eventFailure(err.type ?? undefined, err.apiMessage ?? '', secrets, err)
      : statusFailure(err, err.status, secrets);
  }
  if (isConnectionLoss(err)) {
    return failure(
      'upstream_error',
      'the upstream connection was lost mid-stream',
      true,
      'connection lost',
      err,
    );
  }
  if (err instanceof SyntaxError) {
    return failure(
      'upstream_error',
      'the upstream sent an event that is not JSON',
      true,
      'malformed event',
      err,
    );
  }
  // Not an upstream failure: a bug. Not retried, and its message stays internal.
  return {
    error: new RelayError('internal_error', 'internal error', { cause: err }),
    retry: false,
    reason: 'internal',
  };
}

/** The failure for a relay deadline that fired. */
export function timeoutFailure(kind: TimeoutKind, ms: number): AttemptFailure {
  const message =
    kind === 'first_token'
      ? `the upstream sent no content within ${ms} ms`
      : `the upstream sent nothing for ${ms} ms mid-stream`;
  return failure(
    'upstream_timeout',
    message,
    true,
    kind === 'first_token' ? 'first-token timeout' : 'idle timeout',
  );
}

/** The failure for a stream that ended without `message_stop`. */
export function truncatedFailure(): AttemptFailure {
  return failure(
    'upstream_error',
    'the upstream stream ended without message_stop (truncated)',
    true,
    'truncated',
  );
}

function failure(
  code: ErrorCode,
  message: string,
  retry: boolean,
  detail: string,
  cause?: unknown,
): AttemptFailure {
  const error = new RelayError(code, message, cause === undefined ? {} : { cause });
  return { error, retry, reason: `${code} (${detail})` };
}

interface StatusRule {
  readonly code: ErrorCode;
  readonly retry: boolean;
}

function statusRule(status: number): StatusRule {
  switch (status) {
    case 400:
    case 422:
      return { code: 'invalid_request', retry: false };
    case 401:
      return { code: 'unauthorized', retry: false };
    case 402:
    case 403:
      return { code: 'forbidden', retry: false };
    case 404:
      return { code: 'not_found', retry: false };
    case 413:
      return { code: 'payload_too_large', retry: false };
    case 408:
    case 504:
      return { code: 'upstream_timeout', retry: true };
    case 409:
      return { code: 'upstream_error', retry: true };
    case 429:
      return { code: 'rate_limited', retry: true };
    case 529:
      return { code: 'upstream_overloaded', retry: true };
    default:
      return status >= 500
        ? { code: 'upstream_error', retry: true }
        : { code: 'upstream_error', retry: false };
  }
}

function statusFailure(err: APIError, status: number, secrets: readonly string[]): AttemptFailure {
  const rule = statusRule(status);
  // The API's own verdict wins over the status table (it says false for requests that would fail again).
  const retry = rule.retry && err.headers?.get('x-should-retry') !== 'false';
  const type = err.type ?? undefined;
  const upstream = scrubUpstreamMessage(err.apiMessage ?? '', secrets);
  const message = `upstream answered ${status}${type === undefined ? '' : ` ${type}`}${upstream === '' ? '' : `: ${upstream}`}`;
  const after = retryAfterMs(err.headers);
  const error = new RelayError(rule.code, message, {
    retryable: retry,
    cause: err,
    ...(after === undefined ? {} : { retryAfterMs: after }),
  });
  return { error, retry, reason: `${rule.code} (${status})` };
}

/** Error types of a mid-stream `error` event, by Anthropic's documented meaning. */
function eventRule(type: string | undefined): { code: ErrorCode; retryable: boolean } {
  switch (type) {
    case 'overloaded_error':
      return { code: 'upstream_overloaded', retryable: true };
    case 'rate_limit_error':
      return { code: 'rate_limited', retryable: true };
    case 'invalid_request_error':
    case 'authentication_error':
    case 'billing_error':
    case 'permission_error':
    case 'not_found_error':
    case 'request_too_large':
      // The same request would fail the same way.
      return { code: 'upstream_error', retryable: false };
    default:
      // api_error, timeout_error and types we do not know yet: transient as far as we can tell.
      return { code: 'upstream_error', retryable: true };
  }
}

/**
 * A mid-stream `error` event (`event: error`, data `{"type":"error","error":{"type":…,"message":…}}`),
 * classified from its parsed type. A body that is not such JSON counts as an unknown type.
 */
export function errorEventFailure(data: string, secrets: readonly string[]): AttemptFailure {
  const parsed = errorEventBody.safeParse(parseJson(data));
  const inner = parsed.success ? parsed.data.error : undefined;
  return eventFailure(inner?.type, inner?.message ?? '', secrets);
}

const errorEventBody = z.looseObject({
  error: z.looseObject({ type: z.string().optional(), message: z.string().optional() }),
});

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function eventFailure(
  type: string | undefined,
  apiMessage: string,
  secrets: readonly string[],
  cause?: unknown,
): AttemptFailure {
  const rule = eventRule(type);
  const upstream = scrubUpstreamMessage(apiMessage, secrets);
  const message = `the upstream sent an error event${type === undefined ? '' : ` (${type})`}${upstream === '' ? '' : `: ${upstream}`}`;
  const error = new RelayError(rule.code, message, {
    retryable: rule.retryable,
    ...(cause === undefined ? {} : { cause }),
  });
  return { error, retry: rule.retryable, reason: `${rule.code} (${type ?? 'error'} event)` };
}

const KEY_LIKE = /\b(sk-ant-[A-Za-z0-9_-]{8,}|sk-[A-Za-z0-9_-]{16,})/g;
const MAX_UPSTREAM_MESSAGE = 300;

/** The upstream's own explanation (`error.message`), scrubbed of keys and shortened. */
function scrubUpstreamMessage(message: string, secrets: readonly string[]): string {
  let text = message;
  for (const secret of secrets) if (secret.length >= 4) text = text.split(secret).join('[redacted]');
  text = text.replace(KEY_LIKE, '[redacted]').trim();
  return text.length > MAX_UPSTREAM_MESSAGE ? `${text.slice(0, MAX_UPSTREAM_MESSAGE)}…` : text;
}

/** Undici reports a body cut by the peer as `TypeError: terminated` (cause: a socket error). */
function isConnectionLoss(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (code.startsWith('UND_ERR_') || CONNECTION_CODES.has(code))) return true;
    if (e instanceof TypeError && (e.message === 'terminated' || e.message === 'fetch failed')) return true;
  }
  return false;
}

const CONNECTION_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);

function gaveUp(error: RelayError, why: string): RelayError {
  return new RelayError(error.code, `${error.message}; ${why}`, {
    retryable: error.retryable,
    cause: error.cause,
    ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
  });
}
