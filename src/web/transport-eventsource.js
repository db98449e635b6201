/**
 * EventSource: `POST /v1/streams` with `Accept: application/json` starts a detached stream and
 * answers `{stream_id, events_url, cancel_url}`; the browser's EventSource reads `events_url`.
 * A drop closes the EventSource and opens a new one at `events_url?after=<last seq>`. The browser's
 * own reconnects (with Last-Event-ID) are shown as resumes; after a few in a row without an event,
 * or when the relay refuses the URL, the page says so instead of retrying forever.
 * Contract: see protocol.js.
 */

import { authHeaders, withTicket } from './auth.js';
import { failureFromResponse, unreachable } from './failures.js';
import { DROP_PAUSE_MS, EVENT_TYPES, MAX_RECONNECTS, postCancel, TERMINAL } from './protocol.js';

export const label = 'EventSource';

/**
 * @param {Record<string, unknown>} request
 * @param {import('./stream-view.js').TransportHandlers} handlers
 */
export function start(request, handlers) {
  /** @type {string | undefined} */
  let streamId;
  /** @type {string | undefined} */
  let eventsUrl;
  let lastSeq = 0;
  let finished = false;
  let cancelWanted = false;
  /** @type {EventSource | undefined} */
  let source;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let reopenTimer;

  /** @param {import('./failures.js').Failure} failure */
  const fail = (failure) => {
    if (finished) return;
    finished = true;
    source?.close();
    handlers.onFail(failure);
  };

  /** @param {MessageEvent} message */
  const onMessage = (message) => {
    if (finished) return;
    const event = JSON.parse(message.data);
    if (typeof event.seq === 'number' && event.seq > lastSeq) lastSeq = event.seq;
    handlers.onEvent(event);
    if (TERMINAL.has(event.type)) {
      finished = true;
      source?.close();
    }
  };

  /** Closed by the relay (404, 410, 204 …): ask the stream's state to say why. */
  const diagnose = async () => {
    try {
      const res = await fetch(`/v1/streams/${encodeURIComponent(streamId ?? '')}`, {
        headers: authHeaders(),
      });
      if (!res.ok) return fail(await failureFromResponse(res));
      const snapshot = await res.json();
      fail({
        code: 'connection_closed',
        message: `the relay closed the event stream after seq ${lastSeq} (stream ${snapshot.state}, last seq ${snapshot.last_seq})`,
      });
    } catch (err) {
      fail(unreachable(err, `GET ${eventsUrl}`));
    }
  };

  /** @param {string} url */
  const open = (url) => {
    const es = new EventSource(url);
    source = es;
    let errorsInARow = 0;
    /** @param {MessageEvent} message */
    const onEvent = (message) => {
      errorsInARow = 0;
      onMessage(message);
    };
    for (const type of EVENT_TYPES) {
      // The relay's own `error` event shares its name with EventSource's connection error.
      if (type !== 'error') es.addEventListener(type, onEvent);
    }
    es.addEventListener('open', () => {
      if (errorsInARow > 0) handlers.onResume({ after: lastSeq, how: 'the browser’s own reconnect' });
    });
    es.addEventListener('error', (e) => {
      if (e instanceof MessageEvent) return onEvent(e);
      if (finished || source !== es) return;
      if (es.readyState === EventSource.CLOSED) return void diagnose();
      errorsInARow += 1;
      if (errorsInARow > MAX_RECONNECTS) {
        fail(unreachable(new Error(`${errorsInARow} reconnects failed`), `EventSource ${eventsUrl}`));
      }
    });
  };

  (async () => {
    /** @type {Response} */
    let res;
    try {
      res = await fetch('/v1/streams', {
        method: 'POST',
        headers: authHeaders({ 'content-type': 'application/json', accept: 'application/json' }),
        body: JSON.stringify(request),
      });
    } catch (err) {
      return fail(unreachable(err, 'POST /v1/streams'));
    }
    if (!res.ok) return fail(await failureFromResponse(res));
    const created = await res.json();
    streamId = String(created.stream_id);
    eventsUrl = String(created.events_url);
    handlers.onOpen({ streamId });
    if (cancelWanted) void postCancel(streamId);
    open(await withTicket(eventsUrl));
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
      if (finished || source === undefined || reopenTimer !== undefined) return false;
      source.close();
      handlers.onDrop({ after: lastSeq });
      reopenTimer = setTimeout(() => {
        reopenTimer = undefined;
        if (finished) return;
        handlers.onResume({ after: lastSeq, how: 'new EventSource ?after=' });
        void withTicket(`${eventsUrl}?after=${lastSeq}`).then(open);
      }, DROP_PAUSE_MS);
      return true;
    },
  };
}
