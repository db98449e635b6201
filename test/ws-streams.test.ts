import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer } from '../src/server.js';
import { startTestRelay } from './helpers/relay.js';
import { readSse, relayEvents } from './helpers/sse.js';
import { isEvent, range, WsClient, type WsMsg, wsUrl } from './helpers/ws.js';

let relay: RelayServer;
beforeAll(async () => {
  relay = await startTestRelay({ graceMs: 5000 });
});
afterAll(async () => {
  await relay.close();
});

let n = 0;
/** A unique prompt so a test can find its own upstream request at the simulator. */
function prompt(directives = ''): string {
  return `ws test ${++n} ${process.pid}${directives ? ` [[sim ${directives}]]` : ''}`;
}

async function overSse(request: unknown): Promise<Record<string, unknown>[]> {
  const res = await fetch(`${relay.url}/v1/streams`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(request),
  });
  return relayEvents((await readSse(res)).frames);
}

const textOf = (events: Record<string, unknown>[]): string =>
  events
    .filter((e) => e.type === 'text')
    .map((e) => e.text)
    .join('');

/**
 * An event as both transports must agree on it: without the ids that differ per stream or per
 * client (and the tool_use id, which the upstream draws fresh for every response, like Anthropic).
 */
function comparable(event: Record<string, unknown>): Record<string, unknown> {
  const { stream_id: _id, ref: _ref, ...rest } = event;
  if (rest.type === 'tool_use')
    return { ...rest, id: typeof rest.id === 'string' && rest.id.startsWith('toolu_') };
  return rest;
}

