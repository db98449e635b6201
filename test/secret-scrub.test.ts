/**
 * The relay's own upstream key never reaches a client, even from an upstream that echoes it (some
 * compatible gateways answer 401 with "invalid x-api-key: sk-…"): not in a header, an error body, a
 * passthrough SSE body (split across chunks) or a relay stream's error event, on any route.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../src/config.js';
import { REDACTED, SecretScrubber } from '../src/core/secret-scrubber.js';
import { type RelayServer, startRelay } from '../src/server.js';
import { readSse } from './helpers/sse.js';

const KEY = 'sk-ant-api03-THE-RELAYS-OWN-KEY-0123456789abcdef';

/** An Anthropic-compatible upstream that puts the credential it was given everywhere it can. */
function startEchoUpstream(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    // Whichever way the SDK sent the credential.
    const key = String(req.headers['x-api-key'] ?? req.headers.authorization?.replace(/^Bearer /, '') ?? '');
    let raw = '';
    req.on('data', (chunk: Buffer) => {
      raw += chunk.toString('utf8');
    });
    req.on('end', () => {
      const body =
        raw === '' ? {} : (JSON.parse(raw) as { stream?: boolean; messages?: { content: string }[] });
      const prompt = body.messages?.at(-1)?.content ?? '';
      const echo = { 'x-echoed-key': key, 'request-id': `req_${key}`, 'www-authenticate': `Bearer ${key}` };
      if (req.url?.startsWith('/v1/models/')) {
        res.writeHead(404, { 'content-type': 'application/json', ...echo });
        res.end(
          JSON.stringify({
            type: 'error',
            error: { type: 'not_found_error', message: `no model for ${key}` },
          }),
        );
      } else if (req.url?.startsWith('/v1/models')) {
        res.writeHead(200, { 'content-type': 'application/json', ...echo });
        res.end(JSON.stringify({ data: [{ type: 'model', id: `model-of-${key}` }], has_more: false }));
      } else if (req.url?.startsWith('/v1/messages/count_tokens')) {
        res.writeHead(200, { 'content-type': 'application/json', ...echo });
        res.end(JSON.stringify({ input_tokens: 3, debug: `counted with ${key}` }));
      } else if (prompt.includes('deny')) {
        res.writeHead(401, { 'content-type': 'application/json', ...echo });
        res.end(
          JSON.stringify({
            type: 'error',
            error: { type: 'authentication_error', message: `invalid x-api-key: ${key}` },
          }),
        );
      } else if (body.stream === true) {
        res.writeHead(200, { 'content-type': 'text/event-stream', ...echo });
        const frame = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
        const usage = { input_tokens: 3, output_tokens: 1 };
        const start = frame('message_start', {
          type: 'message_start',
          message: {
            id: 'msg_1',
            type: 'message',
            role: 'assistant',
            model: 'm',
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage,
          },
        });
        const delta = frame('content_block_delta', {
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'text_delta', text: `my key is ${key}!` },
        });
        // The key split across two writes (and two reads on the relay's side).
        const cut = delta.indexOf(key) + 10;
        res.write(
          start +
            frame('content_block_start', {
              type: 'content_block_start',
              index: 0,
              content_block: { type: 'text', text: '' },
            }),
        );
        res.write(delta.slice(0, cut));
        setTimeout(() => {
          res.write(delta.slice(cut));
          res.end(
            frame('content_block_stop', { type: 'content_block_stop', index: 0 }) +
              frame('message_delta', {
                type: 'message_delta',
                delta: { stop_reason: 'end_turn', stop_sequence: null },
                usage,
              }) +
              frame('message_stop', { type: 'message_stop' }),
          );
        }, 30);
      } else {
        res.writeHead(200, { 'content-type': 'application/json', ...echo });
        res.end(
          JSON.stringify({
            id: 'msg_1',
            type: 'message',
            role: 'assistant',
            model: 'm',
            content: [{ type: 'text', text: `your key: ${key}` }],
            stop_reason: 'end_turn',
            stop_sequence: null,
            usage: { input_tokens: 3, output_tokens: 4 },
          }),
        );
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }),
    ),
  );
}

let upstream: { url: string; server: Server };
let relay: RelayServer;

beforeAll(async () => {
  upstream = await startEchoUpstream();
  relay = await startRelay(
    testConfig({
      host: '127.0.0.1',
      anthropicApiKey: KEY,
      anthropicBaseUrl: upstream.url,
      retryMaxAttempts: 1,
    }),
  );
});
afterAll(async () => {
  await relay.close();
  await new Promise((resolve) => upstream.server.close(resolve));
});

