/**
 * fetch + SSE: `POST /v1/streams` answers the event stream at once (stream id in `X-Stream-Id`).
 * A drop aborts the fetch; the resume is `GET /v1/streams/:id/events` with `Last-Event-ID` set to
 * the last seq read. An unexpected loss resumes the same way, a few times, before giving up.
 * Contract: see protocol.js.
 */

import { authHeaders } from './auth.js';
import { failureFromResponse, unreachable } from './failures.js';
import { DROP_PAUSE_MS, MAX_RECONNECTS, postCancel, sleep, TERMINAL } from './protocol.js';
import { createSseParser } from './sse-parser.js';

export const label = 'fetch + SSE';

/**
 * @param {Record<string, unknown>} request
 * @param {import('./stream-view.js').TransportHandlers} handlers
 */
export function start(request, handlers) {
  /** @type {string | undefined} */
  let streamId;
  let lastSeq = 0;
  let finished = false;
  let cancelWanted = false;
  let dropping = false;
  /** @type {AbortController | undefined} */
  let controller;
  /** @type {import('./failures.js').Failure | undefined} */
  let lastError;

  /** @param {import('./failures.js').Failure} failure */
  const fail = (failure) => {
    finished = true;
    handlers.onFail(failure);
  };

  /**
   * One HTTP exchange: the first POST (after === undefined) or a resume GET.
   * @param {number | undefined} after
   * @returns {Promise<'ended' | 'failed' | 'dropped' | 'lost' | 'unreachable'>}
   */
  async function connect(after) {
    controller = new AbortController();
    const { signal } = controller;
    const first = after === undefined;
    const url = first ? '/v1/streams' : `/v1/streams/${encodeURIComponent(streamId ?? '')}/events`;
    /** @type {Response} */
    let res;
    try {
      res = await fetch(
        url,
        first
          ? {
              method: 'POST',
              headers: authHeaders({ 'content-type': 'application/json', accept: 'text/event-stream' }),
              body: JSON.stringify(request),
              signal,
            }
          : { headers: authHeaders({ accept: 'text/event-stream', 'last-event-id': String(after) }), signal },
      );
    } catch (err) {
      if (dropping) return 'dropped';
      lastError = unreachable(err, first ? 'POST /v1/streams' : `GET ${url}`);
      return 'unreachable';
    }
    if (!res.ok) {
      fail(await failureFromResponse(res));
      return 'failed';
    }
    if (res.status === 204 || res.body === null) {
      fail({ code: 'nothing_left', message: `the relay has nothing after seq ${lastSeq} for this stream` });
      return 'failed';
    }
    if (first) {
      streamId = res.headers.get('x-stream-id') ?? undefined;
      if (streamId !== undefined) {
        handlers.onOpen({ streamId });
        if (cancelWanted) void postCancel(streamId);
      }
    }

    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const parser = createSseParser();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return dropping ? 'dropped' : 'lost';
        for (const frame of parser.push(decoder.decode(value, { stream: true }))) {
          const event = JSON.parse(frame.data);
          if (typeof event.seq === 'number' && event.seq > lastSeq) lastSeq = event.seq;
          // The start event names the stream even when X-Stream-Id was hidden by a proxy.
          if (streamId === undefined && event.type === 'start') {
            streamId = event.stream_id;
            handlers.onOpen({ streamId: event.stream_id });
            if (cancelWanted) void postCancel(event.stream_id);
          }
          handlers.onEvent(event);
          if (TERMINAL.has(event.type)) {
            finished = true;
            controller.abort();
            return 'ended';
          }
        }
      }
    } catch {
      return dropping ? 'dropped' : 'lost';
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  (async () => {
    let outcome = await connect(undefined);
    let retries = 0;
    while (!finished) {
      if (outcome === 'failed' || outcome === 'ended') return;
      if (outcome === 'unreachable' && streamId === undefined) {
        fail(lastError ?? { code: 'relay_unreachable', message: 'the relay is unreachable' });
        return;
      }
      if (streamId === undefined) {
        fail({ code: 'connection_lost', message: 'the connection closed before the stream started' });
        return;
      }
      if (outcome === 'dropped') {
        retries = 0;
        await sleep(DROP_PAUSE_MS);
      } else {
        retries += 1;
        if (retries > MAX_RECONNECTS) {
          fail(
            lastError ?? {
              code: 'connection_lost',
              message: `lost the connection after seq ${lastSeq} and could not resume (${MAX_RECONNECTS} tries)`,
            },
          );
          return;
        }
        await sleep(250 * 2 ** retries);
      }
      const how = outcome === 'dropped' ? 'Last-Event-ID' : 'Last-Event-ID, after a lost connection';
      dropping = false;
      handlers.onResume({ after: lastSeq, how });
      const seqBefore = lastSeq;
      outcome = await connect(lastSeq);
      if (lastSeq > seqBefore) retries = 0;
    }
  })();

  return {
    get streamId() {
      return streamId;
    },
    cancel() {
      if (finished) return;
      if (streamId === undefined) cancelWanted = true;
      else void postCancel(streamId);
    },
    drop() {
      if (finished || dropping || streamId === undefined) return false;
      dropping = true;
      handlers.onDrop({ after: lastSeq });
      controller?.abort();
      return true;
    },
  };
}
