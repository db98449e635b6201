/**
 * Relay keys end to end over real sockets: credentials on every route but the public ones, two keys
 * that cannot see each other's streams or conversations (SSE, WebSocket, state, cancel, /v1/messages),
 * guessed ids, tickets, WebSocket subprotocols, revoke and reload while streams run.
 */
import { writeFileSync } from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { testConfig } from '../src/config.js';
import { type RelayServer, startRelay } from '../src/server.js';
import {
  eventually,
  jsonHeaders,
  keysFileText,
  rawRequest,
  sleep,
  startDetached,
  type TestKey,
  writeKeysFile,
} from './auth-helpers.js';
import { readSse, relayEvents } from './helpers/sse.js';
import { WsClient, wsUrl } from './helpers/ws.js';

const alice: TestKey = { id: 'alice', secret: 'rk_alice_secret_0123456789' };
const bob: TestKey = { id: 'bob', secret: 'rk_bob_secret_0123456789' };
const carol: TestKey = { id: 'carol', secret: 'rk_carol_secret_0123456789' };

let relay: RelayServer;
let keysFile: string;
const logLines: string[] = [];

beforeAll(async () => {
  keysFile = writeKeysFile([alice, bob, carol]);
  // Capture the relay's log lines (reload failures are logged, not thrown).
  const write = (line: string): void => {
    logLines.push(line);
  };
  relay = await startRelay(testConfig({ host: '127.0.0.1', port: 0, keysFile, ticketTtlMs: 1000 }), {
    keysPollMs: 20,
    logger: pino({ level: 'info' }, { write }),
  });
});
afterAll(() => relay.close());

async function stateOf(id: string, secret: string): Promise<number> {
  return (await fetch(`${relay.url}/v1/streams/${id}`, { headers: jsonHeaders(secret) })).status;
}

