/** WebSocket test helpers: a client that keeps every message and waits with deadlines, and a harness. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import type { StreamRegistry } from '../../src/core/streams.js';
import { attachWebSocket, type WsDeps, type WsTransport } from '../../src/transports/ws.js';

export type WsMsg = Record<string, unknown> & {
  type: string;
  seq?: number;
  stream_id?: string;
  ref?: string;
  code?: string;
};

const TERMINAL = new Set(['done', 'error', 'cancelled']);

/** True for a stream's relay event (it has a seq), false for protocol messages (pong, notices). */
export function isEvent(m: WsMsg): boolean {
  return typeof m.seq === 'number';
}

export function isTerminalEvent(m: WsMsg): boolean {
  return isEvent(m) && TERMINAL.has(m.type);
}

export function wsUrl(httpUrl: string): string {
  return `${httpUrl.replace(/^http/, 'ws')}/v1/ws`;
}

let refs = 0;

export class WsClient {
  readonly ws: WebSocket;
  /** Every relay event and protocol message, in order (a batched frame's events one by one). */
  readonly messages: WsMsg[] = [];
  /** Every frame as it came, parsed: an object, or (`?frames=batch`) an array of events. */
  readonly frames: (WsMsg | WsMsg[])[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly wake = new Set<() => void>();

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as WsMsg | WsMsg[];
      this.frames.push(frame);
      if (Array.isArray(frame)) this.messages.push(...frame);
      else this.messages.push(frame);
      for (const wake of [...this.wake]) wake();
    });
    ws.on('error', () => {});
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        for (const wake of [...this.wake]) wake();
      });
    });
  }

  static open(url: string, options: WebSocket.ClientOptions = {}): Promise<WsClient> {
    const ws = new WebSocket(url, options);
    const client = new WsClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The first message, received or to come, that matches; rejects on timeout or when the socket closes first. */
  waitFor(predicate: (m: WsMsg) => boolean, timeoutMs = 5000): Promise<WsMsg> {
    const found = this.messages.find(predicate);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake.delete(check);
      };
      // Each wake looks only at the messages that came since the last one: with hundreds of
      // waiters on one socket, rescanning every message on every wake was quadratic.
      let scanned = this.messages.length;
      const check = (): void => {
        let match: WsMsg | undefined;
        for (; scanned < this.messages.length && match === undefined; scanned++) {
          const m = this.messages[scanned]!;
          if (predicate(m)) match = m;
        }
        if (match !== undefined) {
          done();
          resolve(match);
        } else if (this.ws.readyState === WebSocket.CLOSED) {
          done();
          reject(new Error('socket closed before a matching message'));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching message within ${timeoutMs} ms`));
      }, timeoutMs);
      this.wake.add(check);
    });
  }

  /** Sends `start` and resolves with the stream id from the `start` event that echoes the ref. */
  async start(request: unknown, ref = `r${++refs}`): Promise<string> {
    this.send({ type: 'start', ref, request });
    const start = await this.waitFor((m) => m.type === 'start' && m.ref === ref);
    return start.stream_id!;
  }

  /** The stream's relay events received so far. */
  eventsOf(streamId: string): WsMsg[] {
    return this.messages.filter((m) => m.stream_id === streamId && isEvent(m));
  }

  /** Waits for the stream's terminal event, then answers all its events. */
  async untilTerminal(streamId: string, timeoutMs = 10_000): Promise<WsMsg[]> {
    await this.waitFor((m) => m.stream_id === streamId && isTerminalEvent(m), timeoutMs);
    return this.eventsOf(streamId);
  }

  /** Closes with a handshake; a peer that does not answer within a second (paused socket) is dropped. */
  async close(): Promise<void> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.closed,
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.ws.terminate();
          resolve();
        }, 1000);
      }),
    ]);
    clearTimeout(timer);
    await this.closed;
  }
}

/**
 * A second WebSocket endpoint on its own port over a relay's registry, so a test can read the
 * transport's stats and choose its limits.
 */
export async function startWsHarness(
  registry: StreamRegistry,
  overrides: Partial<Omit<WsDeps, 'registry'>> = {},
): Promise<{ url: string; transport: WsTransport; close(): Promise<void> }> {
  const server = createServer((_req, res) => res.writeHead(404).end());
  const transport = attachWebSocket(server, {
    registry,
    heartbeatMs: 60_000,
    maxPayloadBytes: 256 * 1024,
    highWaterBytes: 64 * 1024,
    hardLimitBytes: 1024 * 1024,
    maxMessagesPerSecond: 10_000,
    maxStreamsPerConnection: 1000,
    ...overrides,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/v1/ws`,
    transport,
    async close() {
      await transport.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `from..to` inclusive. */
export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

/** Polls `check` every few ms until it is true; bounded in time. */
export async function until(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
