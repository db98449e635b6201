/**
 * What one upstream attempt was, for logs, metrics and traces: where it went, how it ended, the
 * upstream's `request-id` (to match a support ticket), and for a failure its status, Anthropic
 * error type and the connection error's code. Never a key, a prompt or a reply.
 */
import { APIError } from '@anthropic-ai/sdk';
import type { AttemptRecord } from '../core/upstream.js';
import type { AttemptOutcome, AttemptProgress } from './attempt.js';

export function describeAttempt(
  attempt: number,
  startedAt: number,
  upstream: string,
  host: string,
  outcome: AttemptOutcome,
  progress: AttemptProgress,
): AttemptRecord {
  const { requestId, responseId, responseModel } = progress;
  const base = {
    attempt,
    startedAt,
    endedAt: Date.now(),
    upstream,
    host,
    ...(requestId === undefined ? {} : { requestId }),
    ...(responseId === undefined ? {} : { responseId }),
    ...(responseModel === undefined ? {} : { responseModel }),
  };
  if (outcome.kind !== 'failed') return { ...base, outcome: outcome.kind };
  const { error, reason } = outcome.failure;
  const api = findCause(error.cause, (e): e is APIError => e instanceof APIError);
  const status = api?.status;
  const apiRequestId = api?.headers?.get('request-id') ?? undefined;
  const errorType = api?.type ?? undefined;
  const connectionCode = findCode(error.cause);
  return {
    ...base,
    ...(apiRequestId === undefined || requestId !== undefined ? {} : { requestId: apiRequestId }),
    outcome: 'failed',
    code: error.code,
    reason,
    ...(status === undefined ? {} : { status }),
    ...(errorType === undefined || errorType === null ? {} : { errorType }),
    ...(connectionCode === undefined ? {} : { cause: connectionCode }),
  };
}

/** The host (and port) of a base URL, for logs: never its credentials or path. */
export function hostOf(baseURL: string): string {
  try {
    return new URL(baseURL).host;
  } catch {
    return 'unknown';
  }
}

function findCause<T>(err: unknown, is: (e: unknown) => e is T): T | undefined {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 6; depth++) {
    if (is(e)) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The first system error code on the cause chain (ECONNREFUSED, ENOTFOUND, UND_ERR_SOCKET, …). */
function findCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 6; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