describe('credentials', () => {
  it('refuses a request without a key with 401 unauthorized, in each route family own shape', async () => {
    const streams = await fetch(`${relay.url}/v1/streams`, {
      method: 'POST',
      headers: jsonHeaders(),
      body: '{"message":"hi"}',
    });
    expect(streams.status).toBe(401);
    expect(((await streams.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    const messages = await fetch(`${relay.url}/v1/messages`, {
      method: 'POST',
      headers: jsonHeaders(),
      body: '{}',
    });
    expect(messages.status).toBe(401);
    expect(await messages.json()).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    for (const path of ['/v1/streams/str_x', '/v1/conversations/abcdefghijklmnopqrstuvwxyz', '/v1/models']) {
      expect((await fetch(`${relay.url}${path}`)).status, path).toBe(401);
    }
    const wrong = await fetch(`${relay.url}/v1/streams/str_x`, {
      headers: jsonHeaders('rk_not_a_key_at_all'),
    });
    expect(wrong.status).toBe(401);
  });

  it('leaves /health, /ready and the page open', async () => {
    for (const path of ['/health', '/ready', '/', '/web/app.js']) {
      expect((await fetch(`${relay.url}${path}`)).status, path).toBe(200);
    }
  });

  it('accepts the key as x-api-key and as Authorization: Bearer', async () => {
    const viaHeader = await startDetached(relay.url, alice.secret, { message: 'hi [[sim tokens=2]]' });
    expect(viaHeader.status).toBe(201);
    const { stream_id } = (await viaHeader.json()) as { stream_id: string };
    const bearer = await fetch(`${relay.url}/v1/streams/${stream_id}`, {
      headers: { authorization: `Bearer ${alice.secret}` },
    });
    expect(bearer.status).toBe(200);
  });

  it('lets an Anthropic SDK use its apiKey as the relay key', async () => {
    const client = new Anthropic({ apiKey: alice.secret, baseURL: relay.url, maxRetries: 0 });
    const msg = await client.messages.create({
      model: 'claude-sim',
      max_tokens: 50,
      messages: [{ role: 'user', content: 'sdk [[sim tokens=3]]' }],
    });
    expect(msg.content[0]?.type).toBe('text');
    const stranger = new Anthropic({ apiKey: 'rk_wrong_key_0123456789', baseURL: relay.url, maxRetries: 0 });
    await expect(
      stranger.messages.create({
        model: 'claude-sim',
        max_tokens: 5,
        messages: [{ role: 'user', content: 'x' }],
      }),
    ).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
  });
});

describe('ownership: two keys cannot see each other', () => {
  it("answers 404 for another key's stream on state, events, cancel; the owner gets it", async () => {
    const created = await startDetached(relay.url, alice.secret, {
      message: 'mine [[sim tokens=200 tps=50]]',
    });
    const { stream_id } = (await created.json()) as { stream_id: string };
    expect(await stateOf(stream_id, bob.secret)).toBe(404);
    const events = await fetch(`${relay.url}/v1/streams/${stream_id}/events`, {
      headers: jsonHeaders(bob.secret),
    });
    expect(events.status).toBe(404);
    expect(((await events.json()) as { error: { code: string } }).error.code).toBe('not_found');
    const cancel = await fetch(`${relay.url}/v1/streams/${stream_id}/cancel`, {
      method: 'POST',
      headers: jsonHeaders(bob.secret),
    });
    expect(cancel.status).toBe(404);
    // Bob's cancel did nothing: the stream still runs for Alice, who can cancel it.
    const state = (await (
      await fetch(`${relay.url}/v1/streams/${stream_id}`, { headers: jsonHeaders(alice.secret) })
    ).json()) as { state: string };
    expect(state.state).toBe('running');
    const mine = await fetch(`${relay.url}/v1/streams/${stream_id}/cancel`, {
      method: 'POST',
      headers: jsonHeaders(alice.secret),
    });
    expect(((await mine.json()) as { state: string }).state).toBe('cancelled');
  });

  it('answers a guessed id exactly like a foreign one', async () => {
    const guessed = await fetch(`${relay.url}/v1/streams/str_AAAAAAAAAAAAAAAAAAAAAA`, {
      headers: jsonHeaders(alice.secret),
    });
    expect(guessed.status).toBe(404);
    const body = (await guessed.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('not_found');
  });

  it('keeps WebSocket streams apart: resume and cancel of a foreign stream are not_found', async () => {
    const a = await WsClient.open(wsUrl(relay.url), { headers: { 'x-api-key': alice.secret } });
    const b = await WsClient.open(wsUrl(relay.url), { headers: { 'x-api-key': bob.secret } });
    try {
      const id = await a.start({ message: 'ws-own [[sim tokens=3]]' });
      await a.untilTerminal(id);
      b.send({ type: 'resume', stream_id: id, after: 0 });
      expect(await b.waitFor((m) => m.type === 'error' && m.stream_id === id)).toMatchObject({
        code: 'not_found',
      });
      b.send({ type: 'cancel', stream_id: 'str_guess' });
      expect(await b.waitFor((m) => m.type === 'error' && m.stream_id === 'str_guess')).toMatchObject({
        code: 'not_found',
      });
      expect(b.eventsOf(id)).toHaveLength(0);
      // And an SSE stream is as foreign to Bob's socket as a WebSocket one.
      const sse = await startDetached(relay.url, alice.secret, { message: 'sse-own [[sim tokens=3]]' });
      const sseId = ((await sse.json()) as { stream_id: string }).stream_id;
      b.send({ type: 'resume', stream_id: sseId, after: 0 });
      expect(await b.waitFor((m) => m.type === 'error' && m.stream_id === sseId)).toMatchObject({
        code: 'not_found',
      });
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('keeps conversations apart: another key can neither read nor extend one', async () => {
    const conversation_id = 'conv-alice-private-000000000';
    const first = await fetch(`${relay.url}/v1/streams`, {
      method: 'POST',
      headers: jsonHeaders(alice.secret),
      body: JSON.stringify({ message: 'secret plan [[sim tokens=3]]', conversation_id }),
    });
    await readSse(first);
    expect(
      (
        await fetch(`${relay.url}/v1/conversations/${conversation_id}`, {
          headers: jsonHeaders(alice.secret),
        })
      ).status,
    ).toBe(200);
    expect(
      (await fetch(`${relay.url}/v1/conversations/${conversation_id}`, { headers: jsonHeaders(bob.secret) }))
        .status,
    ).toBe(404);
    const extend = await fetch(`${relay.url}/v1/streams`, {
      method: 'POST',
      headers: jsonHeaders(bob.secret),
      body: JSON.stringify({ message: 'inject', conversation_id }),
    });
    expect(extend.status).toBe(404);
    const del = await fetch(`${relay.url}/v1/conversations/${conversation_id}`, {
      method: 'DELETE',
      headers: jsonHeaders(bob.secret),
    });
    expect(del.status).toBe(404);
    expect(
      (
        await fetch(`${relay.url}/v1/conversations/${conversation_id}`, {
          headers: jsonHeaders(alice.secret),
        })
      ).status,
    ).toBe(200);
  });

  it('refuses a short client-chosen conversation id and mints one on "new"', async () => {
    const short = await fetch(`${relay.url}/v1/streams`, {
      method: 'POST',
      headers: jsonHeaders(alice.secret),
      body: JSON.stringify({ message: 'x', conversation_id: 'a' }),
    });
    expect(short.status).toBe(400);
    expect(((await short.json()) as { error: { message: string } }).error.message).toMatch(/22/);
    const minted = await startDetached(relay.url, alice.secret, {
      message: 'm [[sim tokens=2]]',
      conversation_id: 'new',
    });
    const body = (await minted.json()) as { conversation_id: string };
    expect(body.conversation_id).toMatch(/^conv_[A-Za-z0-9_-]{22}$/);
  });
});

describe('tickets', () => {
  async function ticketFor(secret: string): Promise<{ ticket: string; expires_at: string }> {
    const res = await fetch(`${relay.url}/v1/tickets`, { method: 'POST', headers: { 'x-api-key': secret } });
    expect(res.status).toBe(201);
    return (await res.json()) as { ticket: string; expires_at: string };
  }

  it('issues a ticket bound to the key, with an ISO 8601 expiry; none without a key', async () => {
    const { ticket, expires_at } = await ticketFor(alice.secret);
    expect(ticket.split('.')).toHaveLength(3);
    expect(new Date(expires_at).toISOString()).toBe(expires_at);
    expect((await fetch(`${relay.url}/v1/tickets`, { method: 'POST' })).status).toBe(401);
  });

  it('opens a WebSocket once: a spent ticket is refused with 401 before the handshake', async () => {
    const { ticket } = await ticketFor(alice.secret);
    const ws = await WsClient.open(`${wsUrl(relay.url)}?ticket=${encodeURIComponent(ticket)}`);
    const id = await ws.start({ message: 'ticket ws [[sim tokens=2]]' });
    await ws.untilTerminal(id);
    await ws.close();
    await expect(WsClient.open(`${wsUrl(relay.url)}?ticket=${encodeURIComponent(ticket)}`)).rejects.toThrow(
      /401/,
    );
    // It opened Alice's socket: the stream is Alice's.
    expect(await stateOf(id, alice.secret)).toBe(200);
    expect(await stateOf(id, bob.secret)).toBe(404);
  });

  it('reads SSE events with a reusable ticket (EventSource reconnects), only for its own streams', async () => {
    const created = await startDetached(relay.url, alice.secret, { message: 'ticket sse [[sim tokens=3]]' });
    const { stream_id } = (await created.json()) as { stream_id: string };
    const { ticket } = await ticketFor(alice.secret);
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${relay.url}/v1/streams/${stream_id}/events?ticket=${ticket}`);
      expect(res.status).toBe(200);
      const events = relayEvents((await readSse(res)).frames);
      expect(events.at(-1)?.type).toBe('done');
    }
    const bobs = await ticketFor(bob.secret);
    expect((await fetch(`${relay.url}/v1/streams/${stream_id}/events?ticket=${bobs.ticket}`)).status).toBe(
      404,
    );
    // A ticket is no key: the other routes refuse it.
    expect((await fetch(`${relay.url}/v1/streams/${stream_id}?ticket=${ticket}`)).status).toBe(401);
  });

  it('expires: after its lifetime the same ticket is refused', async () => {
    const { ticket, expires_at } = await ticketFor(alice.secret);
    await sleep(Math.max(0, Date.parse(expires_at) - Date.now()) + 50);
    const ws = new WebSocket(`${wsUrl(relay.url)}?ticket=${ticket}`);
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => resolve(101));
      ws.once('error', () => {});
    });
    ws.terminate();
    expect(status).toBe(401);
    const created = await startDetached(relay.url, alice.secret, { message: 'late [[sim tokens=1]]' });
    const { stream_id } = (await created.json()) as { stream_id: string };
    expect((await fetch(`${relay.url}/v1/streams/${stream_id}/events?ticket=${ticket}`)).status).toBe(401);
  });
});

describe('WebSocket subprotocols', () => {
  it('authenticates relay.bearer.<key>, selects relay.v1 and never echoes the key', async () => {
    let handshakeHeaders: Record<string, unknown> = {};
    const ws = new WebSocket(wsUrl(relay.url), ['relay.v1', `relay.bearer.${alice.secret}`]);
    ws.on('upgrade', (res) => {
      handshakeHeaders = res.headers;
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    expect(ws.protocol).toBe('relay.v1');
    expect(JSON.stringify(handshakeHeaders)).not.toContain(alice.secret);
    ws.close();
    const refused = new WebSocket(wsUrl(relay.url), ['relay.v1', 'relay.bearer.rk_wrong_0123456789']);
    const status = await new Promise<number>((resolve) => {
      refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      refused.once('open', () => resolve(101));
      refused.once('error', () => {});
    });
    refused.terminate();
    expect(status).toBe(401);
  });
});

describe('the keys file changes while the relay runs', () => {
  it('revoking a key refuses its new requests at once while its running stream finishes', async () => {
    const running = await fetch(`${relay.url}/v1/streams`, {
      method: 'POST',
      headers: jsonHeaders(carol.secret),
      body: JSON.stringify({ message: 'long [[sim tokens=40 tps=100]]' }),
    });
    expect(running.status).toBe(200);
    writeFileSync(keysFile, keysFileText([alice, bob]));
    await eventually(async () => (await stateOf('str_probe', carol.secret)) === 401, 5000, 'carol revoked');
    const events = relayEvents((await readSse(running)).frames);
    expect(events.at(-1)?.type).toBe('done');
    // Others are untouched.
    expect(await stateOf('str_probe', alice.secret)).toBe(404);
    writeFileSync(keysFile, keysFileText([alice, bob, carol]));
    await eventually(async () => (await stateOf('str_probe', carol.secret)) === 404, 5000, 'carol back');
  });

  it('a reload that fails keeps the previous keys and logs why', async () => {
    writeFileSync(keysFile, '{"keys": [\n  {"id": "broken",\n}');
    await eventually(
      async () => logLines.some((l) => l.includes('reload failed')),
      5000,
      'reload failure logged',
    );
    const line = logLines.find((l) => l.includes('reload failed')) ?? '';
    expect(line).toMatch(/line \d/);
    expect(await stateOf('str_probe', alice.secret)).toBe(404);
    writeFileSync(keysFile, keysFileText([alice, bob, carol]));
    await eventually(async () => logLines.some((l) => l.includes('relay keys reloaded')), 5000, 'reloaded');
  });
});

describe('a keys file that does not parse', () => {
  it('refuses to start, naming the file and the line', async () => {
    const file = writeKeysFile([]);
    writeFileSync(file, '{\n  "keys": [\n    {"id": "x", "key_sha256": "nothex"}\n  ]\n}\n');
    await expect(startRelay(testConfig({ host: '127.0.0.1', keysFile: file }))).rejects.toThrow(
      new RegExp(`${file}.*line 3`),
    );
    writeFileSync(file, '{\n  "keys": [\n    {"id": "x",,}\n  ]\n}\n');
    await expect(startRelay(testConfig({ host: '127.0.0.1', keysFile: file }))).rejects.toThrow(/line 3/);
  });
});

describe('RELAY_API_KEYS quick form', () => {
  it('accepts id:secret pairs', async () => {
    const quick = await startRelay(testConfig({ host: '127.0.0.1', apiKeys: 'ci:ci-secret-123456' }));
    try {
      expect((await fetch(`${quick.url}/v1/streams/str_x`)).status).toBe(401);
      expect(
        (await fetch(`${quick.url}/v1/streams/str_x`, { headers: { 'x-api-key': 'ci-secret-123456' } }))
          .status,
      ).toBe(404);
      const raw = await rawRequest(`${quick.url}/v1/streams/str_x`, {
        headers: { authorization: 'Bearer ci-secret-123456' },
      });
      expect(raw.status).toBe(404);
    } finally {
      await quick.close();
    }
  });
});
