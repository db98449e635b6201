/**
 * Who a request comes from, as the core sees it: an id that owns streams and conversations, and
 * the limits that apply to it. How a principal is authenticated is the edge's business.
 */

/** Per-principal limits; an absent field is no limit. */
export interface Limits {
  /** Streams running at once (SSE, WebSocket, classic and /v1/messages calls together). */
  readonly concurrentStreams?: number;
  /** Requests started in any sliding minute. */
  readonly requestsPerMinute?: number;
  /** Input + output tokens in any sliding minute (`max_tokens` reserved at start, settled at the end). */
  readonly tokensPerMinute?: number;
  /** Largest `max_tokens` a request may ask for. */
  readonly maxTokens?: number;
  /** Model globs (`*` any run of characters) the principal may use. */
  readonly models?: readonly string[];
}

export interface Principal {
  /** Stable id: owns streams and conversations, and keys the limiter. */
  readonly id: string;
  readonly limits: Limits;
}

export const NO_LIMITS: Limits = Object.freeze({});

/** Every client when the relay runs without keys (loopback, or RELAY_AUTH=none). */
export const ANONYMOUS: Principal = Object.freeze({ id: 'anonymous', limits: NO_LIMITS });
