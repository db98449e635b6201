/**
 * Lean stream clients for the compare experiments (compare-experiments.js): one per transport,
 * each writing what arrives, and when, into a plain record. Unlike the chat page's transports they
 * recover from a lost connection at once, with no back-off and no pause, so a recovery time is the
 * transport's (EventSource's own `retry: 1000`, a new fetch, a new socket), not a retry policy's.
 * They never drop or reorder events, so the records show any loss or duplicate the relay caused.
 *
 *   start(request, record) → { drop(), stop() }
 *
 * `drop()` is the page cutting its own connection (what a visitor's browser can do); a cut by the
 * network (a test's proxy closing the sockets) is noticed and recovered from the same way.
 */

import { authHeaders, withTicket } from './auth.js';
import { EVENT_TYPES, TERMINAL, TOKEN_TYPES } from './protocol.js';
import { createSseParser } from './sse-parser.js';

/** The transports the experiments compare, by the name the results carry. */
export const COMPARE_TRANSPORTS = ['eventsource', 'fetch-sse', 'ws'];

export const LABELS = { eventsource: 'EventSource', 'fetch-sse': 'fetch + SSE', ws: 'WebSocket' };

/** Reconnects in a row without a new event before a stream is given up. */
const MAX_RECOVERIES = 5;

/**
 * @typedef {object} StreamRecord
 * @property {string} transport
 * @property {number} index
 * @property {number} requestedAt     performance.now() when the request left
 * @property {number | undefined} firstTokenAt
 * @property {number | undefined} endedAt
 * @property {string | undefined} terminal   done, error, cancelled
 * @property {string | undefined} failure    why the client gave up (HTTP status, refused resume)
 * @property {string | undefined} streamId
 * @property {number} lastSeq
 * @property {number[]} seqs          every seq in arrival order (duplicates kept)
 * @property {number[]} times         arrival time of each, parallel to seqs
 * @property {boolean[]} tokens       whether each was a token event, parallel to seqs
 * @property {number} reconnects
 */

/** @param {string} transport @param {number} index @returns {StreamRecord} */
export function newRecord(transport, index) {
  return {
    transport,
    index,
    requestedAt: performance.now(),
    firstTokenAt: undefined,
    endedAt: undefined,
    terminal: undefined,
    failure: undefined,
    streamId: undefined,
    lastSeq: 0,
    seqs: [],
    times: [],
    tokens: [],
    reconnects: 0,
  };
}

/** @param {StreamRecord} record */
export const finished = (record) => record.terminal !== undefined || record.failure !== undefined;

/** @param {StreamRecord} record @param {Record<string, any>} event */
function note(record, event) {
  if (typeof event.seq !== 'number' || finished(record)) return;
  const now = performance.now();
  const token = TOKEN_TYPES.has(event.type);
  record.seqs.push(event.seq);
  record.times.push(now);
  record.tokens.push(token);
  if (event.seq > record.lastSeq) record.lastSeq = event.seq;
  if (token && record.firstTokenAt === undefined) record.firstTokenAt = now;
  if (TERMINAL.has(event.type)) {
    record.terminal = event.type;
    record.endedAt = now;
  }
}

/** @param {StreamRecord} record @param {string} why */
function giveUp(record, why) {
  if (finished(record)) return;
  record.failure = why;
  record.endedAt = performance.now();
}

/** @param {Response} res */
async function refusal(res) {
  const text = await res.text().catch(() => '');
  return `${res.status} ${text.slice(0, 200)}`;
}

/**
 * fetch + SSE: `POST /v1/streams` read as it arrives; after a loss, `GET …/events` with
 * `Last-Event-ID`.
 * @param {Record<string, unknown>} request @param {StreamRecord} record
 */
