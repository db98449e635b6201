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

/**
 * Takes the events of one upstream body chunk, synchronously and in order; returns false once the
 * stream wants no more (it has ended), and the upstream then stops reading. The array is the
 * upstream's again once the call returns (it may be reused for the next chunk): copy to keep.
 */
export type UpstreamSink = (events: readonly UpstreamEvent[]) => boolean;

export interface Upstream {
  stream(req: UpstreamRequest, signal: AbortSignal, hints?: UpstreamHints): AsyncIterable<UpstreamEvent>;
  /**
   * Optional: the same events pushed into `sink` as they are read (one array per body chunk the
   * socket delivered, usually one event; never empty), so a stream pays no async step per read or
   * per event: no iterator
   * promise, no generator resumption, no microtask hop between the socket and the log. A stream
   * uses it when present; the events and their order are exactly `stream()`'s. Resolves once the
   * upstream is finished, stopped by the sink, or aborted; rejects as `stream()` throws (a
   * RelayError for an upstream failure; whatever the sink threw, unchanged).
   */
  push?(req: UpstreamRequest, signal: AbortSignal, sink: UpstreamSink, hints?: UpstreamHints): Promise<void>;
}

/**
 * `stream()` for an upstream that pushes: a queue between the producer and the iterator. A
 * consumer that stops early aborts the producer (as leaving a pull iteration would), so the
 * upstream request closes at once rather than at its next read.
 */
export async function* pulledFrom(
  push: (signal: AbortSignal, sink: UpstreamSink) => Promise<void>,
  signal: AbortSignal,
): AsyncGenerator<UpstreamEvent, void, undefined> {
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(signal.reason);
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  const queue: UpstreamEvent[] = [];
  let wake: (() => void) | undefined;
  let settled = false;
  let failure: { error: unknown } | undefined;
  const ready = (): void => {
    wake?.();
    wake = undefined;
  };
  const sink: UpstreamSink = (events) => {
    queue.push(...events);
    ready();
    return !stop.signal.aborted;
  };
  push(stop.signal, sink).then(
    () => {
      settled = true;
      ready();
    },
    (error: unknown) => {
      failure = { error };
      settled = true;
      ready();
    },
  );
  try {
    for (;;) {
      if (queue.length > 0) {
        yield queue.shift()!;
        continue;
      }
      if (settled) {
        if (failure !== undefined) throw failure.error;
        return;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    stop.abort();
  }
}
