/**
 * One client cannot hold every stream slot: running streams are capped per client address (every
 * route, grace periods included, reconnecting frees nothing) and per WebSocket connection.
 * Loopback gives each test client its own address (127.0.0.2, 127.0.0.3, …).
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer } from '../src/server.js';
import { addressKey } from '../src/transports/remote-address.js';
import { startTestRelay } from './helpers/relay.js';
import { WsClient, wsUrl } from './helpers/ws.js';

/** Long enough to stay running through the test: 1 token a second. */
const SLOW = { message: 'slow [[sim tokens=100 tps=1]]' };

let relay: RelayServer;
beforeAll(async () => {
  relay = await startTestRelay({ maxStreamsPerAddress: 3, wsMaxStreamsPerConnection: 2, graceMs: 30_000 });
});
afterAll(async () => {
  await relay.close();
});

interface StartAnswer {
  stream_id: string;
  error: { code: string; message: string };
}

/** POST /v1/streams (detached) from `localAddress`: the status and the JSON body. */
function startFrom(localAddress: string, body: unknown): Promise<{ status: number; json: StartAnswer }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${relay.url}/v1/streams`,
      {
        method: 'POST',
        localAddress,
        headers: { 'content-type': 'application/json', accept: 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as StartAnswer }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

async function cancel(id: string): Promise<void> {
  await fetch(`${relay.url}/v1/streams/${id}/cancel`, { method: 'POST' });
}

describe('streams per client address', () => {
  it('refuses a fourth running stream from one address (429 limit_exceeded), not from another, and again after one ends', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { status, json } = await startFrom('127.0.0.2', SLOW);
      expect(status).toBe(201);
      ids.push(json.stream_id);
    }
    const refused = await startFrom('127.0.0.2', SLOW);
    expect(refused.status).toBe(429);
    expect(refused.json.error.code).toBe('limit_exceeded');
    expect(refused.json.error.message).toMatch(/address already has 3 streams running/);

    const other = await startFrom('127.0.0.4', SLOW);
    expect(other.status).toBe(201);

    await cancel(ids[0]!);
    const again = await startFrom('127.0.0.2', SLOW);
    expect(again.status).toBe(201);
    for (const id of [...ids.slice(1), other.json.stream_id, again.json.stream_id]) await cancel(id);
  });

  it('counts WebSocket streams left in their grace period against their creator, across reconnects', async () => {
    const first = await WsClient.open(wsUrl(relay.url), { localAddress: '127.0.0.3' });
    const a = await first.start(SLOW);
    const b = await first.start(SLOW);
    await first.close();
    // Both streams run on in their grace period, read by nobody.
    const again = await WsClient.open(wsUrl(relay.url), { localAddress: '127.0.0.3' });
    try {
      const c = await again.start(SLOW);
      again.send({ type: 'start', ref: 'fourth', request: SLOW });
      const refused = await again.waitFor((m) => m.type === 'error' && m.ref === 'fourth');
      expect(refused).toMatchObject({ code: 'limit_exceeded', retryable: false });

      // The HTTP routes count the same address too.
      expect((await startFrom('127.0.0.3', SLOW)).status).toBe(429);

      await cancel(a);
      const d = await again.start(SLOW);
      for (const id of [b, c, d]) await cancel(id);
    } finally {
      await again.close();
    }
  });
});

describe('streams per WebSocket connection', () => {
  it('refuses a third running stream on one connection; another connection from the same address may start one', async () => {
    const one = await WsClient.open(wsUrl(relay.url), { localAddress: '127.0.0.5' });
    const two = await WsClient.open(wsUrl(relay.url), { localAddress: '127.0.0.5' });
    try {
      const a = await one.start(SLOW);
      const b = await one.start(SLOW);
      one.send({ type: 'start', ref: 'third', request: SLOW });
      const refused = await one.waitFor((m) => m.type === 'error' && m.ref === 'third');
      expect(refused.code).toBe('limit_exceeded');
      expect(String(refused.message)).toMatch(/this connection already has 2 streams running/);
      const c = await two.start(SLOW);

      // A stream that ended frees its place on the connection.
      one.send({ type: 'cancel', stream_id: a });
      await one.untilTerminal(a);
      const d = await one.start(SLOW);
      for (const id of [b, c, d]) await cancel(id);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });
});

describe('addressKey', () => {
  it('counts an IPv4-mapped address as its IPv4 address and an IPv6 client by its /64', () => {
    expect(addressKey('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(addressKey('10.1.2.3')).toBe('10.1.2.3');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'));
    expect(addressKey('2001:db8:1:2::1')).not.toBe(addressKey('2001:db8:1:3::1'));
    expect(addressKey(undefined)).toBe('unknown');
  });
});
