/**
 * What every transport module shares: the relay's event vocabulary and the one contract they
 * all implement, so the page (and race mode) can swap them freely.
 *
 *   start(request, handlers) → { cancel(), drop(), streamId }
 *
 * `request` is the body of `POST /v1/streams`. `handlers`:
 *   onOpen({ streamId })              the relay accepted the request and named the stream
 *   onEvent(event)                    every relay event exactly as received, with its `seq`
 *   onDrop({ after })                 the page cut the connection on purpose (`drop()`)
 *   onResume({ after, how })          a new connection asked for everything after seq `after`
 *   onFail({ code, message, status }) the transport gave up (HTTP error, unreachable, refused)
 * A stream ends with exactly one of: a terminal event (done, error, cancelled) or `onFail`.
 *
 * `cancel()` sends the relay a real cancel (the `cancelled` event then arrives on the stream);
 * `drop()` closes the connection and resumes from the last seq it saw.
 */

import { authHeaders } from './auth.js';

/** Relay event types that end a stream. */
export const TERMINAL = new Set(['done', 'error', 'cancelled']);

/** Every relay event type (DESIGN.md's wire table). */
export const EVENT_TYPES = [
  'start',
  'text',
  'thinking',
  'tool_use',
  'tool_input',
  'retry',
  'done',
  'error',
  'cancelled',
];

/** Events that carry model output: what "tokens" and inter-token gaps count. */
export const TOKEN_TYPES = new Set(['text', 'thinking', 'tool_input']);

/** Milliseconds to wait after a deliberate drop before reconnecting, so the cut is real. */
export const DROP_PAUSE_MS = 300;

/** Reconnect attempts after an unexpected loss before giving up. */
export const MAX_RECONNECTS = 3;

/** @param {number} ms */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Sends the relay a real cancel (`POST /v1/streams/:id/cancel`); the `cancelled` event itself
 * arrives on the stream. A failure here is reported by the stream's own connection.
 * @param {string} streamId
 */
export async function postCancel(streamId) {
  try {
    await fetch(`/v1/streams/${encodeURIComponent(streamId)}/cancel`, {
      method: 'POST',
      headers: authHeaders(),
    });
  } catch {
    // unreachable: the stream's connection says so
  }
}
