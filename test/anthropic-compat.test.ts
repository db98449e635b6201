/**
 * The relay as an Anthropic base URL: the official SDK, pointed at the relay, sees exactly what
 * the upstream answered (stream events, messages, errors and their headers), the client's key never
 * travels upstream, and a client that leaves aborts the upstream request.
 */
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Anthropic, { type APIError } from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer } from '../src/server.js';
import { startTestRelay } from './helpers/relay.js';

const MODEL = 'claude-sim';

let relay: RelayServer;

beforeAll(async () => {
  relay = await startTestRelay();
});

afterAll(async () => {
  await relay.close();
});

function client(options: { maxRetries?: number } = {}): Anthropic {
  return new Anthropic({ apiKey: 'client-key', baseURL: relay.url, maxRetries: options.maxRetries ?? 0 });
}

function ask(prompt: string, extra: Partial<Anthropic.MessageCreateParamsNonStreaming> = {}) {
  return { model: MODEL, max_tokens: 256, messages: [{ role: 'user' as const, content: prompt }], ...extra };
}

describe('POST /v1/messages through the SDK', () => {
  it('streams with messages.stream() and the final message carries the upstream usage and stop reason', async () => {
    const stream = client().messages.stream(ask('compat-stream [[sim tokens=12]]'));
    const texts: string[] = [];
    stream.on('text', (t) => texts.push(t));
    const final = await stream.finalMessage();
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage.output_tokens).toBeGreaterThan(0);
    expect(texts.join('')).toBe(final.content.map((b) => (b.type === 'text' ? b.text : '')).join(''));
    expect(texts.length).toBeGreaterThanOrEqual(2);
  });

  it("forwards Anthropic's own SSE event names and payloads for create({stream: true})", async () => {
    const res = await fetch(`${relay.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'client-key' },
      body: JSON.stringify({ ...ask('compat-raw [[sim tokens=5]]'), stream: true }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('request-id')).toMatch(/^req_/);
    const text = await res.text();
    const names = [...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
    expect(names[0]).toBe('message_start');
    expect(names).toContain('content_block_delta');
    expect(names.at(-1)).toBe('message_stop');

    const events: string[] = [];
    const stream = await client().messages.create({ ...ask('compat-create [[sim tokens=5]]'), stream: true });
    for await (const event of stream) events.push(event.type);
    expect(events[0]).toBe('message_start');
    expect(events.at(-1)).toBe('message_stop');
  });

  it('answers a non-streaming create with the whole message', async () => {
    const message = await client().messages.create(ask('compat-whole [[sim tokens=7]]'));
    expect(message.type).toBe('message');
    expect(message.role).toBe('assistant');
    expect(message.stop_reason).toBe('end_turn');
    expect(message.content[0]?.type).toBe('text');
    expect(message.usage.input_tokens).toBeGreaterThan(0);
  });

  it('relays a tool call with its input and the tool_use stop reason', async () => {
    const tools: Anthropic.Tool[] = [
      {
        name: 'get_weather',
        description: 'weather for a city',
        input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    ];
    const final = await client()
      .messages.stream(ask('compat-tool in Paris [[sim tool=get_weather]]', { tools }))
      .finalMessage();
    expect(final.stop_reason).toBe('tool_use');
    const call = final.content.find((b) => b.type === 'tool_use');
    expect(call?.type === 'tool_use' && call.name).toBe('get_weather');
    expect(call?.type === 'tool_use' && typeof call.input).toBe('object');
  });

  it('relays extended thinking blocks with their signature', async () => {
    const final = await client()
      .messages.stream(
        ask('compat-thinking [[sim thinking=1 tokens=6]]', {
          max_tokens: 2048,
          thinking: { type: 'enabled', budget_tokens: 1024 },
        }),
      )
      .finalMessage();
    const thinking = final.content.find((b) => b.type === 'thinking');
    expect(thinking?.type === 'thinking' && thinking.thinking.length).toBeGreaterThan(0);
    expect(thinking?.type === 'thinking' && thinking.signature.length).toBeGreaterThan(0);
    expect(final.content.some((b) => b.type === 'text')).toBe(true);
  });
});

describe('errors keep Anthropic status, shape and headers', () => {
  it('turns an upstream 400 into the SDK BadRequestError with the upstream message', async () => {
    const err = await client()
      .messages.create({ model: MODEL, max_tokens: 10, messages: [] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as APIError).type).toBe('invalid_request_error');
  });

  it('passes a 429 with retry-after, request-id and x-should-retry through to the client', async () => {
    const err = await client({ maxRetries: 0 })
      .messages.create(ask('compat-429 [[sim status=429 retry_after=7]]'))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    const headers = (err as APIError).headers;
    expect(headers?.get('retry-after')).toBe('7');
    expect(headers?.get('x-should-retry')).toBe('true');
    expect(headers?.get('request-id')).toMatch(/^req_/);
    expect((err as APIError).type).toBe('rate_limit_error');
  });

  it("lets the client SDK's own retry succeed through the relay", async () => {
    const message = await client({ maxRetries: 1 }).messages.create(
      ask('compat-retry [[sim fail_first=1 status=529 retry_after_ms=1 tokens=3]]'),
    );
    expect(message.stop_reason).toBe('end_turn');
    const sim = relay.simulated!;
    const attempts = sim.records.all().filter((r) => r.prompt?.includes('compat-retry'));
    expect(attempts.map((r) => r.status)).toEqual([529, 200]);
  });

  it('passes an upstream 401 through as AuthenticationError', async () => {
    const err = await client()
      .messages.create(ask('compat-401 [[sim status=401]]'))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
  });

  it("answers a body that is not JSON with Anthropic's invalid_request_error shape", async () => {
    const res = await fetch(`${relay.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"model": ',
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { type: string; error: { type: string; message: string } };
    expect(body.type).toBe('error');
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toMatch(/JSON/);

    const array = await fetch(`${relay.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '[]',
    });
    expect(array.status).toBe(400);
    expect(((await array.json()) as { error: { message: string } }).error.message).toMatch(/JSON object/);
  });

  it('refuses a body over the size limit with request_too_large', async () => {
    const small = await startTestRelay({ bodyLimitBytes: 2048 });
    try {
      const res = await fetch(`${small.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(ask('x'.repeat(4096))),
      });
      expect(res.status).toBe(413);
      expect(((await res.json()) as { error: { type: string } }).error.type).toBe('request_too_large');
    } finally {
      await small.close();
    }
  });
});

