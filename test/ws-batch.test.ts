/**
 * `/v1/ws?frames=batch`: every event one cursor flush hands the socket is one JSON-array message.
 * Without the opt-in the frames are exactly what they were, byte for byte.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { testConfig } from '../src/config.js';
import { type RelayServer, startRelay } from '../src/server.js';
import { startTestRelay } from './helpers/relay.js';
import { readSse, relayEvents } from './helpers/sse.js';
import { isEvent, isTerminalEvent, range, WsClient, type WsMsg, wsUrl } from './helpers/ws.js';

let relay: RelayServer;
beforeAll(async () => {
  relay = await startTestRelay({ graceMs: 10_000 });
});
afterAll(async () => {
  await relay.close();
});

let n = 0;
function prompt(directives: string): string {
  return `ws batch test ${++n} ${process.pid} [[sim ${directives}]]`;
}

const batchUrl = (): string => `${wsUrl(relay.url)}?frames=batch`;

/** The stream's events as SSE sends them: the log's JSON texts, in seq order. */
async function sseTexts(id: string): Promise<string[]> {
  const { frames } = await readSse(await fetch(`${relay.url}/v1/streams/${id}/events?after=0`));
  return frames.filter((f) => f.event !== undefined).map((f) => f.data);
}

/** Raw text frames of a socket, kept as they came. */
function rawFrames(client: WsClient): string[] {
  const raw: string[] = [];
  client.ws.on('message', (data) => raw.push(String(data)));
  return raw;
}

/** The relay-event frames of a batched socket: each must be an array of one stream's events. */
function eventBatches(client: WsClient): WsMsg[][] {
  return client.frames.filter((f): f is WsMsg[] => Array.isArray(f));
}

/** Upgrade attempt that answers the HTTP status and JSON body of a refusal (or 101). */
function upgradeStatus(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => {
      ws.terminate();
      resolve({ status: 101, body: '' });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (err) => {
      if (!String(err.message).includes('Unexpected server response')) reject(err);
    });
  });
}

describe('without the opt-in', () => {
  it('sends each event as its own object, byte for byte the log JSON with stream_id (and ref) spliced in', async () => {
    const client = await WsClient.open(wsUrl(relay.url));
    const raw = rawFrames(client);
    try {
      const id = await client.start({ message: prompt('tokens=30') }, 'plain-1');
      await client.untilTerminal(id);
      const expected = (await sseTexts(id)).map((json, i) =>
        i === 0 ? `{"ref":"plain-1",${json.slice(1)}` : `{"stream_id":${JSON.stringify(id)},${json.slice(1)}`,
      );
      expect(raw).toEqual(expected);
      expect(client.frames.some((f) => Array.isArray(f))).toBe(false);
    } finally {
      await client.close();
    }
  });

  it('treats frames=single as the default', async () => {
    const client = await WsClient.open(`${wsUrl(relay.url)}?frames=single`);
    try {
      const id = await client.start({ message: prompt('tokens=12') });
      const events = await client.untilTerminal(id);
      expect(events.map((e) => e.seq)).toEqual(range(1, 14));
      expect(client.frames.every((f) => !Array.isArray(f))).toBe(true);
    } finally {
      await client.close();
    }
  });
});

