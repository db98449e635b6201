/**
 * WebSocket: `{"type":"start","ref","request"}` on the shared `/v1/ws` socket; relay events come
 * back with `stream_id` (and our `ref` on `start`). A drop closes the socket; a new one is opened
 * and `{"type":"resume","stream_id","after":<last seq>}` continues the stream. An unexpected close
 * resumes the same way, a few times, before giving up. A `{"type":"error"}` notice without `seq`
 * (the relay refused the start or the resume) ends the stream with its message.
 * Contract: see protocol.js.
 */
import { unreachable } from './failures.js';
import { DROP_PAUSE_MS, MAX_RECONNECTS, sleep, TERMINAL } from './protocol.js';
import * as connection from './ws-connection.js';

export const label = 'WebSocket';

let refCounter = 0;

/**
 * @param {Record<string, unknown>} request
 * @param {import('./stream-view.js').TransportHandlers} handlers
 */
export function start(request, handlers) {
  refCounter += 1;
  const ref = `web-${refCounter}-${Math.random().toString(36).slice(2, 8)}`;
  let lastSeq = 0;
  let finished = false;
  let cancelWanted = false;
  let resuming = false;

  /** @type {import('./ws-connection.js').WsStreamHandle} */
  const handle = {
    ref,
    streamId: undefined,
    onMessage(message) {
      if (finished) return;
      if (typeof message.seq !== 'number') {
        if (message.type !== 'error') return;
        // The relay cut only this connection's cursor (we read too slowly): the stream goes on.
        if (message.code === 'slow_consumer' && handle.streamId !== undefined && !resuming) {
          void resume(false);
          return;
        }
        fail({ code: String(message.code), message: String(message.message) });
        return;
      }
      if (handle.streamId === undefined && typeof message.stream_id === 'string') {
        handle.streamId = message.stream_id;
        handlers.onOpen({ streamId: message.stream_id });
        if (cancelWanted) sendCancel();
      }
      if (message.seq > lastSeq) lastSeq = message.seq;
      handlers.onEvent(message);
      if (TERMINAL.has(message.type)) end();
    },
    onSocketClosed(info) {
      if (finished || resuming) return;
      if (handle.streamId === undefined) {
        fail({
          code: 'connection_lost',
          message: `the WebSocket closed (code ${info.code}) before the stream started`,
        });
        return;
      }
      void resume(info.deliberate);
    },
  };

  const end = () => {
    finished = true;
    connection.unregister(handle);
  };

  /** @param {import('./failures.js').Failure} failure */
  const fail = (failure) => {
    if (finished) return;
    end();
    handlers.onFail(failure);
  };

  const sendCancel = () => {
    connection.send({ type: 'cancel', stream_id: handle.streamId }).catch(() => {});
  };

  /** @param {boolean} deliberate */
  const resume = async (deliberate) => {
    resuming = true;
    for (let attempt = 1; !finished; attempt++) {
      await sleep(deliberate ? DROP_PAUSE_MS : 250 * 2 ** attempt);
      try {
        const after = lastSeq;
        await connection.send({ type: 'resume', stream_id: handle.streamId, after });
        resuming = false;
        handlers.onResume({
          after,
          how: deliberate ? 'WebSocket resume' : 'WebSocket resume, after a lost connection',
        });
        return;
      } catch (err) {
        if (attempt >= MAX_RECONNECTS) {
          resuming = false;
          fail(unreachable(err, 'WebSocket /v1/ws'));
          return;
        }
      }
    }
  };

  connection.register(handle);
  connection.send({ type: 'start', ref, request }).catch((err) => fail(unreachable(err, 'WebSocket /v1/ws')));

  return {
    get streamId() {
      return handle.streamId;
    },
    cancel() {
      if (finished) return;
      if (handle.streamId === undefined) cancelWanted = true;
      else sendCancel();
    },
    drop() {
      if (finished || resuming || handle.streamId === undefined) return false;
      if (!connection.dropSocket()) return false;
      handlers.onDrop({ after: lastSeq });
      return true;
    },
  };
}
