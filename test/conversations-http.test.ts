/**
 * Conversations end to end: `conversation_id` on `POST /v1/streams` and on WebSocket `start`, the
 * history the upstream receives, what is kept after a cancel or a failure, the HTTP routes, and
 * each limit as a client meets it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { RelayServer } from '../src/server.js';
import { startTestRelay } from './helpers/relay.js';
import { readSse, relayEvents, streamSse } from './helpers/sse.js';

type Event = Record<string, unknown> & { type: string };

let relay: RelayServer;

beforeAll(async () => {
  relay = await startTestRelay();
  relay.simulated!.records.keepBodies(); // upstreamBody() reads what the relay sent
});

afterAll(async () => {
  await relay.close();
});

function post(base: string, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${base}/v1/streams`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** Sends one message in a conversation over SSE and reads the whole answer. */
async function say(conversationId: string, message: string, extra: Record<string, unknown> = {}) {
  const res = await post(relay.url, { message, conversation_id: conversationId, ...extra });
  expect(res.status).toBe(200);
  const events = relayEvents((await readSse(res)).frames) as Event[];
  const text = events.map((e) => (e.type === 'text' ? String(e.text) : '')).join('');
  return { events, text, terminal: events.at(-1) };
}

async function history(base: string, id: string) {
  const res = await fetch(`${base}/v1/conversations/${id}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The body the simulated upstream received for the request whose prompt contains `tag`. */
async function upstreamBody(tag: string): Promise<Record<string, unknown>> {
  const record = await relay.simulated!.records.waitFor((r) => r.prompt?.includes(tag) === true);
  return record.body as Record<string, unknown>;
}

describe('conversation_id over SSE', () => {
  it('sends the first exchange upstream before the second message, with the kept system prompt', async () => {
    const first = await say('sse-two-turns-00000000', 'conv-sse-1 [[sim tokens=6]]', { system: 'be brief' });
    expect(first.terminal?.type).toBe('done');
    expect(first.text.length).toBeGreaterThan(0);
    await say('sse-two-turns-00000000', 'conv-sse-2 [[sim tokens=4]]');
    const body = await upstreamBody('conv-sse-2');
    expect(body.system).toBe('be brief');
    expect(body.messages).toEqual([
      { role: 'user', content: 'conv-sse-1 [[sim tokens=6]]' },
      { role: 'assistant', content: [{ type: 'text', text: first.text }] },
      { role: 'user', content: 'conv-sse-2 [[sim tokens=4]]' },
    ]);
  });

  it('keeps a cancelled reply as the partial text the client saw, marked partial', async () => {
    const res = await post(relay.url, {
      message: 'conv-cancel [[sim tokens=400 tps=50]]',
      conversation_id: 'sse-cancel-00000000000',
    });
    const streamId = res.headers.get('x-stream-id');
    const events: Event[] = [];
    let cancelled = false;
    await streamSse(res, (frame) => {
      if (frame.event === undefined) return undefined;
      const event = JSON.parse(frame.data) as Event;
      events.push(event);
      if (event.type === 'text' && !cancelled) {
        cancelled = true;
        void fetch(`${relay.url}/v1/streams/${streamId}/cancel`, { method: 'POST' });
      }
      return event.type === 'cancelled' || event.type === 'done' || event.type === 'error';
    });
    expect(events.at(-1)?.type).toBe('cancelled');
    const seen = events.map((e) => (e.type === 'text' ? String(e.text) : '')).join('');
    const { body } = await history(relay.url, 'sse-cancel-00000000000');
    expect(body.messages).toEqual([
      { role: 'user', content: 'conv-cancel [[sim tokens=400 tps=50]]' },
      { role: 'assistant', content: [{ type: 'text', text: seen }], partial: true },
    ]);
  });

  it('keeps nothing of a failed exchange, before or after content', async () => {
    await say('sse-fail-0000000000000', 'conv-ok [[sim tokens=3]]');
    const refused = await say('sse-fail-0000000000000', 'conv-refused [[sim status=400]]');
    expect(refused.terminal?.type).toBe('error');
    const broken = await say('sse-fail-0000000000000', 'conv-broken [[sim tokens=20 error_after=2]]');
    expect(broken.terminal?.type).toBe('error');
    const { body } = await history(relay.url, 'sse-fail-0000000000000');
    expect((body.messages as { content: string }[]).map((m) => m.content)).toEqual([
      'conv-ok [[sim tokens=3]]',
      [{ type: 'text', text: expect.any(String) }],
    ]);
  });

  it('refuses a second message while the reply is streaming with 409 conflict', async () => {
    const slow = await post(relay.url, {
      message: 'conv-busy [[sim tokens=400 tps=50]]',
      conversation_id: 'sse-busy-0000000000000',
    });
    const second = await post(relay.url, { message: 'too soon', conversation_id: 'sse-busy-0000000000000' });
    expect(second.status).toBe(409);
    expect(((await second.json()) as { error: { code: string } }).error.code).toBe('conflict');
    await fetch(`${relay.url}/v1/streams/${slow.headers.get('x-stream-id')}/cancel`, { method: 'POST' });
    await slow.body?.cancel();
  });
});

describe('conversation_id over WebSocket start', () => {
  /** Sends `start` and collects the stream's events up to its terminal one. */
  function start(ws: WebSocket, request: Record<string, unknown>): Promise<Event[]> {
    const ref = `r${Math.random()}`;
    return new Promise((resolve, reject) => {
      const events: Event[] = [];
      let streamId: unknown;
      const onMessage = (data: WebSocket.RawData): void => {
        const msg = JSON.parse(data.toString()) as Event;
        if (msg.type === 'start' && msg.ref === ref) streamId = msg.stream_id;
        if (msg.type === 'error' && msg.ref === ref && msg.seq === undefined) {
          ws.off('message', onMessage);
          reject(new Error(`start refused: ${String(msg.code)}`));
          return;
        }
        if (streamId === undefined || msg.stream_id !== streamId) return;
        events.push(msg);
        if (msg.type === 'done' || msg.type === 'error' || msg.type === 'cancelled') {
          ws.off('message', onMessage);
          resolve(events);
        }
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ type: 'start', ref, request }));
    });
  }

  it('sends the first exchange upstream before the second message', async () => {
    const ws = new WebSocket(`${relay.url.replace('http', 'ws')}/v1/ws`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    try {
      const first = await start(ws, {
        message: 'conv-ws-1 [[sim tokens=5]]',
        conversation_id: 'ws-two-turns-000000000',
      });
      expect(first.at(-1)?.type).toBe('done');
      const reply = first.map((e) => (e.type === 'text' ? String(e.text) : '')).join('');
      await start(ws, { message: 'conv-ws-2 [[sim tokens=3]]', conversation_id: 'ws-two-turns-000000000' });
      const body = await upstreamBody('conv-ws-2');
      expect(body.messages).toEqual([
        { role: 'user', content: 'conv-ws-1 [[sim tokens=5]]' },
        { role: 'assistant', content: [{ type: 'text', text: reply }] },
        { role: 'user', content: 'conv-ws-2 [[sim tokens=3]]' },
      ]);
    } finally {
      ws.close();
    }
  });
});

describe('GET and DELETE /v1/conversations/:id', () => {
  it('answers the history with timestamps, deletes it with 204, then answers 404', async () => {
    const { text } = await say('routes-000000000000000', 'conv-routes [[sim tokens=3]]', { system: 'sys' });
    const got = await history(relay.url, 'routes-000000000000000');
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({
      conversation_id: 'routes-000000000000000',
      system: 'sys',
      streaming: false,
      messages: [
        { role: 'user', content: 'conv-routes [[sim tokens=3]]' },
        { role: 'assistant', content: [{ type: 'text', text }] },
      ],
    });
    expect(Number.isNaN(Date.parse(String(got.body.created_at)))).toBe(false);
    expect(Number.isNaN(Date.parse(String(got.body.updated_at)))).toBe(false);

    const deleted = await fetch(`${relay.url}/v1/conversations/routes-000000000000000`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    expect((await history(relay.url, 'routes-000000000000000')).status).toBe(404);
    const again = await fetch(`${relay.url}/v1/conversations/routes-000000000000000`, { method: 'DELETE' });
    expect(again.status).toBe(404);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });

  it('answers 404 not_found for an id it never saw, and 405 for another method', async () => {
    const missing = await history(relay.url, 'never-seen');
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: { code: 'not_found' } });
    const put = await fetch(`${relay.url}/v1/conversations/x`, { method: 'PUT' });
    expect(put.status).toBe(405);
  });
});

describe('conversation limits', () => {
  it('refuses a message past maxTurns with limit_exceeded, saying to start a new one or delete it', async () => {
    const small = await startTestRelay({ maxTurns: 4 });
    try {
      for (const n of [1, 2]) {
        const res = await post(small.url, {
          message: `turn ${n} [[sim tokens=2]]`,
          conversation_id: 'full-00000000000000000',
        });
        await res.text();
      }
      const res = await post(small.url, { message: 'turn 3', conversation_id: 'full-00000000000000000' });
      expect(res.status).toBe(429);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe('limit_exceeded');
      expect(error.message).toMatch(/new conversation_id/);
      expect(error.message).toMatch(/DELETE/);
    } finally {
      await small.close();
    }
  });

  it('refuses a new conversation past maxConversations with limit_exceeded; deleting one frees room', async () => {
    const small = await startTestRelay({ maxConversations: 1 });
    try {
      await (
        await post(small.url, { message: 'a [[sim tokens=2]]', conversation_id: 'one-000000000000000000' })
      ).text();
      const refused = await post(small.url, { message: 'b', conversation_id: 'two-000000000000000000' });
      expect(refused.status).toBe(429);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('limit_exceeded');
      await fetch(`${small.url}/v1/conversations/one-000000000000000000`, { method: 'DELETE' });
      const accepted = await post(small.url, {
        message: 'b [[sim tokens=2]]',
        conversation_id: 'two-000000000000000000',
      });
      expect(accepted.status).toBe(200);
      await accepted.text();
    } finally {
      await small.close();
    }
  });
});