describe('the frames option is validated before the handshake', () => {
  it('refuses an unknown value with 400 invalid_request naming the parameter and its values', async () => {
    const { status, body } = await upgradeStatus(`${wsUrl(relay.url)}?frames=batched`);
    expect(status).toBe(400);
    const error = (JSON.parse(body) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('invalid_request');
    expect(error.message).toContain('frames');
    expect(error.message).toContain('single, batch');
  });

  it('refuses the parameter given twice, even with the same value', async () => {
    const { status, body } = await upgradeStatus(`${wsUrl(relay.url)}?frames=batch&frames=batch`);
    expect(status).toBe(400);
    expect(body).toContain('invalid_request');
  });

  it('does not spend a ticket on a refused option: the same ticket then opens a batched socket', async () => {
    const keyed = await startRelay(testConfig({ host: '127.0.0.1', port: 0, apiKeys: 'b:batch-key-123456' }));
    try {
      const res = await fetch(`${keyed.url}/v1/tickets`, {
        method: 'POST',
        headers: { 'x-api-key': 'batch-key-123456' },
      });
      expect(res.status).toBe(201);
      const { ticket } = (await res.json()) as { ticket: string };
      const base = `${wsUrl(keyed.url)}?ticket=${encodeURIComponent(ticket)}`;
      expect((await upgradeStatus(`${base}&frames=nope`)).status).toBe(400);
      const client = await WsClient.open(`${base}&frames=batch`);
      try {
        const id = await client.start({ message: prompt('tokens=3') });
        await client.untilTerminal(id);
        expect(eventBatches(client).length).toBeGreaterThan(0);
      } finally {
        await client.close();
      }
    } finally {
      await keyed.close();
    }
  });
});

describe('with ?frames=batch', () => {
  it('delivers every event of ten multiplexed streams exactly once and in order, one stream per array', async () => {
    const client = await WsClient.open(batchUrl());
    try {
      const ids = await Promise.all(
        Array.from({ length: 10 }, (_, i) => client.start({ message: prompt(`tokens=${30 + i * 7}`) })),
      );
      for (const [i, id] of ids.entries()) {
        const events = await client.untilTerminal(id);
        expect(events.map((e) => e.seq)).toEqual(range(1, 30 + i * 7 + 2));
        expect(events.at(-1)).toMatchObject({ type: 'done' });
        // The same objects SSE sends, with the WebSocket envelope.
        const sse = relayEvents(
          (await readSse(await fetch(`${relay.url}/v1/streams/${id}/events?after=0`))).frames,
        );
        expect(events.map(({ stream_id: _s, ref: _r, ...rest }) => rest)).toEqual(
          sse.map(({ stream_id: _s, ...rest }) => rest),
        );
      }
      // No relay event came as a lone object, and no array mixes streams.
      expect(client.frames.filter((f) => !Array.isArray(f) && isEvent(f))).toEqual([]);
      for (const batch of eventBatches(client)) {
        expect(batch.length).toBeGreaterThan(0);
        expect(new Set(batch.map((e) => e.stream_id)).size).toBe(1);
      }
    } finally {
      await client.close();
    }
  });

  it('frames a flush as [wsMessage, …]: the array of the single-event texts, byte for byte', async () => {
    const plain = await WsClient.open(wsUrl(relay.url));
    const plainRaw = rawFrames(plain);
    let id: string;
    try {
      id = await plain.start({ message: prompt('tokens=40') }, 'twin');
      await plain.untilTerminal(id);
    } finally {
      await plain.close();
    }
    // A resume of a finished stream is read from the log in one flush: one array, many events.
    const batched = await WsClient.open(batchUrl());
    const batchedRaw = rawFrames(batched);
    try {
      batched.send({ type: 'resume', stream_id: id, after: 0 });
      await batched.untilTerminal(id);
    } finally {
      await batched.close();
    }
    expect(batchedRaw).toHaveLength(1);
    // The resumed start has no ref (only the socket that started it gets that).
    const expected = [plainRaw[0]!.replace('{"ref":"twin",', '{'), ...plainRaw.slice(1)];
    expect(batchedRaw[0]).toBe(`[${expected.join(',')}]`);
  });

  it('resumes on a new batched socket after the last seq seen: nothing lost or repeated', async () => {
    const first = await WsClient.open(batchUrl());
    const id = await first.start({ message: prompt('tokens=100 tps=200') });
    await first.waitFor((m) => m.stream_id === id && (m.seq ?? 0) >= 5);
    first.ws.terminate();
    await first.closed;
    const seen = first.eventsOf(id);
    expect(seen.some(isTerminalEvent)).toBe(false); // still running when dropped
    const after = seen.at(-1)!.seq!;
    const second = await WsClient.open(batchUrl());
    try {
      second.send({ type: 'resume', stream_id: id, after });
      const rest = await second.untilTerminal(id);
      expect(rest[0]?.seq).toBe(after + 1);
      const all = [...seen, ...rest];
      expect(all.map((e) => e.seq)).toEqual(range(1, 102));
      expect(all.filter(isTerminalEvent).map((e) => e.type)).toEqual(['done']);
      expect(eventBatches(second).every((b) => b.every((e) => e.stream_id === id))).toBe(true);
    } finally {
      await second.close();
    }
  });

  it('cancel: the cancelled event ends the stream inside an array, once, with every seq before it', async () => {
    const client = await WsClient.open(batchUrl());
    try {
      const cancelled = await client.start({ message: prompt('tokens=200 tps=100') });
      const other = await client.start({ message: prompt('tokens=20 tps=200') });
      await client.waitFor((m) => m.stream_id === cancelled && m.type === 'text');
      client.send({ type: 'cancel', stream_id: cancelled });
      const events = await client.untilTerminal(cancelled);
      expect(events.map((e) => e.seq)).toEqual(range(1, events.length));
      expect(events.filter(isTerminalEvent)).toEqual([
        expect.objectContaining({ type: 'cancelled', reason: 'client' }),
      ]);
      const terminalFrame = eventBatches(client).find((b) =>
        b.some((e) => e.stream_id === cancelled && isTerminalEvent(e)),
      );
      expect(terminalFrame?.at(-1)?.type).toBe('cancelled');
      // The other stream on the socket goes on to its own end.
      const rest = await client.untilTerminal(other);
      expect(rest.map((e) => e.seq)).toEqual(range(1, 22));
      expect(rest.at(-1)?.type).toBe('done');
    } finally {
      await client.close();
    }
  });

  it('a cancel from a socket not reading the stream answers its cancelled event as a one-event array', async () => {
    const reader = await WsClient.open(batchUrl());
    const canceller = await WsClient.open(batchUrl());
    try {
      const id = await reader.start({ message: prompt('tokens=200 tps=100') });
      await reader.waitFor((m) => m.stream_id === id && m.type === 'text');
      canceller.send({ type: 'cancel', stream_id: id });
      await canceller.waitFor((m) => m.stream_id === id && m.type === 'cancelled');
      expect(canceller.frames).toEqual([[expect.objectContaining({ stream_id: id, type: 'cancelled' })]]);
      const events = await reader.untilTerminal(id);
      expect(events.map((e) => e.seq)).toEqual(range(1, events.length));
    } finally {
      await reader.close();
      await canceller.close();
    }
  });

  it('keeps protocol messages single objects: pong, a bad frame, a refused start, an unknown stream', async () => {
    const client = await WsClient.open(batchUrl());
    try {
      client.send({ type: 'ping', t: 7 });
      await client.waitFor((m) => m.type === 'pong');
      client.send('not json');
      await client.waitFor((m) => m.type === 'error' && m.code === 'invalid_message');
      client.send({ type: 'start', ref: 'bad', request: { message: 'x', max_tokens: -1 } });
      await client.waitFor((m) => m.type === 'error' && m.ref === 'bad');
      client.send({ type: 'resume', stream_id: 'str_nope', after: 0 });
      await client.waitFor((m) => m.type === 'error' && m.code === 'not_found');
      expect(client.frames).toHaveLength(4);
      expect(client.frames.every((f) => !Array.isArray(f))).toBe(true);
      expect(client.frames[0]).toEqual({ type: 'pong', t: 7 });
    } finally {
      await client.close();
    }
  });
});
