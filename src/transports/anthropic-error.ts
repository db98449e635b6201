/** Errors the relay answers itself on the Anthropic-compatible routes, in Anthropic's own shape. */
import { type ErrorCode, toRelayError } from '../core/errors.js';

/** Anthropic's error type for a relay error code; anything unlisted goes by its status. */
const ANTHROPIC_ERROR_TYPES: Partial<Record<ErrorCode, string>> = {
  invalid_request: 'invalid_request_error',
  unauthorized: 'authentication_error',
  forbidden: 'permission_error',
  not_found: 'not_found_error',
  payload_too_large: 'request_too_large',
  rate_limited: 'rate_limit_error',
  limit_exceeded: 'rate_limit_error',
  quota_exceeded: 'rate_limit_error',
  upstream_overloaded: 'overloaded_error',
  overloaded: 'overloaded_error',
  upstream_timeout: 'timeout_error',
  // Temporary, and SDKs retry it: the same type the drain's `error` event carries.
  shutting_down: 'overloaded_error',
};

/**
 * An error the relay itself answers, in Anthropic's shape (`{"type":"error","error":{type,message}}`)
 * so SDK clients parse it into their own error classes and retry what is retryable.
 */
export function anthropicErrorResponse(err: unknown): Response {
  const error = toRelayError(err);
  const type =
    ANTHROPIC_ERROR_TYPES[error.code] ?? (error.status >= 500 ? 'api_error' : 'invalid_request_error');
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-should-retry': String(error.retryable),
  };
  if (error.retryAfterMs !== undefined) headers['retry-after'] = String(Math.ceil(error.retryAfterMs / 1000));
  const body = { type: 'error', error: { type, message: error.message } };
  return new Response(JSON.stringify(body), { status: error.status, headers });
}
