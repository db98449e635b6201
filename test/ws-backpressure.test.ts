import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UpstreamRequest } from '../src/core/request.js';
import type { RelayServer } from '../src/server.js';
import { startTestRelay } from './helpers/relay.js';
import { ScriptedUpstream, type ScriptStep } from './helpers/scripted-upstream.js';
import { isEvent, range, startWsHarness, until, WsClient } from './helpers/ws.js';

const KB = 1024;

/**
 * `steady`: 3000 events of 4 KiB, 20 per timer tick (12 MiB, more than loopback's kernel buffers).
 * `burst`: 400 events of 32 KiB in one go, then the upstream hangs (the stream keeps running).
 */
function script(req: UpstreamRequest): ScriptStep[] {
  const prompt = String(req.messages.at(-1)?.content ?? '');
  const steps: ScriptStep[] = [{ type: 'usage', usage: { input_tokens: 5, output_tokens: 1 } }];
  if (prompt.startsWith('burst')) {
    for (let i = 0; i < 400; i++) steps.push({ type: 'text', text: 'b'.repeat(32 * KB), index: 0 });
    steps.push({ hang: true });
    return steps;
  }
  for (let i = 0; i < 3000; i++) {
    if (i % 20 === 0) steps.push({ wait: 1 });
    steps.push({ type: 'text', text: 's'.repeat(4 * KB), index: 0 });
  }
  steps.push({ type: 'usage', usage: { input_tokens: 5, output_tokens: 3000 } });
  steps.push({ type: 'done', stop_reason: 'end_turn' });
  return steps;
}

let relay: RelayServer;
beforeAll(async () => {
  relay = await startTestRelay(
    { maxLagEvents: 300, logMaxBytes: 64 * KB * KB, graceMs: 20_000 },
    new ScriptedUpstream(script),
  );
});
afterAll(async () => {
  await relay.close();
});

/** The client's own socket, paused so the kernel buffers fill and the relay's buffer is what is left. */
function rawSocket(client: WsClient): Socket {
  return (client.ws as unknown as { _socket: Socket })._socket;
}

describe('a client that stops reading', () => {
  it('pauses its cursor at the high-water mark, keeps the server buffer bounded, then cuts it (slow_consumer) for a resume', async () => {
    const highWaterBytes = 64 * KB;
    const ws = await startWsHarness(relay.registry, { highWaterBytes, hardLimitBytes: 64 * KB * KB });
    const client = await WsClient.open(ws.url);
    try {
      const streamsBefore = relay.registry.size;
      client.send({ type: 'start', ref: 'steady', request: { message: 'steady' } });
      rawSocket(client).pause();
      let maxBuffered = 0;
      await until(
        () => {
          const stats = ws.transport.stats();
          maxBuffered = Math.max(maxBuffered, stats.bufferedBytes);
          // Started (the stream exists and was attached in the same turn) and no longer written.
          return relay.registry.size > streamsBefore && stats.connections === 1 && stats.streams === 0;
        },
        15_000,
        'the lagging cursor to be cut',
      );
      // High water plus one batch (20 events of 4 KiB): the rest waits in the log, not in the socket.
      expect(maxBuffered).toBeGreaterThan(highWaterBytes);
      expect(maxBuffered).toBeLessThan(highWaterBytes + 512 * KB);
      expect(ws.transport.stats().serverCloses).toEqual({});

      rawSocket(client).resume();
      const notice = await client.waitFor((m) => m.type === 'error', 15_000);
      expect(notice).toMatchObject({ code: 'slow_consumer', retryable: true });
      expect(isEvent(notice)).toBe(false);
      const id = notice.stream_id!;
      const seen = client.eventsOf(id);
      const after = seen.at(-1)!.seq!;
      expect(seen.map((e) => e.seq)).toEqual(range(1, after));

      client.send({ type: 'resume', stream_id: id, after });
      const all = await client.untilTerminal(id, 15_000);
      expect(all.map((e) => e.seq)).toEqual(range(1, 3002));
      expect(all.at(-1)).toMatchObject({ type: 'done' });
    } finally {
      await client.close();
      await ws.close();
    }
  });

  it('closes with 4008 a connection whose client stops reading, and its stream stays resumable', async () => {
    const ws = await startWsHarness(relay.registry, {
      highWaterBytes: 64 * KB,
      hardLimitBytes: 256 * KB,
      heartbeatMs: 300,
    });
    const client = await WsClient.open(ws.url);
    try {
      client.send({ type: 'start', ref: 'burst', request: { message: 'burst' } });
      rawSocket(client).pause();
      await until(() => ws.transport.stats().serverCloses[4008] === 1, 10_000, 'the 4008 close');
      expect(ws.transport.stats().streams).toBe(0);

      rawSocket(client).resume();
      const closed = await client.closed;
      expect(closed.code).toBe(4008);
      expect(closed.reason).toMatch(/slow_consumer/);
      const start = client.messages.find((m) => m.type === 'start')!;
      const id = start.stream_id!;
      const after = client.eventsOf(id).at(-1)!.seq!;

      // The stream is still running (its upstream hangs): resume it and cancel it to get its receipt.
      const again = await WsClient.open(ws.url);
      try {
        again.send({ type: 'resume', stream_id: id, after });
        again.send({ type: 'cancel', stream_id: id });
        const tail = await again.untilTerminal(id);
        expect(tail[0]).toMatchObject({ type: tail.length === 1 ? 'cancelled' : 'text' });
        expect(tail.map((e) => e.seq)).toEqual(range(after + 1, after + tail.length));
        expect(tail.at(-1)).toMatchObject({ type: 'cancelled', reason: 'client' });
      } finally {
        await again.close();
      }
    } finally {
      await client.close();
      await ws.close();
    }
  });
});

describe('heartbeat', () => {
  it('terminates a peer that does not answer pings and keeps one that does', async () => {
    const ws = await startWsHarness(relay.registry, { heartbeatMs: 500 });
    const live = await WsClient.open(ws.url);
    const silent = await WsClient.open(ws.url, { autoPong: false });
    try {
      const closed = await Promise.race([
        silent.closed,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('still open')), 10_000)),
      ]);
      expect(closed.code).toBe(1006);
      expect(ws.transport.stats().serverCloses).toEqual({ 1006: 1 });
      expect(live.ws.readyState).toBe(live.ws.OPEN);
      live.send({ type: 'ping', t: 'alive' });
      await live.waitFor((m) => m.type === 'pong');
    } finally {
      await Promise.all([live.close(), silent.close()]);
      await ws.close();
    }
  });
});
