/** The seam every upstream implements: the Anthropic SDK adapter, and test fakes. */
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
}

/**
 * What an upstream yields. The stream numbers and logs content, retry and done events; usage
 * updates only refresh the receipt. A failure is thrown as a RelayError; an abort ends the
 * iteration (return or throw, either is fine: the stream knows it aborted).
 */
export type UpstreamEvent = ContentEvent | RetryEvent | UpstreamDone | UsageUpdate;

/** What an upstream may use to route a request, besides the request itself. */
export interface UpstreamHints {
  /** Keeps a conversation's turns on one upstream (its prompt cache lives there). */
  readonly affinity?: string;
}

export interface Upstream {
  stream(req: UpstreamRequest, signal: AbortSignal, hints?: UpstreamHints): AsyncIterable<UpstreamEvent>;
}
