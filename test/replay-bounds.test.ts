/**
 * Replays and echoes are bounded where they arise (issue 10, items 1 and 2): a cursor writes a
 * bounded batch and waits for the socket, so clients that never read cannot make the relay queue a
 * stream's log once per resume or per request; the WebSocket hard limit is checked after every
 * write; a pong echoes only a small `t`.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamHandle } from '../src/core/streams.js';
import type { RelayServer } from '../src/server.js';
import { startTestRelay } from './helpers/relay.js';
import { startWsHarness, until, WsClient } from './helpers/ws.js';

const MB = 1024 * 1024;
/** ~60,000 simulated tokens: a finished stream whose log is ~3 MB (and ~5 MB as WebSocket frames). */
const BIG = { message: 'Tell me everything [[sim tokens=50000]]', max_tokens: 50_000 };

let relay: RelayServer;
let big: StreamHandle;

beforeAll(async () => {
  relay = await startTestRelay({ graceMs: 60_000 });
  const res = await fetch(`${relay.url}/v1/streams`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(BIG),
  });
  const { stream_id } = (await res.json()) as { stream_id: string };
  big = await relay.registry.open(stream_id);
  await until(() => big.state !== 'running', 30_000, 'the big stream to finish');
  expect(big.state).toBe('done');
  expect(big.lastSeq).toBeGreaterThan(40_000);
}, 60_000);

afterAll(async () => {
  await relay.close();
});

function connections(): Promise<number> {
  return new Promise((resolve, reject) =>
    relay.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
  );
}

