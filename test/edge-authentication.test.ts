/**
 * The edge seam: one `authenticate()` decides the principal for every HTTP route (middleware) and
 * before the WebSocket handshake; a refusal is answered by the app's one `onError` in the route's
 * own error shape. Driven with a fake `Authenticate` at the seam; everything else is real.
 */
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { testConfig } from '../src/config.js';
import { RelayError } from '../src/core/errors.js';
import type { RelayServer } from '../src/server.js';
import { startRelay } from '../src/server.js';
import type { Authenticate } from '../src/transports/authenticate.js';
import { WsClient, wsUrl } from './helpers/ws.js';

/** Principal from `x-test-principal`; refused without it. Counts calls per path. */
const calls: string[] = [];
const fakeAuthenticate: Authenticate = async (req: IncomingMessage) => {
  calls.push(req.url ?? '');
  const who = req.headers['x-test-principal'];
  if (typeof who !== 'string') throw new RelayError('unauthorized', 'send x-test-principal');
  return { id: who, limits: {} };
};

let relay: RelayServer;
beforeAll(async () => {
  relay = await startRelay(testConfig({ host: '127.0.0.1', port: 0 }), { authenticate: fakeAuthenticate });
});
afterAll(() => relay.close());

const as = (who: string) => ({ 'x-test-principal': who, 'content-type': 'application/json' });

describe('one authenticate() at the edge', () => {
  it('a refusal on a relay route is the relay error shape, 401', async () => {
    const res = await fetch(`${relay.url}/v1/streams`, { method: 'POST', body: '{"message":"hi"}' });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: { code: 'unauthorized', message: 'send x-test-principal' } });
  });

  it("a refusal on an Anthropic-compatible route is Anthropic's error shape, 401", async () => {
    for (const path of ['/v1/messages', '/v1/models', '/v1/models/claude-x', '/v1/messages/count_tokens']) {
      const res = await fetch(`${relay.url}${path}`, {
        method: path.includes('models') ? 'GET' : 'POST',
        body: path.includes('models') ? null : '{}',
        // Anthropic SDKs send it; without it /v1/models is OpenAI's (next test).
        headers: { 'anthropic-version': '2023-06-01' },
      });
      expect(res.status, path).toBe(401);
      expect(await res.json(), path).toEqual({
        type: 'error',
        error: { type: 'authentication_error', message: 'send x-test-principal' },
      });
    }
  });

  it("a refusal on an OpenAI-compatible route is OpenAI's error shape, 401", async () => {
    for (const path of ['/v1/chat/completions', '/v1/models', '/v1/models/claude-x']) {
      const res = await fetch(`${relay.url}${path}`, {
        method: path.includes('models') ? 'GET' : 'POST',
        body: path.includes('models') ? null : '{}',
      });
      expect(res.status, path).toBe(401);
      expect(await res.json(), path).toEqual({
        error: {
          message: 'send x-test-principal',
          type: 'authentication_error',
          param: null,
          code: 'unauthorized',
        },
      });
    }
  });

  it('the principal it returns owns the stream: another principal gets 404, the owner 200', async () => {
    const created = await fetch(`${relay.url}/v1/streams`, {
      method: 'POST',
      headers: { ...as('alice'), accept: 'application/json' },
      body: '{"message":"hi"}',
    });
    expect(created.status).toBe(201);
    const { stream_id } = (await created.json()) as { stream_id: string };
    const mine = await fetch(`${relay.url}/v1/streams/${stream_id}`, { headers: as('alice') });
    expect(mine.status).toBe(200);
    const theirs = await fetch(`${relay.url}/v1/streams/${stream_id}`, { headers: as('bob') });
    expect(theirs.status).toBe(404);
    expect(((await theirs.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });

  it('runs once per request', async () => {
    calls.length = 0;
    await (await fetch(`${relay.url}/v1/streams/str_nope`, { headers: as('alice') })).text();
    expect(calls).toEqual(['/v1/streams/str_nope']);
  });

  it('refuses a WebSocket upgrade with 401 before the handshake, and owns WS streams by principal', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(wsUrl(relay.url));
      ws.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        res.resume();
      });
      ws.once('open', () => reject(new Error('the upgrade was accepted')));
      ws.once('error', () => {});
    });
    expect(status).toBe(401);

    const alice = await WsClient.open(wsUrl(relay.url), { headers: { 'x-test-principal': 'alice' } });
    const bob = await WsClient.open(wsUrl(relay.url), { headers: { 'x-test-principal': 'bob' } });
    try {
      const id = await alice.start({ message: 'hi' });
      await alice.untilTerminal(id);
      bob.send({ type: 'resume', stream_id: id, after: 0 });
      const refused = await bob.waitFor((m) => m.type === 'error');
      expect(refused).toMatchObject({ code: 'not_found', stream_id: id });
    } finally {
      await alice.close();
      await bob.close();
    }
  });
});
