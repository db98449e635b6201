/**
 * The closed list of error codes and the one mapping from a code to its HTTP status, whether it is
 * worth retrying, and the WebSocket close code used when it ends a connection.
 */

export const ERROR_CODES = [
  'invalid_request',
  'invalid_message',
  'unauthorized',
  'forbidden',
  'not_found',
  'method_not_allowed',
  'upgrade_required',
  'payload_too_large',
  'conflict',
  'limit_exceeded',
  'quota_exceeded',
  'unsupported_media_type',
  'rate_limited',
  'upstream_overloaded',
  'upstream_error',
  'upstream_timeout',
  'slow_consumer',
  'replay_unavailable',
  'shutting_down',
  'store_unavailable',
  'instance_lost',
  'overloaded',
  'internal_error',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorCodeInfo {
  /** HTTP status when the error is answered before any stream byte. */
  readonly status: number;
  /** Whether repeating the same request later may succeed. */
  readonly retryable: boolean;
  /** WebSocket close code when the error ends a whole connection (1001 going away, 1008 policy, 1009 too big, 1011 internal, 4xxx ours). */
  readonly wsClose: number;
  /** One line for the README's table. */
  readonly description: string;
}

const INFO: { readonly [C in ErrorCode]: ErrorCodeInfo } = {
  invalid_request: {
    status: 400,
    retryable: false,
    wsClose: 1008,
    description: 'The request body or parameters are invalid; the message says which field.',
  },
  invalid_message: {
    status: 400,
    retryable: false,
    wsClose: 1008,
    description: 'A WebSocket frame is not JSON, has an unknown type or fails its schema.',
  },
  unauthorized: {
    status: 401,
    retryable: false,
    wsClose: 4401,
    description: 'Missing or wrong credentials (relay or upstream key).',
  },
  forbidden: {
    status: 403,
    retryable: false,
    wsClose: 4403,
    description: 'The stream belongs to another client, or the upstream refused the key.',
  },
  not_found: {
    status: 404,
    retryable: false,
    wsClose: 4404,
    description: 'Unknown route, or a stream or conversation id that does not exist or has expired.',
  },
  method_not_allowed: {
    status: 405,
    retryable: false,
    wsClose: 1008,
    description: 'The route exists but not with this HTTP method.',
  },
  upgrade_required: {
    status: 426,
    retryable: false,
    wsClose: 1008,
    description: 'A plain HTTP request reached the WebSocket endpoint; connect with a WebSocket client.',
  },
  payload_too_large: {
    status: 413,
    retryable: false,
    wsClose: 1009,
    description: 'Body or frame over the configured size limit (the message names the setting).',
  },
  conflict: {
    status: 409,
    retryable: true,
    wsClose: 4409,
    description: 'The conversation already has a reply streaming; wait for it to end or cancel it.',
  },
  limit_exceeded: {
    status: 429,
    retryable: false,
    wsClose: 4429,
    description:
      'A relay limit was hit (streams held, streams per client address or connection, conversations, turns per conversation).',
  },
  quota_exceeded: {
    status: 429,
    retryable: true,
    wsClose: 4429,
    description:
      'A per-key limit (concurrent streams, requests or tokens per minute) is used up; retry after `retry-after`. The upstream was not called.',
  },
  unsupported_media_type: {
    status: 415,
    retryable: false,
    wsClose: 1008,
    description: 'A POST that takes JSON came without `Content-Type: application/json`.',
  },
  rate_limited: {
    status: 429,
    retryable: true,
    wsClose: 4429,
    description: 'The upstream rate-limited the request and the retry budget ran out.',
  },
  upstream_overloaded: {
    status: 529,
    retryable: true,
    wsClose: 1013,
    description: 'The upstream is overloaded (529 or an overloaded_error event).',
  },
  upstream_error: {
    status: 502,
    retryable: true,
    wsClose: 1011,
    description: 'The upstream failed, answered an error, reset the connection or truncated the stream.',
  },
  upstream_timeout: {
    status: 504,
    retryable: true,
    wsClose: 1011,
    description: 'No first token within the deadline, or the upstream went idle mid-stream.',
  },
  slow_consumer: {
    status: 503,
    retryable: true,
    wsClose: 4008,
    description: 'The client read too slowly and fell too far behind; resume from the last seq it has.',
  },
  replay_unavailable: {
    status: 410,
    retryable: false,
    wsClose: 4410,
    description: 'The events after the requested seq are no longer in the bounded log.',
  },
  shutting_down: {
    status: 503,
    retryable: true,
    wsClose: 1001,
    description: 'The relay is shutting down; retry against another instance.',
  },
  store_unavailable: {
    status: 503,
    retryable: true,
    wsClose: 1011,
    description:
      'The shared stream store (Redis) is unreachable: new streams are refused and running ones end with this error; retry shortly.',
  },
  instance_lost: {
    status: 502,
    retryable: true,
    wsClose: 1011,
    description:
      'The instance generating this stream stopped (crash, host loss); another instance ended the stream with the usage so far. Start it again.',
  },
  overloaded: {
    status: 503,
    retryable: true,
    wsClose: 1013,
    description:
      'The relay already holds its maximum of request bytes being read (RELAY_MAX_REQUEST_BYTES_IN_FLIGHT); retry shortly.',
  },
  internal_error: {
    status: 500,
    retryable: true,
    wsClose: 1011,
    description: 'A bug in the relay; the message never carries internals.',
  },
};

export function errorInfo(code: ErrorCode): ErrorCodeInfo {
  return INFO[code];
}

/** The relay's one error class: a stable code, a message safe to show a client, and retry hints. */
export class RelayError extends Error {
  override readonly name = 'RelayError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** Milliseconds the client should wait before retrying, when known (from the upstream). */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { retryable?: boolean; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? INFO[code].retryable;
    this.retryAfterMs = options.retryAfterMs;
  }

  get status(): number {
    return INFO[this.code].status;
  }

  /** The JSON error body every HTTP route answers: `{"error": {"code", "message"}}`. */
  toBody(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/** Anything thrown becomes a RelayError; unknown errors never leak their message. */
export function toRelayError(err: unknown): RelayError {
  if (err instanceof RelayError) return err;
  return new RelayError('internal_error', 'internal error', { cause: err });
}

/** What every route answers a new stream during a drain: retryable at once, on another instance. */
export function shuttingDown(): RelayError {
  return new RelayError('shutting_down', 'the relay is shutting down; retry on another instance', {
    retryAfterMs: 1000,
  });
}
