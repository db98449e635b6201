/**
 * The limiter seam: per-principal rate and concurrency limits, checked before the upstream is
 * called. One in-memory implementation (memory-limiter.ts); a shared store implements the same
 * interface so limits hold across instances.
 */
import { RelayError } from './errors.js';
import type { Limits } from './principal.js';

/** One admitted request: holds a concurrency slot and a token reservation until settled. */
export interface Lease {
  /** Releases the slot and replaces the reservation with what was really used. Idempotent. */
  settle(usedTokens: number): void;
}

export interface Limiter {
  /**
   * Admits one request of `principalId` under `limits`, reserving `reserveTokens`, or throws
   * `quota_exceeded` (with `retryAfterMs`) without taking anything.
   */
  acquire(principalId: string, limits: Limits, reserveTokens: number): Promise<Lease>;
}

/** A lease with nothing to release. */
export const NO_LEASE: Lease = Object.freeze({ settle() {} });

/** Admits everything (no limits anywhere). */
export const UNLIMITED: Limiter = Object.freeze({ acquire: () => Promise.resolve(NO_LEASE) });

/**
 * The limits that are rules, not rates: a `max_tokens` above the cap is a 400 naming the cap, a
 * model outside the allow-list a 403. Checked before any quota is taken.
 */
export function checkRequestPolicy(limits: Limits, model: string, maxTokens: number): void {
  if (limits.maxTokens !== undefined && maxTokens > limits.maxTokens) {
    throw new RelayError(
      'invalid_request',
      `max_tokens: ${maxTokens} is over this key's cap of ${limits.maxTokens}; ask for at most ${limits.maxTokens}`,
    );
  }
  if (limits.models !== undefined && !limits.models.some((glob) => matchesGlob(glob, model))) {
    throw new RelayError(
      'forbidden',
      `model "${model.slice(0, 256)}" is not allowed for this key (allowed: ${limits.models.join(', ')})`,
    );
  }
  if (limits.tokensPerMinute !== undefined && maxTokens > limits.tokensPerMinute) {
    // Waiting would never help: the reservation alone is over the whole minute's budget.
    throw new RelayError(
      'invalid_request',
      `max_tokens: ${maxTokens} is over this key's tokens_per_minute of ${limits.tokensPerMinute}`,
    );
  }
}

/** `*` matches any run of characters (including none); everything else is literal. */
export function matchesGlob(glob: string, value: string): boolean {
  const parts = glob.split('*');
  if (parts.length === 1) return glob === value;
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (!value.startsWith(first) || value.length < first.length + last.length || !value.endsWith(last)) {
    return false;
  }
  let at = first.length;
  const end = value.length - last.length;
  for (const part of parts.slice(1, -1)) {
    const found = value.indexOf(part, at);
    if (found === -1 || found + part.length > end) return false;
    at = found + part.length;
  }
  return true;
}

/** The refusal every limit answers: 429, retryable, with when to retry. */
export function quotaExceeded(message: string, retryAfterMs: number): RelayError {
  return new RelayError('quota_exceeded', message, { retryAfterMs: Math.max(1, Math.ceil(retryAfterMs)) });
}

/** A concurrency refusal cannot know when a slot frees: it suggests a short wait. */
export const CONCURRENCY_RETRY_MS = 1000;

/** The three refusals, worded once for every Limiter. */
export const refusals = {
  concurrency: (max: number): RelayError =>
    quotaExceeded(
      `this key already runs its limit of ${max} concurrent streams; wait for one to end`,
      CONCURRENCY_RETRY_MS,
    ),
  requests: (max: number, retryAfterMs: number): RelayError =>
    quotaExceeded(`this key made its limit of ${max} requests in the last minute`, retryAfterMs),
  tokens: (max: number, reserve: number, retryAfterMs: number): RelayError =>
    quotaExceeded(
      `this key's tokens_per_minute (${max}) cannot take ${reserve} more tokens now`,
      retryAfterMs,
    ),
};
