/**
 * Errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`
 * (https://platform.openai.com/docs/guides/error-codes), so the `openai` SDKs raise their own
 * error classes (they pick the class from the status). `code` is the relay's stable error code,
 * so clients can match on the same codes as on every other route.
 */
import { type ErrorCode, RelayError, toRelayError } from '../../core/errors.js';
import type { CancelReason, ErrorEvent } from '../../core/events.js';

/** A request field the relay cannot honour; `param` names it as OpenAI does (`messages[0].content`). */
export class InvalidParam extends RelayError {
  readonly param: string;

  constructor(param: string, problem: string) {
    super('invalid_request', `${param}: ${problem}`);
    this.param = param;
  }
}

/** A stream's terminal `error` event as the error it reports. */
export function fromErrorEvent(event: ErrorEvent): RelayError {
  return new RelayError(event.code, event.message, {
    retryable: event.retryable,
    ...(event.retry_after_ms === undefined ? {} : { retryAfterMs: event.retry_after_ms }),
  });
}

/** The body of an OpenAI error (also the payload of a mid-stream error chunk). */
export interface OpenAIErrorObject {
  message: string;
  type: string;
  param: string | null;
  code: string;
}

/**
 * OpenAI's error `type` for a relay code. OpenAI answers client mistakes as `invalid_request_error`
 * and its own failures as `server_error`; the SDK decides by status, these are for people and logs.
 */
const TYPES: { readonly [C in ErrorCode]: string } = {
  invalid_request: 'invalid_request_error',
  invalid_message: 'invalid_request_error',
  unauthorized: 'authentication_error',
  forbidden: 'permission_error',
  not_found: 'invalid_request_error',
  method_not_allowed: 'invalid_request_error',
  upgrade_required: 'invalid_request_error',
  payload_too_large: 'invalid_request_error',
  conflict: 'invalid_request_error',
  limit_exceeded: 'rate_limit_error',
  quota_exceeded: 'rate_limit_error',
  unsupported_media_type: 'invalid_request_error',
  rate_limited: 'rate_limit_error',
  upstream_overloaded: 'server_error',
  upstream_error: 'server_error',
  upstream_timeout: 'server_error',
  slow_consumer: 'server_error',
  replay_unavailable: 'invalid_request_error',
  shutting_down: 'server_error',
  store_unavailable: 'server_error',
  instance_lost: 'server_error',
  overloaded: 'server_error',
  internal_error: 'server_error',
};

/** Statuses OpenAI clients know: Anthropic's 529 (overloaded) is OpenAI's 503. */
function openaiStatus(error: RelayError): number {
  return error.code === 'upstream_overloaded' ? 503 : error.status;
}

export function openaiErrorObject(err: unknown): OpenAIErrorObject {
  const error = toRelayError(err);
  return {
    message: error.message,
    type: TYPES[error.code],
    param: error instanceof InvalidParam ? error.param : null,
    code: error.code,
  };
}

/**
 * An error answered before any stream byte. `x-should-retry` tells the SDK (which otherwise
 * retries every 408/409/429/5xx) whether the same request can succeed later.
 */
export function openaiErrorResponse(err: unknown): Response {
  const error = toRelayError(err);
  return errorResponse(openaiStatus(error), openaiErrorObject(error), error.retryable, error.retryAfterMs);
}

/**
 * A stream cancelled before it answered: by the relay's shutdown (retry elsewhere), its duration
 * limit, or a cancel through `/v1/streams/:id/cancel`. `type` is `stream_cancelled`, `code` the reason.
 */
export function cancelledErrorObject(reason: CancelReason): OpenAIErrorObject {
  return {
    message: `the stream was cancelled (${reason})`,
    type: 'stream_cancelled',
    param: null,
    code: reason,
  };
}

export function cancelledErrorResponse(reason: CancelReason): Response {
  const status = reason === 'timeout' ? 504 : 503;
  return errorResponse(status, cancelledErrorObject(reason), reason === 'shutdown', undefined);
}

function errorResponse(
  status: number,
  error: OpenAIErrorObject,
  retryable: boolean,
  retryAfterMs: number | undefined,
): Response {
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'x-should-retry': String(retryable),
  };
  if (retryAfterMs !== undefined) {
    headers['retry-after-ms'] = String(retryAfterMs);
    headers['retry-after'] = String(Math.ceil(retryAfterMs / 1000));
  }
  return new Response(JSON.stringify({ error }), { status, headers });
}
