/**
 * relay_slow_consumer_cuts_total moves by exactly one, under the reading transport's label, for
 * each reader cut for falling behind: an SSE client that stops reading (its cursor passes the lag
 * limit), a WebSocket stream's cursor likewise, and a WebSocket connection closed past its hard
 * buffer limit (one cut for the connection, not one per stream).
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UpstreamRequest } from '../src/core/request.js';
import type { RelayServer } from '../src/server.js';
import { type Sample, scrape, value } from './helpers/metrics.js';
import { startTestRelay } from './helpers/relay.js';
import { ScriptedUpstream, type ScriptStep } from './helpers/scripted-upstream.js';
import { startWsHarness, WsClient } from './helpers/ws.js';

const KB = 1024;

/** `steady`: 3000 events of 4 KiB, 20 per tick (more than loopback's buffers); `burst`: 400 of 32 KiB, then a hang. */
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

const CUTS = 'relay_slow_consumer_cuts_total';

/** Scrapes until `name{labels}` has moved by `want` from `before`; bounded. */
async function untilDelta(before: Sample[], labels: Record<string, string>, want: number): Promise<number> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const moved = value(await scrape(relay.url), CUTS, labels) - value(before, CUTS, labels);
    if (moved >= want || Date.now() > deadline) return moved;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function rawSocket(client: WsClient): Socket {
  return (client.ws as unknown as { _socket: Socket })._socket;
}

describe('slow-consumer cuts', () => {
  it('counts an SSE reader cut for falling behind, as sse', async () => {
    const before = await scrape(relay.url);
    const body = JSON.stringify({ message: 'steady' });
    const socket = connect(relay.port, '127.0.0.1');
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      socket.write(
        `POST /v1/streams HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      // Never read: the kernel buffers fill, then the response's, then the cursor lags.
      socket.pause();
      expect(await untilDelta(before, { transport: 'sse' }, 1)).toBe(1);
      const after = await scrape(relay.url);
      expect(value(after, CUTS, { transport: 'ws' }) - value(before, CUTS, { transport: 'ws' })).toBe(0);
    } finally {
      socket.destroy();
    }
  });

  it("counts a WebSocket stream's cursor cut for falling behind, as ws", async () => {
    const ws = await startWsHarness(relay.registry, {
      highWaterBytes: 64 * KB,
      hardLimitBytes: 64 * KB * KB,
    });
    const client = await WsClient.open(ws.url);
    try {
      const before = await scrape(relay.url);
      client.send({ type: 'start', ref: 'steady', request: { message: 'steady' } });
      rawSocket(client).pause();
      expect(await untilDelta(before, { transport: 'ws' }, 1)).toBe(1);
      // Only that stream's cursor was cut; the connection stays open (no second cut for it).
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(ws.transport.stats().serverCloses).toEqual({});
      const after = await scrape(relay.url);
      expect(value(after, CUTS, { transport: 'ws' }) - value(before, CUTS, { transport: 'ws' })).toBe(1);
    } finally {
      await client.close();
      await ws.close();
    }
  });

  it('counts one cut for a WebSocket closed past its hard buffer limit, whatever it carried', async () => {
    const ws = await startWsHarness(relay.registry, {
      highWaterBytes: 64 * KB,
      hardLimitBytes: 256 * KB,
      heartbeatMs: 300,
    });
    const client = await WsClient.open(ws.url);
    try {
      const before = await scrape(relay.url);
      client.send({ type: 'start', ref: 'b1', request: { message: 'burst 1' } });
      client.send({ type: 'start', ref: 'b2', request: { message: 'burst 2' } });
      rawSocket(client).pause();
      const deadline = Date.now() + 10_000;
      while (ws.transport.stats().serverCloses[4008] !== 1 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(ws.transport.stats().serverCloses[4008]).toBe(1);
      const after = await scrape(relay.url);
      expect(value(after, CUTS, { transport: 'ws' }) - value(before, CUTS, { transport: 'ws' })).toBe(1);
    } finally {
      await client.close();
      await ws.close();
    }
  });
});
