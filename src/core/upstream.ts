/** The seam every upstream implements: the Anthropic SDK adapter, and test fakes. */
import type { ErrorCode } from './errors.js';
import type { ContentEvent, RetryEvent } from './events.js';
import type { UpstreamRequest } from './request.js';
import type { UsageReport } from './usage.js';

/** The fields of usage the upstream just reported; kept by the stream, not written to the log. */
export interface UsageUpdate {
  type: 'usage';
  usage: UsageReport;
}

/** The upstream finished (`message_stop`); the stream's receipt is the usage it reported. */
export interface UpstreamDone {
  type: 'done';
  stop_reason: string | null;
  stop_details?: Record<string, unknown>;
  stop_sequence?: string;
  container?: Record<string, unknown>;
}

/**
 * What an upstream yields. The stream numbers and logs content, retry and done events; usage
 * updates only refresh the receipt. A failure is thrown as a RelayError; an abort ends the
 * iteration (return or throw, either is fine: the stream knows it aborted).
 */
export type UpstreamEvent = ContentEvent | RetryEvent | UpstreamDone | UsageUpdate;

/**
 * What one upstream attempt was, for logs, metrics and traces: where it went, how it ended, the
 * upstream's `request-id` and, for a failure, its cause. Never a key, a prompt or a reply.
 */
export interface AttemptRecord {
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Epoch ms. */
  readonly startedAt: number;
  readonly endedAt: number;
  readonly outcome: 'done' | 'failed' | 'aborted';
  /** The upstream's name in the pool (what logs and metrics show: never a URL or key). */
  readonly upstream: string;
  /** Its host (and port), for trace spans' `server.address`. */
  readonly host: string;
  readonly requestId?: string;
  /** The response's message id and model (`message_start`), once it began: for traces. */
  readonly responseId?: string;
  readonly responseModel?: string;
  /** A failure's relay code, short reason, HTTP status, Anthropic error type, connection error code. */
  readonly code?: ErrorCode;
  readonly reason?: string;
  readonly status?: number;
  readonly errorType?: string;
  readonly cause?: string;
}

/** Told as each upstream attempt ends (before the retry that may follow it). */
export type AttemptObserver = (record: AttemptRecord) => void;

/** What an upstream may use to route a request, besides the request itself. */
export interface UpstreamHints {
  /** Keeps a conversation's turns on one upstream (its prompt cache lives there). */
  readonly affinity?: string;
  /** Told as each upstream attempt ends (logs, metrics, traces). */
  readonly onAttempt?: AttemptObserver;
}

export interface Upstream {
  stream(req: UpstreamRequest, signal: AbortSignal, hints?: UpstreamHints): AsyncIterable<UpstreamEvent>;
  /**
   * Optional: the same events, grouped as they arrived (one array per upstream socket read, never
   * empty), so a stream pays one async step per read instead of one per event through every
   * generator in between. A stream uses it when present; the events and their order are
   * exactly `stream()`'s.
   */
  batches?(
    req: UpstreamRequest,
    signal: AbortSignal,
    hints?: UpstreamHints,
  ): AsyncIterable<readonly UpstreamEvent[]>;
}