export function startFetchSse(request, record) {
  let stopped = false;
  /** @type {AbortController | undefined} */
  let controller;

  (async () => {
    let failures = 0;
    for (let first = true; !stopped && !finished(record); first = false) {
      const seqBefore = record.lastSeq;
      controller = new AbortController();
      try {
        const res = first
          ? await fetch('/v1/streams', {
              method: 'POST',
              headers: authHeaders({ 'content-type': 'application/json', accept: 'text/event-stream' }),
              body: JSON.stringify(request),
              signal: controller.signal,
            })
          : await fetch(`/v1/streams/${encodeURIComponent(record.streamId ?? '')}/events`, {
              headers: authHeaders({ accept: 'text/event-stream', 'last-event-id': String(record.lastSeq) }),
              signal: controller.signal,
            });
        if (!res.ok || res.body === null) return giveUp(record, await refusal(res));
        record.streamId ??= res.headers.get('x-stream-id') ?? undefined;
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        const parser = createSseParser();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const frame of parser.push(decoder.decode(value, { stream: true }))) {
            if (frame.event === 'message') continue;
            note(record, JSON.parse(frame.data));
          }
          if (finished(record)) {
            controller.abort();
            return;
          }
        }
      } catch {
        // the connection was cut (by the page or the network): resume below
      }
      if (stopped || finished(record)) return;
      if (record.streamId === undefined)
        return giveUp(record, 'the connection closed before the stream started');
      failures = record.lastSeq > seqBefore ? 1 : failures + 1;
      if (failures > MAX_RECOVERIES) return giveUp(record, `could not resume after seq ${record.lastSeq}`);
      record.reconnects += 1;
    }
  })();

  return {
    drop() {
      controller?.abort();
    },
    stop() {
      stopped = true;
      controller?.abort();
    },
  };
}

/**
 * EventSource: `POST /v1/streams` (`Accept: application/json`) starts a detached stream; an
 * EventSource reads its `events_url`. After a network loss the browser reconnects by itself
 * (`retry: 1000`, `Last-Event-ID`); a page drop closes it and opens a new one at `?after=N`, since
 * a closed EventSource never reconnects.
 * @param {Record<string, unknown>} request @param {StreamRecord} record
 */
