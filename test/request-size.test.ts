/**
 * Request bodies up to Anthropic's own 32 MB (base64 images and PDFs are routine) on every route
 * that takes a Messages request, the WebSocket start frame included; past it a 413 in the route's
 * own shape that names the setting; and a cap on request bytes held at once (503 overloaded).
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer } from '../src/server.js';
import { startTestRelay } from './helpers/relay.js';
import { readSse, relayEvents } from './helpers/sse.js';
import { WsClient, wsUrl } from './helpers/ws.js';

const MB = 1024 * 1024;

let relay: RelayServer;

beforeAll(async () => {
  relay = await startTestRelay();
});
afterAll(() => relay.close());

/** A user turn with a base64 "image" of about `bytes` bytes, and text carrying sim directives. */
function imageTurn(bytes: number, text: string): Record<string, unknown> {
  return {
    role: 'user',
    content: [
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'A'.repeat(bytes) } },
      { type: 'text', text },
    ],
  };
}

describe('32 MB Messages requests', () => {
  it('a 20 MB image request streams to the end on POST /v1/streams, and the image reaches the upstream', async () => {
    const body = JSON.stringify({ messages: [imageTurn(20 * MB, 'img20-sse describe it [[sim tokens=3]]')] });
    expect(body.length).toBeGreaterThan(20 * MB);
    const res = await fetch(`${relay.url}/v1/streams`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(res.status).toBe(200);
    const events = relayEvents((await readSse(res)).frames);
    expect(events.at(-1)?.type).toBe('done');
    const record = await relay.simulated!.records.waitFor((r) => r.prompt?.includes('img20-sse') === true);
    expect(record.bodyBytes).toBeGreaterThan(20 * MB);
  });

  it('a 20 MB image request is answered on the Anthropic-compatible POST /v1/messages', async () => {
    const res = await fetch(`${relay.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({
        model: 'claude-sim',
        max_tokens: 64,
        messages: [imageTurn(20 * MB, 'img20-compat [[sim tokens=3]]')],
      }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { type: string }).type).toBe('message');
  });

  it('a 33 MB request gets 413 payload_too_large naming the setting, in each route’s own shape', async () => {
    const body = JSON.stringify({ messages: [imageTurn(33 * MB, 'too big')] });
    const streams = await fetch(`${relay.url}/v1/streams`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(streams.status).toBe(413);
    const relayShape = (await streams.json()) as { error: { code: string; message: string } };
    expect(relayShape.error.code).toBe('payload_too_large');
    expect(relayShape.error.message).toContain('RELAY_BODY_LIMIT_BYTES');

    const compat = await fetch(`${relay.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-sim', max_tokens: 8, messages: [imageTurn(33 * MB, 'too big')] }),
    });
    expect(compat.status).toBe(413);
    const anthropicShape = (await compat.json()) as {
      type: string;
      error: { type: string; message: string };
    };
    expect(anthropicShape).toMatchObject({ type: 'error', error: { type: 'request_too_large' } });
    expect(anthropicShape.error.message).toContain('RELAY_BODY_LIMIT_BYTES');
    // The relay is fine afterwards.
    expect((await fetch(`${relay.url}/health`)).status).toBe(200);
  });
});

describe('the WebSocket start frame', () => {
  it('takes a 20 MB start; an oversize one gets an error for that frame while the other streams go on', async () => {
    const ws = await WsClient.open(wsUrl(relay.url));
    try {
      // A slow stream already running on the socket.
      const running = await ws.start({ message: 'ws-running [[sim tokens=30 tps=100]]' });
      ws.send({
        type: 'start',
        ref: 'huge',
        request: { messages: [imageTurn(33 * MB, 'ws too big')] },
      });
      const refused = await ws.waitFor((m) => m.type === 'error' && m.ref === 'huge', 20_000);
      expect(refused).toMatchObject({ code: 'payload_too_large', retryable: false });
      expect(String(refused.message)).toContain('RELAY_BODY_LIMIT_BYTES');
      const events = await ws.untilTerminal(running, 20_000);
      expect(events.at(-1)?.type).toBe('done');

      const big = await ws.start({ messages: [imageTurn(20 * MB, 'ws-img20 [[sim tokens=3]]')] }, 'big');
      expect((await ws.untilTerminal(big, 20_000)).at(-1)?.type).toBe('done');
      expect(ws.ws.readyState).toBe(ws.ws.OPEN);
    } finally {
      await ws.close();
    }
  });
});

describe('request bytes held at once', () => {
  it('past RELAY_MAX_REQUEST_BYTES_IN_FLIGHT a new request gets 503 overloaded; once the held one is read, requests go through', async () => {
    const small = await startTestRelay({ maxRequestBytesInFlight: 1.5 * MB });
    try {
      const { port } = new URL(small.url);
      const payload = JSON.stringify({ messages: [imageTurn(MB - 200, 'held [[sim tokens=2]]')] });
      const length = Buffer.byteLength(payload);
      // A client that declares 1 MB and sends half of it: its bytes are held while it uploads.
      const held = httpRequest({
        host: '127.0.0.1',
        port: Number(port),
        method: 'POST',
        path: '/v1/streams',
        headers: { 'content-type': 'application/json', 'content-length': length },
      });
      const heldAnswer = new Promise<number>((resolve, reject) => {
        held.once('response', (res) => {
          res.resume();
          res.once('end', () => resolve(res.statusCode ?? 0));
        });
        held.once('error', reject);
      });
      held.write(payload.slice(0, length / 2));
      // Wait until the relay has the first half (it reserves the declared length on the first read).
      const deadline = Date.now() + 5000;
      let refused: Response | undefined;
      while (Date.now() < deadline) {
        const res = await fetch(`${small.url}/v1/streams`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: payload,
        });
        if (res.status === 503) {
          refused = res;
          break;
        }
        await readSse(res);
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(refused?.status).toBe(503);
      const body = (await refused!.json()) as {
        error: { code: string; message: string; retryable: boolean };
      };
      expect(body.error.code).toBe('overloaded');
      expect(body.error.message).toContain('RELAY_MAX_REQUEST_BYTES_IN_FLIGHT');

      held.end(payload.slice(length / 2));
      expect(await heldAnswer).toBe(200);
      const after = await fetch(`${small.url}/v1/streams`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: payload,
      });
      expect(after.status).toBe(200);
      await readSse(after);
    } finally {
      await small.close();
    }
  });
});