async function untilAsync(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function rawSocket(client: WsClient): Socket {
  return (client.ws as unknown as { _socket: Socket })._socket;
}

/** Samples the process RSS while `work` runs; answers the largest growth over the starting value. */
async function rssGrowthDuring(work: (sample: () => void) => Promise<void>): Promise<number> {
  global.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const sample = (): void => {
    peak = Math.max(peak, process.memoryUsage().rss);
  };
  const timer = setInterval(sample, 10);
  try {
    await work(sample);
  } finally {
    clearInterval(timer);
    sample();
  }
  return peak - base;
}

describe('a WebSocket client that never reads', () => {
  it('resuming a large finished stream over and over keeps the relay bounded and is closed with 4008', async () => {
    const ws = await startWsHarness(relay.registry, {
      highWaterBytes: MB,
      hardLimitBytes: 8 * MB,
      heartbeatMs: 300,
    });
    const client = await WsClient.open(ws.url);
    try {
      rawSocket(client).pause();
      let maxBuffered = 0;
      const growth = await rssGrowthDuring(async (sample) => {
        // Before the fix each resume queued the whole log (~5 MB of frames) once more.
        for (let i = 0; i < 40 && client.ws.readyState === client.ws.OPEN; i++) {
          client.send({ type: 'resume', stream_id: big.id, after: 0 });
          await new Promise((resolve) => setTimeout(resolve, 10));
          maxBuffered = Math.max(maxBuffered, ws.transport.stats().bufferedBytes);
          sample();
        }
        await until(() => ws.transport.stats().serverCloses[4008] === 1, 10_000, 'the 4008 close');
      });
      // At most the high-water mark plus one batch (64 KiB by default) sat in the relay's buffer.
      expect(maxBuffered).toBeLessThan(MB + 512 * 1024);
      expect(growth).toBeLessThan(256 * MB);

      rawSocket(client).resume();
      const closed = await client.closed;
      expect(closed.code).toBe(4008);
      expect(closed.reason).toMatch(/slow_consumer/);
    } finally {
      await client.close();
      await ws.close();
    }
  }, 30_000);

  it('is closed with 4008 as soon as a write leaves its buffer over the hard limit, without waiting for a heartbeat', async () => {
    const ws = await startWsHarness(relay.registry, {
      highWaterBytes: 16 * 1024,
      // Above the high-water mark plus one batch (64 KiB of events, ~110 KiB as frames).
      hardLimitBytes: 256 * 1024,
      heartbeatMs: 60_000,
    });
    const client = await WsClient.open(ws.url);
    try {
      rawSocket(client).pause();
      // A replay fills the kernel's buffers and then the relay's up to its high-water mark, where the
      // cursor waits; from then on every pong stays in the relay's own buffer.
      // (Loopback's kernel buffers can hold a whole replay, so it may take a few.)
      for (let i = 0; i < 20 && ws.transport.stats().bufferedBytes <= 16 * 1024; i++) {
        client.send({ type: 'resume', stream_id: big.id, after: 0 });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(ws.transport.stats().bufferedBytes).toBeGreaterThan(16 * 1024);
      const t = 'p'.repeat(900);
      // Each pong is ~930 bytes: a few hundred more go over the 256 KiB hard limit.
      for (let i = 0; i < 1000 && ws.transport.stats().serverCloses[4008] === undefined; i++) {
        client.send({ type: 'ping', t });
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await until(() => ws.transport.stats().serverCloses[4008] === 1, 10_000, 'the 4008 close');
      expect(ws.transport.stats().bufferedBytes).toBeLessThan(256 * 1024 + 4096);
      rawSocket(client).resume();
      expect((await client.closed).code).toBe(4008);
    } finally {
      await client.close();
      await ws.close();
    }
  }, 30_000);
});

describe('ping', () => {
  it('refuses a `t` over 1 KiB of JSON with invalid_message instead of echoing it, and echoes a small one', async () => {
    const ws = await startWsHarness(relay.registry);
    const client = await WsClient.open(ws.url);
    try {
      client.send({ type: 'ping', t: 'x'.repeat(100_000) });
      const refused = await client.waitFor((m) => m.type === 'error');
      expect(refused).toMatchObject({ code: 'invalid_message', retryable: false });
      expect(String(refused.message)).toMatch(/t: at most 1024 bytes/);
      expect(JSON.stringify(refused).length).toBeLessThan(500);
      client.send({ type: 'ping', t: { at: 1, note: 'y'.repeat(900) } });
      const pong = await client.waitFor((m) => m.type === 'pong');
      expect(pong.t).toEqual({ at: 1, note: 'y'.repeat(900) });
      expect(client.messages.filter((m) => m.type === 'pong')).toHaveLength(1);
    } finally {
      await client.close();
      await ws.close();
    }
  });
});

describe('unread SSE replays', () => {
  it('hold one batch each, not the whole log, and still deliver everything once read', async () => {
    const { port } = relay;
    const sockets: Socket[] = [];
    // The relay's side of each connection: what it has queued there is what the bound is about.
    const served: Socket[] = [];
    const onConnection = (socket: Socket): void => {
      served.push(socket);
    };
    relay.server.on('connection', onConnection);
    let queued = 0;
    try {
      const growth = await rssGrowthDuring(async () => {
        for (let i = 0; i < 40; i++) {
          const socket = connect(port, '127.0.0.1');
          socket.on('error', () => {});
          socket.write(`GET /v1/streams/${big.id}/events?after=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
          socket.pause();
          sockets.push(socket);
        }
        await untilAsync(async () => (await connections()) >= 40, 30_000, '40 connections');
        // Let every cursor write what it will write into its unread socket.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        queued = served.reduce((sum, socket) => sum + socket.writableLength, 0);
      });
      relay.server.off('connection', onConnection);
      // Before the fix each response queued the whole log (~3 MB): 40 of them ~120 MB in the relay's
      // socket buffers and ~460 MB of RSS. Now each holds about one batch (64 KiB of events, more with SSE framing) beyond what the
      // kernel took. The RSS bound is coarse (it includes this test process's own noise, which
      // differs between Node 20 and 24); the queued bytes are exact.
      expect(served.length).toBeGreaterThanOrEqual(40);
      expect(queued).toBeLessThan(40 * 128 * 1024);
      expect(growth).toBeLessThan(256 * MB);

      // Reading one of them now gets the whole stream, batch after batch as its socket drains.
      const reader = sockets[0]!;
      let received = '';
      reader.setEncoding('utf8');
      const ended = new Promise<void>((resolve) => reader.once('end', resolve));
      reader.on('data', (chunk: string) => {
        received += chunk;
      });
      reader.resume();
      await Promise.race([
        ended,
        new Promise((_, reject) => setTimeout(() => reject(new Error('replay did not end')), 20_000)),
      ]);
      const ids = [...received.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
      expect(ids).toHaveLength(big.lastSeq);
      expect(ids.at(-1)).toBe(big.lastSeq);
      expect(received).toMatch(/event: done\n/);
    } finally {
      relay.server.off('connection', onConnection);
      for (const socket of sockets) socket.destroy();
    }
  }, 60_000);
});