export function startEventSource(request, record) {
  let stopped = false;
  /** @type {EventSource | undefined} */
  let source;
  /** @type {string | undefined} */
  let eventsUrl;

  /** @param {string} url */
  const open = (url) => {
    if (stopped || finished(record)) return;
    const es = new EventSource(url);
    source = es;
    let errors = 0;
    /** @param {MessageEvent} message */
    const onEvent = (message) => {
      errors = 0;
      note(record, JSON.parse(message.data));
      if (finished(record)) es.close();
    };
    for (const type of EVENT_TYPES) if (type !== 'error') es.addEventListener(type, onEvent);
    es.addEventListener('error', (e) => {
      // The relay's own `error` event shares its name with EventSource's connection error.
      if (e instanceof MessageEvent) return onEvent(e);
      if (source !== es || stopped || finished(record)) return;
      if (es.readyState === EventSource.CLOSED) return giveUp(record, 'the relay refused the event stream');
      errors += 1;
      record.reconnects += 1;
      if (errors > MAX_RECOVERIES) {
        es.close();
        giveUp(record, `EventSource could not reconnect after seq ${record.lastSeq}`);
      }
    });
  };

  (async () => {
    try {
      const res = await fetch('/v1/streams', {
        method: 'POST',
        headers: authHeaders({ 'content-type': 'application/json', accept: 'application/json' }),
        body: JSON.stringify(request),
      });
      if (!res.ok) return giveUp(record, await refusal(res));
      const created = await res.json();
      record.streamId = String(created.stream_id);
      eventsUrl = String(created.events_url);
      open(await withTicket(eventsUrl));
    } catch (err) {
      giveUp(record, `POST /v1/streams failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  })();

  return {
    drop() {
      if (source === undefined || eventsUrl === undefined || finished(record)) return;
      source.close();
      record.reconnects += 1;
      void withTicket(`${eventsUrl}?after=${record.lastSeq}`).then(open);
    },
    stop() {
      stopped = true;
      source?.close();
    },
  };
}

/**
 * One WebSocket carrying many streams (`start` frames tagged by `ref`, events routed by
 * `stream_id`). When the socket closes with streams unfinished, a new one opens at once and sends a
 * `resume` for each.
 */
export function createWsMux() {
  /** @type {WebSocket | undefined} */
  let socket;
  /** @type {Promise<WebSocket> | undefined} */
  let opening;
  let closed = false;
  let refs = 0;
  /** @type {Map<string, StreamRecord>} */
  const byRef = new Map();
  /** @type {Map<string, StreamRecord>} */
  const byId = new Map();
  /** @type {Map<StreamRecord, { seq: number, tries: number }>} recoveries in a row that brought nothing */
  const tries = new Map();

  const url = () => `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws`;

  /** @param {string} data */
  const dispatch = (data) => {
    const message = JSON.parse(data);
    const record =
      (typeof message.stream_id === 'string' ? byId.get(message.stream_id) : undefined) ??
      (typeof message.ref === 'string' ? byRef.get(message.ref) : undefined);
    if (record === undefined) return;
    if (typeof message.seq !== 'number') {
      if (message.type === 'error') giveUp(record, `${message.code}: ${message.message}`);
      return;
    }
    if (record.streamId === undefined && typeof message.stream_id === 'string') {
      record.streamId = message.stream_id;
      byId.set(message.stream_id, record);
    }
    note(record, message);
  };

  /** @returns {Promise<WebSocket>} */
  const connect = () => {
    if (socket !== undefined && socket.readyState === WebSocket.OPEN) return Promise.resolve(socket);
    opening ??= withTicket(url()).then(
      (address) =>
        new Promise((resolve, reject) => {
          const ws = new WebSocket(address);
          let opened = false;
          ws.addEventListener('open', () => {
            opened = true;
            socket = ws;
            opening = undefined;
            resolve(ws);
          });
          ws.addEventListener('message', (e) => dispatch(String(e.data)));
          ws.addEventListener('close', (e) => {
            if (!opened) {
              opening = undefined;
              reject(new Error(`WebSocket ${url()} could not open (close code ${e.code})`));
              return;
            }
            if (socket === ws) socket = undefined;
            if (!closed) void recover();
          });
        }),
    );
    return opening;
  };

  const recover = async () => {
    const waiting = [...byRef.values()].filter((r) => !finished(r));
    if (waiting.length === 0) return;
    for (const record of waiting) {
      const last = tries.get(record);
      const count = last !== undefined && last.seq === record.lastSeq ? last.tries + 1 : 1;
      tries.set(record, { seq: record.lastSeq, tries: count });
      if (count > MAX_RECOVERIES) giveUp(record, `could not resume after seq ${record.lastSeq}`);
    }
    try {
      const ws = await connect();
      for (const record of waiting) {
        if (finished(record)) continue;
        if (record.streamId === undefined) {
          giveUp(record, 'the WebSocket closed before the stream started');
          continue;
        }
        record.reconnects += 1;
        ws.send(JSON.stringify({ type: 'resume', stream_id: record.streamId, after: record.lastSeq }));
      }
    } catch (err) {
      for (const record of waiting) giveUp(record, err instanceof Error ? err.message : String(err));
    }
  };

  return {
    /** @param {Record<string, unknown>} request @param {StreamRecord} record */
    start(request, record) {
      refs += 1;
      const ref = `cmp-${refs}`;
      byRef.set(ref, record);
      connect()
        .then((ws) => ws.send(JSON.stringify({ type: 'start', ref, request })))
        .catch((err) => giveUp(record, err instanceof Error ? err.message : String(err)));
      return {
        drop() {
          socket?.close(4000, 'dropped by the page');
        },
        stop() {},
      };
    },
    /** Closes the socket for good. */
    close() {
      closed = true;
      socket?.close(1000, 'experiment over');
      opening?.then((ws) => ws.close(1000, 'experiment over')).catch(() => {});
    },
  };
}