function headersText(res: Response): string {
  return Array.from(res.headers as unknown as Iterable<[string, string]>)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');
}

function expectClean(text: string): void {
  expect(text).not.toContain(KEY);
  // Not even a long piece of it (a split key must not leak half by half).
  expect(text).not.toContain(KEY.slice(0, 20));
  expect(text).not.toContain(KEY.slice(-20));
}

// anthropic-version: an Anthropic client (the relay answers OpenAI clients' model list itself).
const json = {
  'content-type': 'application/json',
  'x-api-key': 'client-key',
  'anthropic-version': '2023-06-01',
};
const ask = (prompt: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'm', max_tokens: 16, messages: [{ role: 'user', content: prompt }], ...extra });

describe('an upstream that echoes the relay key', () => {
  it('POST /v1/messages 401: neither the headers nor the error body carry it', async () => {
    const res = await fetch(`${relay.url}/v1/messages`, {
      method: 'POST',
      headers: json,
      body: ask('deny me'),
    });
    expect(res.status).toBe(401);
    const body = await res.text();
    expectClean(headersText(res));
    expectClean(body);
    expect(body).toContain(`invalid x-api-key: ${REDACTED}`);
    expect(res.headers.get('x-echoed-key')).toBe(REDACTED);
  });

  it('POST /v1/messages streaming: the SSE body is scrubbed even when the key is split across chunks', async () => {
    const res = await fetch(`${relay.url}/v1/messages`, {
      method: 'POST',
      headers: json,
      body: ask('hello', { stream: true }),
    });
    expect(res.status).toBe(200);
    expectClean(headersText(res));
    const { frames } = await readSse(res);
    const all = frames.map((f) => f.data).join('\n');
    expectClean(all);
    expect(all).toContain(`my key is ${REDACTED}!`);
    expect(frames.at(-1)?.event).toBe('message_stop');

    // And the SDK, reading it, gets the scrubbed text as a normal message.
    const sdk = new Anthropic({ apiKey: 'client-key', baseURL: relay.url, maxRetries: 0 });
    const final = await sdk.messages
      .stream({ model: 'm', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] })
      .finalMessage();
    expect(final.content[0]).toMatchObject({ type: 'text', text: `my key is ${REDACTED}!` });
  });

  it('POST /v1/messages (whole), count_tokens and GET /v1/models[/:id]: bodies and headers are scrubbed', async () => {
    const answers = await Promise.all([
      fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: json, body: ask('hello') }),
      fetch(`${relay.url}/v1/messages/count_tokens`, { method: 'POST', headers: json, body: ask('hello') }),
      fetch(`${relay.url}/v1/models`, { headers: json }),
      fetch(`${relay.url}/v1/models/some-model`, { headers: json }),
    ]);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 404]);
    for (const res of answers) {
      expectClean(headersText(res));
      const body = await res.text();
      expectClean(body);
      expect(body).toContain(REDACTED);
    }
  });

  it('a relay stream (POST /v1/streams) ends with an error event that does not carry it', async () => {
    const res = await fetch(`${relay.url}/v1/streams`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'deny me' }),
    });
    expectClean(headersText(res));
    const { frames } = await readSse(res);
    const last = frames.at(-1)!;
    expect(last.event).toBe('error');
    expectClean(last.data);
  });
});

describe('SecretScrubber', () => {
  it('ignores short strings and replaces the longest secret first', () => {
    const s = new SecretScrubber(['abc', 'secret-one', 'secret-one-longer', undefined, '']);
    expect(s.scrub('x secret-one-longer y secret-one z abc')).toBe(`x ${REDACTED} y ${REDACTED} z abc`);
  });

  it('scrubs a body split anywhere, holding back nothing after a line end', () => {
    const secret = 'sk-0123456789-secret';
    const s = new SecretScrubber([secret]);
    const text = `data: {"a":"${secret}"}\n\ndata: ${secret}${secret}\n\nno newline ${secret} tail`;
    for (let cut = 0; cut <= text.length; cut++) {
      const body = s.body();
      const out = [
        body.push(Buffer.from(text.slice(0, cut))),
        body.push(Buffer.from(text.slice(cut))),
        body.end(),
      ];
      expect(Buffer.concat(out).toString()).toBe(text.split(secret).join(REDACTED));
    }
    const body = s.body();
    expect(body.push(Buffer.from('event: x\ndata: 1\n\n')).toString()).toBe('event: x\ndata: 1\n\n');
  });
});
