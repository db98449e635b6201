/**
 * The page's one WebSocket to `/v1/ws`, shared by every stream that runs over it (the protocol
 * multiplexes streams by `stream_id`; a `start` is matched to its stream by the client's `ref`).
 * It opens lazily, routes each message to the stream it belongs to, and tells every stream when
 * the socket closes, so each can resume on a new one.
 */

/**
 * @typedef {object} WsStreamHandle
 * @property {string} ref
 * @property {string | undefined} streamId
 * @property {(message: Record<string, any>) => void} onMessage
 * @property {(info: { code: number, reason: string, deliberate: boolean }) => void} onSocketClosed
 */

import { withTicket } from './auth.js';

/** @type {WebSocket | undefined} */
let socket;
/** @type {Promise<WebSocket> | undefined} */
let opening;
/** Sockets the page closed on purpose (a drop), so their streams resume at once. */
const dropped = new WeakSet();
/** @type {Set<WsStreamHandle>} */
const handles = new Set();

/**
 * `?frames=batch`: the relay sends every event one flush of a stream holds as one JSON-array
 * message (fewer frames to parse and dispatch); pongs and notices stay single objects.
 */
function url() {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws?frames=batch`;
}

/** @param {string} data */
function dispatch(data) {
  /** @type {Record<string, any> | Record<string, any>[]} */
  let parsed;
  try {
    parsed = JSON.parse(data);
  } catch {
    return;
  }
  if (!Array.isArray(parsed)) {
    route(parsed);
    return;
  }
  for (const message of parsed) route(message);
}

/** @param {Record<string, any>} message */
function route(message) {
  if (message.type === 'pong') return;
  for (const handle of handles) {
    const mine =
      (message.stream_id !== undefined && message.stream_id === handle.streamId) ||
      (message.ref !== undefined && message.ref === handle.ref);
    if (mine) return handle.onMessage(message);
  }
  if (message.type === 'error' && message.seq === undefined) {
    console.warn('relay WebSocket notice:', message.code, message.message);
  }
}

/** @returns {Promise<WebSocket>} an open socket (the current one, or a new one) */
export function connect() {
  if (socket !== undefined && socket.readyState === WebSocket.OPEN) return Promise.resolve(socket);
  // A ticket is single-use: every new socket gets its own.
  opening ??= withTicket(url()).then((address) => openSocket(address));
  return opening;
}

/** @param {string} address @returns {Promise<WebSocket>} */
function openSocket(address) {
  return new Promise((resolve, reject) => {
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
      const info = { code: e.code, reason: e.reason, deliberate: dropped.has(ws) };
      for (const handle of [...handles]) handle.onSocketClosed(info);
    });
  });
}

/** Sends one protocol message, opening the socket first if needed. @param {object} message */
export async function send(message) {
  const ws = await connect();
  ws.send(JSON.stringify(message));
}

/** @param {WsStreamHandle} handle */
export function register(handle) {
  handles.add(handle);
}

/** @param {WsStreamHandle} handle */
export function unregister(handle) {
  handles.delete(handle);
}

/** Closes the socket on purpose; every stream on it resumes on a new one. @returns {boolean} */
export function dropSocket() {
  if (socket === undefined || socket.readyState !== WebSocket.OPEN) return false;
  dropped.add(socket);
  socket.close(4000, 'dropped by the page');
  return true;
}
