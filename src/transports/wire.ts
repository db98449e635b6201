/**
 * The one place relay events become bytes. Both transports send the same JSON object (serialised
 * once, by the stream log); SSE frames it with `id`/`event`/`data` lines, WebSocket adds the
 * stream's id (and the client's `ref` on `start`).
 */
import type { LogEntry } from '../core/stream-log.js';

/**
 * Response headers of every SSE route. `no-transform` keeps proxies from compressing or
 * buffering. The body is delimited by the connection's close rather than chunked (see
 * sse-response.ts), so the connection is announced as closing.
 */
export const SSE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
  connection: 'close',
});

/**
 * First bytes of every SSE response: a comment, so proxies and clients see the stream at once, and
 * a 1 s reconnection delay for EventSource (its default is several seconds).
 */
export const SSE_OPEN = ':ok\nretry: 1000\n\n';

/** Sent on idle SSE connections so intermediaries do not time them out. */
export const SSE_PING = ': ping\n\n';

/** `id: <seq>` / `event: <type>` / `data: <json>` — JSON never holds a raw newline, so one data line. */
export function sseFrame(entry: LogEntry): string {
  return `id: ${entry.seq}\nevent: ${entry.type ?? entry.event.type}\ndata: ${entry.json}\n\n`;
}

/** Several frames joined for one socket write. */
export function sseFrames(entries: readonly LogEntry[]): string {
  if (entries.length === 1) return sseFrame(entries[0]!);
  let out = '';
  for (const entry of entries) out += sseFrame(entry);
  return out;
}

/**
 * The WebSocket message of an event: the log's JSON with `stream_id` (and `ref` on `start`)
 * spliced in front, so the event is never parsed or serialised again. `start` already carries its
 * `stream_id`; adding it twice would make a duplicate JSON key.
 */
export function wsMessage(entry: LogEntry, streamIdJson: string, refJson?: string): string {
  if ((entry.type ?? entry.event.type) === 'start') {
    return refJson === undefined ? entry.json : `{"ref":${refJson},${entry.json.slice(1)}`;
  }
  return `{"stream_id":${streamIdJson},${entry.json.slice(1)}`;
}

/**
 * A batched WebSocket message (`?frames=batch`): the entries' `wsMessage`s as one JSON array, so a
 * cursor flush is one frame however many events it holds.
 */
export function wsBatchMessage(entries: readonly LogEntry[], streamIdJson: string, refJson?: string): string {
  let out = '[';
  for (let i = 0; i < entries.length; i++) {
    if (i > 0) out += ',';
    out += wsMessage(entries[i]!, streamIdJson, refJson);
  }
  return `${out}]`;
}
