/**
 * One request/response pair and the few ways the simulator writes to it. Every write records
 * what it did, so the records always agree with the bytes on the wire.
 */
import { once } from 'node:events';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { setImmediate as immediate, setTimeout as sleep } from 'node:timers/promises';
import { type AnthropicErrorType, errorBody, errorTypeForStatus, shouldRetryHeader } from './errors.js';
import { clock, type MutableRecord, type RecordStore, type RequestOutcome } from './records.js';

export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly record: MutableRecord;
  readonly records: RecordStore;
  /** Aborted when the client goes away or the server closes: every wait listens to it. */
  readonly signal: AbortSignal;
  /** The simulated organization, sent as `anthropic-organization-id`. */
  readonly organizationId: string;
}

/** Headers every API answer carries. */
function baseHeaders(ex: Exchange): OutgoingHttpHeaders {
  return { 'request-id': ex.record.id, 'anthropic-organization-id': ex.organizationId };
}

/** Sends the status line and headers now (not on the first body write) and records it. */
export function sendHead(ex: Exchange, status: number, headers: OutgoingHttpHeaders): void {
  ex.res.writeHead(status, { ...baseHeaders(ex), ...headers });
  ex.res.flushHeaders();
  ex.records.update(ex.record, { status, headersSentAt: Date.now() });
}

/** Marks the simulator's side as finished with `outcome`. */
export function finish(ex: Exchange, outcome: RequestOutcome): void {
  ex.records.update(ex.record, { outcome, completedAt: Date.now() });
}

export function sendJson(
  ex: Exchange,
  status: number,
  body: unknown,
  headers: OutgoingHttpHeaders = {},
): void {
  const bytes = Buffer.from(JSON.stringify(body));
  sendHead(ex, status, { 'content-type': 'application/json', 'content-length': bytes.length, ...headers });
  ex.res.end(bytes);
}

export interface ErrorOptions {
  readonly type?: AnthropicErrorType;
  readonly retryAfter?: string;
  readonly retryAfterMs?: number;
  readonly headers?: OutgoingHttpHeaders;
}

/** Anthropic's JSON error body with its status, `request-id`, `x-should-retry` and retry hints. */
export function sendError(ex: Exchange, status: number, message: string, opts: ErrorOptions = {}): void {
  const type = opts.type ?? errorTypeForStatus(status);
  const headers: OutgoingHttpHeaders = { 'x-should-retry': shouldRetryHeader(status), ...opts.headers };
  if (opts.retryAfter !== undefined) headers['retry-after'] = opts.retryAfter;
  if (opts.retryAfterMs !== undefined) headers['retry-after-ms'] = String(opts.retryAfterMs);
  sendJson(ex, status, errorBody(type, message, ex.record.id), headers);
  finish(ex, 'error_status');
}

/** Writes a chunk, waiting for `drain` when the socket is full; false once the client is gone. */
export async function write(ex: Exchange, chunk: string | Buffer): Promise<boolean> {
  if (ex.signal.aborted || ex.res.destroyed) return false;
  if (ex.res.write(chunk)) return true;
  try {
    await once(ex.res, 'drain', { signal: ex.signal });
    return true;
  } catch {
    return false;
  }
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Waits `ms` (0 yields one event-loop turn so a client's close is seen between tokens);
 * false when the exchange was aborted meanwhile. The timer is released on abort.
 */
export async function wait(ex: Exchange, ms: number): Promise<boolean> {
  try {
    // Above 2^31-1 ms node would fire after 1 ms instead; a longer wait is a stall anyway.
    if (ms > 0 && Number.isFinite(ms))
      await sleep(Math.min(ms, MAX_TIMER_MS), undefined, { signal: ex.signal });
    else await immediate(undefined, { signal: ex.signal });
    return true;
  } catch {
    return false;
  }
}

/** Records a token write at this instant. */
export function countToken(ex: Exchange): void {
  ex.records.update(ex.record, { tokensSent: ex.record.tokensSent + 1, lastTokenAtNs: clock().ns });
}

/** Resets the TCP connection (RST, not FIN), as a crashed proxy or a dropped link would. */
export function resetSocket(ex: Exchange): void {
  finish(ex, 'reset');
  const socket = ex.req.socket;
  if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
  else socket.destroy();
}