describe('streams over one WebSocket', () => {
  it('runs ten multiplexed streams to completion, each with seq 1..N and the text SSE gives', async () => {
    const client = await WsClient.open(wsUrl(relay.url));
    try {
      const requests = Array.from({ length: 10 }, (_, i) => ({ message: prompt(`tokens=${20 + i * 3}`) }));
      const ids = await Promise.all(requests.map((request) => client.start(request)));
      expect(new Set(ids).size).toBe(10);
      for (const [i, id] of ids.entries()) {
        const events = await client.untilTerminal(id);
        expect(events.map((e) => e.seq)).toEqual(range(1, events.length));
        expect(events[0]).toMatchObject({ type: 'start', stream_id: id });
        expect(events.at(-1)).toMatchObject({ type: 'done', usage: { output_tokens: 20 + i * 3 } });
        expect(textOf(events)).toBe(textOf(await overSse(requests[i])));
      }
    } finally {
      await client.close();
    }
  });

  it('sends the same event sequences as SSE for the same requests', async () => {
    const client = await WsClient.open(wsUrl(relay.url));
    try {
      for (const directives of [
        'tokens=25',
        'tool=get_weather thinking=1 tokens=6',
        'fixture=basic_response',
      ]) {
        const request = { message: prompt(directives) };
        const sse = await overSse(request);
        const id = await client.start(request);
        const ws = await client.untilTerminal(id);
        expect(ws.map(comparable)).toEqual(sse.map(comparable));
        // Each message carries its stream's id; the start event also echoes the client's ref.
        expect(ws.every((e) => e.stream_id === id)).toBe(true);
        expect(ws[0]?.ref).toMatch(/^r\d+$/);
        expect(ws.slice(1).every((e) => e.ref === undefined)).toBe(true);
      }
    } finally {
      await client.close();
    }
  });

  it('frames the start event with stream_id once and the ref, and every other event with stream_id first', async () => {
    const client = await WsClient.open(wsUrl(relay.url));
    const raw: string[] = [];
    client.ws.on('message', (data) => raw.push(String(data)));
    try {
      const id = await client.start({ message: prompt('tokens=2') }, 'tag-1');
      await client.untilTerminal(id);
      expect(raw[0]).toMatch(/^\{"ref":"tag-1","type":"start",/);
      expect(raw[0]?.split('"stream_id"')).toHaveLength(2);
      for (const text of raw.slice(1)) expect(text.startsWith(`{"stream_id":"${id}","type":`)).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('answers ping with pong echoing t', async () => {
    const client = await WsClient.open(wsUrl(relay.url));
    try {
      client.send({ type: 'ping', t: { at: 12.5, tag: 'x' } });
      expect(await client.waitFor((m) => m.type === 'pong')).toEqual({
        type: 'pong',
        t: { at: 12.5, tag: 'x' },
      });
      client.send({ type: 'ping' });
      await client.waitFor((m) => m.type === 'pong' && !('t' in m));
    } finally {
      await client.close();
    }
  });
});

describe('cancel and disconnect', () => {
  it('cancel aborts one stream upstream at once with a receipt and leaves the others intact', async () => {
    const client = await WsClient.open(wsUrl(relay.url));
    try {
      const slow = prompt('tokens=400 tps=100');
      const others = [prompt('tokens=40 tps=400'), prompt('tokens=30 tps=400')];
      const victim = await client.start({ message: slow });
      const survivors = await Promise.all(others.map((message) => client.start({ message })));
      const record = await relay.simulated!.records.waitFor((r) => r.prompt?.includes(slow) === true);
      await client.waitFor((m) => m.stream_id === victim && m.type === 'text' && m.seq === 4);
      client.send({ type: 'cancel', stream_id: victim });

      const events = await client.untilTerminal(victim);
      expect(events.at(-1)).toMatchObject({
        type: 'cancelled',
        reason: 'client',
        usage: { estimated: true },
      });
      expect(events.map((e) => e.seq)).toEqual(range(1, events.length));
      const ended = await relay.simulated!.records.waitForEnd(record.id);
      expect(ended.clientClosedAt).not.toBeNull();
      expect(ended.tokensSent).toBeLessThan(400);

      for (const id of survivors) {
        const rest = await client.untilTerminal(id);
        expect(rest.at(-1)?.type).toBe('done');
        expect(rest.map((e) => e.seq)).toEqual(range(1, rest.length));
      }
    } finally {
      await client.close();
    }
  });

  it('a cancel of a finished stream sends nothing more; an unknown id gets not_found; the socket stays open', async () => {
    const client = await WsClient.open(wsUrl(relay.url));
    try {
      const id = await client.start({ message: prompt('tokens=3') });
      const before = (await client.untilTerminal(id)).length;
      client.send({ type: 'cancel', stream_id: id });
      client.send({ type: 'cancel', stream_id: 'str_unknown' });
      const error = await client.waitFor((m) => m.type === 'error' && !isEvent(m));
      expect(error).toMatchObject({ code: 'not_found', stream_id: 'str_unknown', retryable: false });
      client.send({ type: 'ping', t: 'after' });
      await client.waitFor((m) => m.type === 'pong');
      expect(client.eventsOf(id)).toHaveLength(before);
      expect(client.messages.filter((m) => m.type === 'error')).toHaveLength(1);
    } finally {
      await client.close();
    }
  });

  it('closing the socket aborts an on_disconnect=abort stream upstream', async () => {
    const client = await WsClient.open(wsUrl(relay.url));
    const p = prompt('tokens=400 tps=100');
    const id = await client.start({ message: p, on_disconnect: 'abort' });
    await client.waitFor((m) => m.stream_id === id && m.type === 'text');
    await client.close();
    const record = await relay.simulated!.records.waitFor((r) => r.prompt?.includes(p) === true);
    const ended = await relay.simulated!.records.waitForEnd(record.id);
    expect(ended.clientClosedAt).not.toBeNull();
    const state = (await (await fetch(`${relay.url}/v1/streams/${id}`)).json()) as WsMsg;
    expect(state).toMatchObject({ state: 'cancelled' });
    const tail = relayEvents((await readSse(await fetch(`${relay.url}/v1/streams/${id}/events`))).frames);
    expect(tail.at(-1)).toMatchObject({ type: 'cancelled', reason: 'disconnect' });
  });

  it('closing the socket leaves an on_disconnect=grace stream generating for a resume', async () => {
    const client = await WsClient.open(wsUrl(relay.url));
    const p = prompt('tokens=60 tps=300');
    const id = await client.start({ message: p });
    await client.waitFor((m) => m.stream_id === id && m.type === 'text');
    await client.close();
    const record = await relay.simulated!.records.waitFor((r) => r.prompt?.includes(p) === true);
    const ended = await relay.simulated!.records.waitForEnd(record.id);
    expect(ended.clientClosedAt).toBeNull();
    expect(ended.outcome).toBe('completed');
    const state = (await (await fetch(`${relay.url}/v1/streams/${id}`)).json()) as WsMsg;
    expect(state).toMatchObject({ state: 'done' });
  });
});
