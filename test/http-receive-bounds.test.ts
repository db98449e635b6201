/**
 * Receiving a request is bounded (headers and body), streaming the answer is not; and the server
 * caps its connections below the descriptor limit so upstream sockets always have room.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionCap } from '../src/connection-cap.js';
import type { RelayServer } from '../src/server.js';
import { startTestRelay } from './helpers/relay.js';
import { readSse } from './helpers/sse.js';
import { WsClient, wsUrl } from './helpers/ws.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens a raw connection; resolves with everything it received once the server closed it, or 'open' after `waitMs`. */
function rawConnection(port: number): { socket: Socket; closed: Promise<string> } {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let received = '';
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString();
  });
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
  return { socket, closed };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    sleep(ms).then(() => {
      throw new Error(`${what} did not happen within ${ms} ms`);
    }),
  ]);
}

let relay: RelayServer;
beforeAll(async () => {
  relay = await startTestRelay({ requestTimeoutMs: 1000, headersTimeoutMs: 500 });
});
afterAll(async () => {
  await relay.close();
});

describe('receiving a request is bounded', () => {
  it('cuts a body trickled a byte at a time (408) within the request timeout', async () => {
    const { socket, closed } = rawConnection(relay.port);
    socket.write(
      'POST /v1/streams HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
    );
    let sent = 1;
    const trickle = setInterval(() => {
      if (!socket.destroyed) {
        socket.write(' ');
        sent++;
      }
    }, 100);
    try {
      const received = await within(closed, 5000, 'the cut');
      expect(received).toMatch(/^HTTP\/1\.1 408/);
      expect(sent).toBeLessThan(1000);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  });

  it('cuts headers trickled a byte at a time within the headers timeout', async () => {
    const { socket, closed } = rawConnection(relay.port);
    const head = `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${'a'.repeat(200)}`;
    let i = 0;
    const trickle = setInterval(() => {
      if (!socket.destroyed && i < head.length) socket.write(head[i++]!);
    }, 50);
    try {
      const received = await within(closed, 5000, 'the cut');
      expect(received).toMatch(/^HTTP\/1\.1 408/);
      expect(i).toBeLessThan(head.length);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  });

  it('does not cut an SSE answer or a WebSocket that outlive the request timeout', async () => {
    const ws = await WsClient.open(wsUrl(relay.url));
    try {
      // ~2.5 s of paced tokens: more than twice the request timeout.
      const res = await fetch(`${relay.url}/v1/streams`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'slow [[sim tokens=10 tps=4]]' }),
      });
      const { frames } = await readSse(res);
      expect(frames.at(-1)?.event).toBe('done');
      ws.send({ type: 'ping', t: 'later' });
      expect((await ws.waitFor((m) => m.type === 'pong')).t).toBe('later');
    } finally {
      await ws.close();
    }
  }, 15_000);
});

describe('the connection cap', () => {
  it('is the configured value, else half the open-file limit less a reserve', () => {
    expect(connectionCap(500, () => 20_000)).toBe(500);
    expect(connectionCap(0, () => 20_000)).toBe(9936);
    expect(connectionCap(0, () => undefined)).toBeUndefined();
  });

  it('closes connections over the cap at once and accepts again once one is gone', async () => {
    const capped = await startTestRelay({ maxConnections: 5 });
    expect(capped.server.maxConnections).toBe(5);
    const held: Socket[] = [];
    try {
      // Fill the cap with idle connections.
      while (held.length < 5) {
        const { socket } = rawConnection(capped.port);
        await new Promise((resolve) => socket.once('connect', resolve));
        held.push(socket);
      }
      await sleep(100);
      const over = rawConnection(capped.port);
      over.socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      expect(await within(over.closed, 5000, 'the refusal')).toBe('');

      held.pop()!.destroy();
      await sleep(100);
      const res = await fetch(`${capped.url}/health`);
      expect(res.status).toBe(200);
    } finally {
      for (const socket of held) socket.destroy();
      await capped.close();
    }
  });
});
