/**
 * Anthropic's error bodies and the status ↔ error type mapping the real API uses
 * (https://docs.claude.com/en/api/errors).
 */

/** Every `error.type` the simulator can produce (Anthropic's list plus `request_too_large`). */
export const ANTHROPIC_ERROR_TYPES = [
  'invalid_request_error',
  'authentication_error',
  'billing_error',
  'permission_error',
  'not_found_error',
  'request_too_large',
  'rate_limit_error',
  'timeout_error',
  'conflict_error',
  'api_error',
  'overloaded_error',
] as const;

export type AnthropicErrorType = (typeof ANTHROPIC_ERROR_TYPES)[number];

/** `{"type":"error","error":{…},"request_id":"req_…"}` exactly as the API sends it. */
export interface AnthropicErrorBody {
  readonly type: 'error';
  readonly error: { readonly type: AnthropicErrorType; readonly message: string };
  readonly request_id: string;
}

export function isAnthropicErrorType(value: string): value is AnthropicErrorType {
  return (ANTHROPIC_ERROR_TYPES as readonly string[]).includes(value);
}

/** The error type the real API pairs with an HTTP status. */
export function errorTypeForStatus(status: number): AnthropicErrorType {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 408:
    case 504:
      return 'timeout_error';
    case 409:
      return 'conflict_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 529:
      return 'overloaded_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

/** The HTTP status that goes with an error type (used when a mid-stream fault hits a non-streaming request). */
export function statusForErrorType(type: AnthropicErrorType): number {
  switch (type) {
    case 'invalid_request_error':
      return 400;
    case 'authentication_error':
      return 401;
    case 'billing_error':
      return 402;
    case 'permission_error':
      return 403;
    case 'not_found_error':
      return 404;
    case 'request_too_large':
      return 413;
    case 'rate_limit_error':
      return 429;
    case 'timeout_error':
      return 504;
    case 'conflict_error':
      return 409;
    case 'api_error':
      return 500;
    case 'overloaded_error':
      return 529;
  }
}

/** The message the real API tends to send for a type when nothing more specific applies. */
export function defaultErrorMessage(type: AnthropicErrorType): string {
  switch (type) {
    case 'invalid_request_error':
      return 'Invalid request';
    case 'authentication_error':
      return 'invalid x-api-key';
    case 'billing_error':
      return 'Your credit balance is too low to access the Anthropic API.';
    case 'permission_error':
      return 'Your API key does not have permission to use the specified resource.';
    case 'not_found_error':
      return 'Not found';
    case 'request_too_large':
      return 'Request exceeds the maximum allowed number of bytes.';
    case 'rate_limit_error':
      return 'Number of request tokens has exceeded your per-minute rate limit.';
    case 'timeout_error':
      return 'Request timed out';
    case 'conflict_error':
      return 'Conflict';
    case 'api_error':
      return 'Internal server error';
    case 'overloaded_error':
      return 'Overloaded';
  }
}

export function errorBody(type: AnthropicErrorType, message: string, requestId: string): AnthropicErrorBody {
  return { type: 'error', error: { type, message }, request_id: requestId };
}

/**
 * `x-should-retry`, which the SDK obeys before its own status rules: the API says `true` for the
 * statuses a client should retry (408, 409, 429, 5xx) and `false` for the rest.
 */
export function shouldRetryHeader(status: number): 'true' | 'false' {
  return status === 408 || status === 409 || status === 429 || status >= 500 ? 'true' : 'false';
}
