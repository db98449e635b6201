/**
 * The WebSocket transport: DESIGN.md's `/v1/ws`, an adapter of the core's registry and cursors
 * (the protocol is in ws-protocol.ts, one connection's work in ws-connection.ts).
 *
 * `ws` runs in noServer mode on the HTTP server's 'upgrade' event rather than through
 * @hono/node-server's helper, because the sinks need the raw socket: each batch's frames (framed
 * in ws-frames.ts) go to it in one write, and its 'drain' drives backpressure. Compression stays off: it would cost a copy per event.
 */
import { type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { type ServerOptions, WebSocketServer } from 'ws';
import { RelayError, toRelayError } from '../core/errors.js';
import type { Principal } from '../core/principal.js';
import type { StreamRegistry } from '../core/streams.js';
import type { Logger } from '../logger.js';
import { type Authenticate, authenticateAnonymous } from './authenticate.js';
import { addressKey } from './remote-address.js';
import type { RequestBudget } from './request-budget.js';
import { WsConnection } from './ws-connection.js';
import { type FrameMode, frameModeOf, WS_CLOSE } from './ws-protocol.js';

export const WS_PATH = '/v1/ws';

/** How long a closing handshake may take before `ws` destroys the socket. */
const CLOSE_TIMEOUT_MS = 5000;

/** The protocol a client may name in `Sec-WebSocket-Protocol` (with `relay.bearer.<key>`). */
export const WS_SUBPROTOCOL = 'relay.v1';

/** How long shutdown waits for clients to answer the close handshake before dropping them. */
const SHUTDOWN_CLOSE_MS = 2000;

export interface WsDeps {
  readonly registry: StreamRegistry;
  /** The same function the HTTP routes authenticate with, called before the handshake. */
  readonly authenticate?: Authenticate;
  /** Ping interval; a peer that did not pong since the previous ping is terminated. */
  readonly heartbeatMs: number;
  /** Largest client frame read at all; a bigger one closes the connection with 1009. */
  readonly maxPayloadBytes: number;
  /**
   * Largest frame served (a `start` carries a whole Messages request); a bigger one, up to
   * `maxPayloadBytes`, gets `payload_too_large` for that frame and the connection goes on.
   * Default: `maxPayloadBytes`.
   */
  readonly maxFrameBytes?: number;
  /** Request bytes held at once across the relay; a frame past it gets `overloaded`. */
  readonly requestBudget?: RequestBudget;
  /** Cursors pause while their socket holds more than this. */
  readonly highWaterBytes: number;
  /** A write that leaves more than this in a socket's buffer closes it with 4008. */
  readonly hardLimitBytes: number;
  /** Client frames allowed per second; more closes the connection with 1008. */
  readonly maxMessagesPerSecond: number;
  /** Most streams one connection may have started and still running. */
  readonly maxStreamsPerConnection: number;
  readonly logger?: Logger;
}

export interface WsStats {
  readonly connections: number;
  /** Streams being written to WebSocket clients (one per stream per connection). */
  readonly streams: number;
  /** Bytes queued in user space across every connection. */
  readonly bufferedBytes: number;
  /** Connections the relay closed, by close code (1006 = terminated without a handshake). */
  readonly serverCloses: Readonly<Record<number, number>>;
}

export interface WsTransport {
  stats(): WsStats;
  /**
   * The drain began: idle connections close with 1001 now, the others after their last stream's
   * terminal event; new connections are still accepted (to resume, read state or cancel).
   */
  beginDrain(): void;
  /**
   * Refuses new connections and closes every socket with 1001. Call it after the registry's
   * shutdown, so each stream's terminal event is already on the wire when its socket closes.
   */
  close(): Promise<void>;
}

/** Serves `/v1/ws` on `server`; every other upgrade is answered 404. */
export function attachWebSocket(server: Server, deps: WsDeps): WsTransport {
  // `closeTimeout` is in ws 8.19+ but not yet in @types/ws.
  const options: ServerOptions & { closeTimeout: number } = {
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: deps.maxPayloadBytes,
    // A peer that does not answer our close frame (it stopped reading) is dropped after this,
    // instead of `ws`'s 30 s, so a closed slow consumer does not keep its buffer that long.
    closeTimeout: CLOSE_TIMEOUT_MS,
    // A browser that authenticates with `relay.bearer.<key>` also offers `relay.v1`: select that,
    // so the key is never echoed back in the handshake.
    handleProtocols: (protocols) => (protocols.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false),
  };
  const wss = new WebSocketServer(options);
  const connections = new Set<WsConnection>();
  const serverCloses: Record<number, number> = {};
  let emptied: (() => void) | undefined;
  let closing: Promise<void> | undefined;
  let draining = false;

  // One interval for all connections, not a timer each.
  const heartbeat = setInterval(() => {
    for (const connection of connections) connection.heartbeat();
  }, deps.heartbeatMs);
  heartbeat.unref();

  const authenticate = deps.authenticate ?? authenticateAnonymous;

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // A client resetting mid-handshake must not become an uncaught 'error'.
    socket.on('error', ignore);
    if (pathOf(req.url) !== WS_PATH) {
      refuse(socket, new RelayError('not_found', `no WebSocket endpoint at this path; use ${WS_PATH}`));
      return;
    }
    if (closing !== undefined) {
      refuse(socket, new RelayError('shutting_down', 'the relay is shutting down; retry elsewhere'));
      return;
    }
    // Before authentication, so a bad option does not spend a browser's single-use ticket.
    let frames: FrameMode;
    try {
      frames = frameModeOf(req.url);
    } catch (err) {
      refuse(socket, toRelayError(err));
      return;
    }
    authenticate(req).then(
      (principal) => upgrade(req, socket, head, principal, frames),
      (err: unknown) => {
        if (!(err instanceof RelayError)) deps.logger?.error({ err }, 'authentication failed unexpectedly');
        refuse(socket, toRelayError(err));
      },
    );
  };

  const upgrade = (
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    principal: Principal,
    frames: FrameMode,
  ): void => {
    // The client may have gone, or shutdown begun, while the credentials were checked.
    if (socket.destroyed) return;
    if (closing !== undefined) {
      refuse(socket, new RelayError('shutting_down', 'the relay is shutting down; retry elsewhere'));
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const connection = new WsConnection(ws, socket, {
        registry: deps.registry,
        principal,
        frames,
        highWaterBytes: deps.highWaterBytes,
        hardLimitBytes: deps.hardLimitBytes,
        maxMessagesPerSecond: deps.maxMessagesPerSecond,
        maxStreamsPerConnection: deps.maxStreamsPerConnection,
        address: addressKey(req.socket.remoteAddress),
        maxFrameBytes: deps.maxFrameBytes ?? deps.maxPayloadBytes,
        ...(deps.requestBudget === undefined ? {} : { requestBudget: deps.requestBudget }),
        logger: deps.logger,
        onServerClose: (code) => {
          serverCloses[code] = (serverCloses[code] ?? 0) + 1;
        },
        onClose: (closed) => {
          connections.delete(closed);
          if (connections.size === 0) emptied?.();
        },
      });
      connections.add(connection);
      if (closing !== undefined) connection.close(WS_CLOSE.shutdown, 'shutting down');
      else if (draining) connection.drain(false);
    });
  };
  server.on('upgrade', onUpgrade);

  const close = async (): Promise<void> => {
    clearInterval(heartbeat);
    if (connections.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => {
          emptied = resolve;
          for (const connection of connections) connection.close(WS_CLOSE.shutdown, 'shutting down');
        }),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, SHUTDOWN_CLOSE_MS);
        }),
      ]);
      clearTimeout(timer);
      emptied = undefined;
      for (const connection of connections) connection.terminate();
    }
    server.off('upgrade', onUpgrade);
    wss.close();
  };

  return {
    stats() {
      let streams = 0;
      let bufferedBytes = 0;
      for (const connection of connections) {
        streams += connection.streams;
        bufferedBytes += connection.bufferedAmount;
      }
      return { connections: connections.size, streams, bufferedBytes, serverCloses: { ...serverCloses } };
    },
    beginDrain() {
      draining = true;
      for (const connection of connections) connection.drain(true);
    },
    close() {
      closing ??= close();
      return closing;
    },
  };
}

function pathOf(url: string | undefined): string {
  const path = url ?? '/';
  const query = path.indexOf('?');
  return query === -1 ? path : path.slice(0, query);
}

/** Answers a refused upgrade with the relay's JSON error body, then drops the socket. */
function refuse(socket: Duplex, error: RelayError): void {
  const body = JSON.stringify(error.toBody());
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

function ignore(): void {}
