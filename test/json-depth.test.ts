/**
 * Deeply nested JSON is refused at every JSON edge with 400 `invalid_request` (not retryable),
 * before anything serialises it again: `JSON.stringify` (the SDK's, a pong's) overflows the stack a
 * few thousand levels down, which used to surface as a retryable `internal_error` or a 502.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../src/config.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../src/core/json-depth.js';
import { type RelayServer, startRelay } from '../src/server.js';
import { startTestRelay } from './helpers/relay.js';
import { ScriptedUpstream } from './helpers/scripted-upstream.js';
import { readSse } from './helpers/sse.js';
import { WsClient, wsUrl } from './helpers/ws.js';

/** `[[[…]]]` nested `levels` deep, as text (building it as an object would be the same). */
function deepArray(levels: number): string {
  return `${'['.repeat(levels)}${']'.repeat(levels)}`;
}

let relay: RelayServer;
beforeAll(async () => {
  relay = await startTestRelay();
});
afterAll(async () => {
  await relay.close();
});

describe('nestsDeeperThan', () => {
  it('measures objects and arrays, scalars being depth 0', () => {
    expect(nestsDeeperThan('x', 0)).toBe(false);
    expect(nestsDeeperThan({}, 0)).toBe(true);
    expect(nestsDeeperThan({ a: [1, { b: 2 }] }, 3)).toBe(false);
    expect(nestsDeeperThan({ a: [1, { b: {} }] }, 3)).toBe(true);
    expect(nestsDeeperThan(JSON.parse(deepArray(MAX_JSON_DEPTH)), MAX_JSON_DEPTH)).toBe(false);
    expect(nestsDeeperThan(JSON.parse(deepArray(MAX_JSON_DEPTH + 1)), MAX_JSON_DEPTH)).toBe(true);
    expect(nestsDeeperThan(JSON.parse(deepArray(100_000)), MAX_JSON_DEPTH)).toBe(true);
  });
});

describe('10,000-level JSON over HTTP', () => {
  const deepMetadata = (extra: Record<string, unknown>) =>
    `{${Object.entries(extra)
      .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)},`)
      .join('')}"metadata":{"user_id":"u","x":${deepArray(10_000)}}}`;

  it.each([
    ['/v1/streams', { message: 'hi' }],
    ['/chat/stream', { message: 'hi' }],
  ])('POST %s answers 400 invalid_request, not retryable', async (path, fields) => {
    const res = await fetch(`${relay.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: deepMetadata(fields),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.message).toMatch(/more than 128 levels/);
  });

  it.each([
    ['/v1/messages', { model: 'claude-sim', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }],
    ['/v1/messages/count_tokens', { model: 'claude-sim', messages: [{ role: 'user', content: 'hi' }] }],
  ])("POST %s answers 400 in Anthropic's shape with x-should-retry: false", async (path, fields) => {
    const res = await fetch(`${relay.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'client-key' },
      body: deepMetadata({ ...fields, stream: path === '/v1/messages' }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-should-retry')).toBe('false');
    const body = (await res.json()) as { type: string; error: { type: string; message: string } };
    expect(body).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(body.error.message).toMatch(/more than 128 levels/);
  });

  it('still accepts a request nested to the limit', async () => {
    const res = await fetch(`${relay.url}/v1/streams`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      // metadata (1) + x (1) + 120 arrays: well inside 128.
      body: `{"message":"hi [[sim tokens=2]]","metadata":{"user_id":"u"},"system":"s","temperature":0.5}`,
    });
    expect(res.status).toBe(201);
  });
});

describe('10,000-level JSON over the WebSocket', () => {
  it('refuses a start whose request nests too deep (invalid_request) and a deep ping (invalid_message); the connection stays open', async () => {
    const client = await WsClient.open(wsUrl(relay.url));
    try {
      client.send(
        `{"type":"start","ref":"deep","request":{"message":"hi","metadata":{"user_id":"u","x":${deepArray(10_000)}}}}`,
      );
      const refused = await client.waitFor((m) => m.type === 'error' && m.ref === 'deep');
      expect(refused).toMatchObject({ code: 'invalid_request', retryable: false });
      expect(String(refused.message)).toMatch(/more than 128 levels/);

      // Before, the pong's JSON.stringify overflowed the stack inside the socket's data handler.
      client.send(`{"type":"ping","t":${deepArray(10_000)}}`);
      const bad = await client.waitFor((m) => m.type === 'error' && m.code === 'invalid_message');
      expect(bad.retryable).toBe(false);

      client.send({ type: 'ping', t: 'still here' });
      expect((await client.waitFor((m) => m.type === 'pong')).t).toBe('still here');
    } finally {
      await client.close();
    }
  });
});

describe('internal_error', () => {
  it('is logged with its stack when a stream meets a bug, and the client sees no internals', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line));
        done();
      },
    });
    const bug = new TypeError('cannot read properties of undefined (reading "boom")');
    const buggy = await startRelay(testConfig({ host: '127.0.0.1' }), {
      logger: pino({ level: 'error' }, sink),
      upstream: new ScriptedUpstream(() => [{ throw: bug }]),
    });
    try {
      const res = await fetch(`${buggy.url}/v1/streams`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'hi' }),
      });
      const { frames } = await readSse(res);
      const terminal = JSON.parse(frames.at(-1)!.data) as { code: string; message: string };
      expect(terminal).toMatchObject({ code: 'internal_error', message: 'internal error' });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const logged = lines.find((l) => l.msg === 'stream ended with internal_error');
      expect(logged).toBeDefined();
      const err = logged!.err as { type: string; message: string; stack: string };
      expect(err.type).toBe('TypeError');
      expect(err.stack).toContain('json-depth.test.ts');
    } finally {
      await buggy.close();
    }
  });
});