describe('count_tokens and models', () => {
  it('counts tokens through the relay', async () => {
    const count = await client().messages.countTokens({
      model: MODEL,
      messages: [{ role: 'user', content: 'compat-count how many tokens is this' }],
    });
    expect(count.input_tokens).toBeGreaterThan(0);
  });

  it('lists models, pages them and retrieves one', async () => {
    const page = await client().models.list({ limit: 2 });
    expect(page.data).toHaveLength(2);
    expect(page.has_more).toBe(true);
    const one = await client().models.retrieve('claude-sim');
    expect(one.id).toBe('claude-sim');
    const missing = await client()
      .models.retrieve('no-such-model')
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(Anthropic.NotFoundError);
  });
});

describe('the connection between client and upstream', () => {
  it('aborts the upstream request as soon as the client aborts', async () => {
    const controller = new AbortController();
    const stream = client().messages.stream(ask('compat-abort [[sim tokens=400 tps=50]]'), {
      signal: controller.signal,
    });
    // Abort only once tokens are flowing, so the upstream is mid-stream when the client leaves.
    await new Promise<void>((resolve) => stream.once('text', () => resolve()));
    controller.abort();
    await stream.done().catch(() => {});
    const record = await relay.simulated!.records.waitFor(
      (r) => r.prompt?.includes('compat-abort') === true && r.clientClosedAt !== null,
    );
    expect(record.outcome).toBe('client_closed');
    expect(record.tokensSent).toBeLessThan(400);
  });

  it("ends a stream whose upstream connection broke with Anthropic's error event, not a silent close", async () => {
    const stream = client().messages.stream(ask('compat-reset [[sim tokens=20 reset_after=3]]'));
    const err = await stream.finalMessage().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect((err as APIError).message).toMatch(/upstream connection was lost/);
  });

  it('strips hop-by-hop headers from what it forwards', async () => {
    const res = await fetch(`${relay.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(ask('compat-headers [[sim tokens=3]]')),
    });
    expect(res.status).toBe(200);
    await res.text();
    expect(res.headers.get('anthropic-organization-id')).toBeNull();
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  });
});

describe("the relay's key, not the client's, reaches the upstream", () => {
  let fake: Server;
  let seen: IncomingHttpHeaders[];
  let keyed: RelayServer;

  beforeAll(async () => {
    seen = [];
    // A tiny upstream at the seam: it records the headers each request arrived with.
    fake = createServer((req, res) => {
      seen.push(req.headers);
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_fake' });
        res.end(JSON.stringify({ input_tokens: 3 }));
      });
    });
    fake.listen(0, '127.0.0.1');
    await once(fake, 'listening');
    const { port } = fake.address() as AddressInfo;
    keyed = await startTestRelay({
      anthropicApiKey: 'relay-key',
      anthropicBaseUrl: `http://127.0.0.1:${port}`,
    });
  });

  afterAll(async () => {
    await keyed.close();
    await new Promise<void>((resolve) => fake.close(() => resolve()));
  });

  it('never forwards x-api-key or Authorization from the client', async () => {
    const res = await fetch(`${keyed.url}/v1/messages/count_tokens`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-api-key': 'client-key',
        authorization: 'Bearer client-token',
        'anthropic-version': '2023-06-01',
        'anthropic-beta': 'some-beta-2025-01-01',
      },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('request-id')).toBe('req_fake');
    const headers = seen.at(-1)!;
    const credentials = `${headers['x-api-key'] ?? ''} ${headers.authorization ?? ''}`;
    expect(credentials).toContain('relay-key');
    expect(credentials).not.toContain('client');
    expect(headers['anthropic-version']).toBe('2023-06-01');
    expect(headers['anthropic-beta']).toBe('some-beta-2025-01-01');
  });
});
