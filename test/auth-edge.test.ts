/**
 * JWTs, origins, CORS, content types, Host checks and the anonymous-mode start rules, over real
 * sockets; and the upstream key never shown anywhere.
 */
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { testConfig } from '../src/config.js';
import { type RelayServer, startRelay } from '../src/server.js';
import { startSimulatedUpstream } from '../src/upstream/simulated/index.js';
import { jsonHeaders, rawRequest, writeKeysFile } from './auth-helpers.js';
import { readSse } from './helpers/sse.js';
import { WsClient, wsUrl } from './helpers/ws.js';

const SECRET = 'an-hs256-secret-that-is-at-least-32-chars';

async function hs256(claims: Record<string, unknown>, secret = SECRET, expSeconds = 60): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(Math.floor(Date.now() / 1000) + expSeconds)
    .sign(new TextEncoder().encode(secret));
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Status of a WebSocket upgrade attempt (101 when it opened). */
function upgradeStatus(url: string, options: WebSocket.ClientOptions = {}): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, options);
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('open', () => {
      resolve(101);
      ws.close();
    });
    ws.once('error', () => {});
  });
}

describe('JWT with RELAY_JWT_SECRET (HS256)', () => {
  let relay: RelayServer;
  beforeAll(async () => {
    const keysFile = writeKeysFile([], [{ id: 'jwt', limits: { max_tokens: 50 } }]);
    relay = await startRelay(testConfig({ host: '127.0.0.1', jwtSecret: SECRET, keysFile }));
  });
  afterAll(() => relay.close());

  const get = (token: string, path = '/v1/streams/str_x') =>
    fetch(`${relay.url}${path}`, { headers: { authorization: `Bearer ${token}` } });

  it('accepts a valid token; its sub owns the streams; the jwt entry limits apply', async () => {
    const token = await hs256({ sub: 'user-1' });
    expect((await get(token)).status).toBe(404);
    const res = await fetch(`${relay.url}/v1/streams`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({ message: 'jwt [[sim tokens=1]]', max_tokens: 50 }),
    });
    expect(res.status).toBe(201);
    const { stream_id } = (await res.json()) as { stream_id: string };
    expect((await get(token, `/v1/streams/${stream_id}`)).status).toBe(200);
    const other = await hs256({ sub: 'user-2' });
    expect((await get(other, `/v1/streams/${stream_id}`)).status).toBe(404);
    const over = await fetch(`${relay.url}/v1/streams`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ message: 'jwt', max_tokens: 51 }),
    });
    expect(over.status).toBe(400);
  });

  it('refuses an expired token, a wrong key, alg none, and a token without exp', async () => {
    expect((await get(await hs256({ sub: 'u' }, SECRET, -10))).status).toBe(401);
    expect((await get(await hs256({ sub: 'u' }, 'another-secret-that-is-32-chars-long!!'))).status).toBe(401);
    const none = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: 'u', exp: Math.floor(Date.now() / 1000) + 60 })}.`;
    expect((await get(none)).status).toBe(401);
    const noExp = await new SignJWT({ sub: 'u' })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(SECRET));
    expect((await get(noExp)).status).toBe(401);
    const body = (await (await get(none)).json()) as { error: { code: string } };
    expect(body.error.code).toBe('unauthorized');
  });
});

describe('JWT with RELAY_JWT_PUBLIC_KEY', () => {
  for (const type of ['rsa', 'ec', 'ed25519'] as const) {
    it(`verifies ${type} tokens with the configured key and refuses another key's`, async () => {
      const options = type === 'rsa' ? { modulusLength: 2048 } : type === 'ec' ? { namedCurve: 'P-256' } : {};
      const pair = generateKeyPairSync(type as 'rsa', options as { modulusLength: number });
      const stranger = generateKeyPairSync(type as 'rsa', options as { modulusLength: number });
      const alg = type === 'rsa' ? 'RS256' : type === 'ec' ? 'ES256' : 'EdDSA';
      const pem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const relay = await startRelay(testConfig({ host: '127.0.0.1', jwtPublicKey: pem }));
      try {
        const sign = (key: typeof pair.privateKey) =>
          new SignJWT({ sub: 'pk-user' }).setProtectedHeader({ alg }).setExpirationTime('1m').sign(key);
        const ok = await fetch(`${relay.url}/v1/streams/str_x`, {
          headers: { authorization: `Bearer ${await sign(pair.privateKey)}` },
        });
        expect(ok.status).toBe(404);
        const wrong = await fetch(`${relay.url}/v1/streams/str_x`, {
          headers: { authorization: `Bearer ${await sign(stranger.privateKey)}` },
        });
        expect(wrong.status).toBe(401);
        // Algorithm confusion: an HS256 token "signed" with the public key's PEM is refused.
        const confused = await new SignJWT({ sub: 'x' })
          .setProtectedHeader({ alg: 'HS256' })
          .setExpirationTime('1m')
          .sign(new TextEncoder().encode(pem));
        expect(
          (await fetch(`${relay.url}/v1/streams/str_x`, { headers: { authorization: `Bearer ${confused}` } }))
            .status,
        ).toBe(401);
      } finally {
        await relay.close();
      }
    });
  }
});

describe('origins and CORS (anonymous loopback relay)', () => {
  let relay: RelayServer;
  let open: RelayServer;
  beforeAll(async () => {
    relay = await startRelay(testConfig({ host: '127.0.0.1' }));
    open = await startRelay(testConfig({ host: '127.0.0.1', allowedOrigins: 'http://app.example' }));
  });
  afterAll(async () => {
    await relay.close();
    await open.close();
  });

  it('refuses a cross-site WebSocket upgrade with 403 before the handshake; same-origin and no-Origin clients connect', async () => {
    expect(await upgradeStatus(wsUrl(relay.url), { headers: { origin: 'http://evil.example' } })).toBe(403);
    expect(await upgradeStatus(wsUrl(relay.url), { headers: { origin: relay.url } })).toBe(101);
    expect(await upgradeStatus(wsUrl(relay.url))).toBe(101);
    expect(await upgradeStatus(wsUrl(open.url), { headers: { origin: 'http://app.example' } })).toBe(101);
    expect(await upgradeStatus(wsUrl(open.url), { headers: { origin: 'http://evil.example' } })).toBe(403);
  });

  it('refuses a cross-site HTTP request from a page that is not allowed', async () => {
    const res = await rawRequest(`${relay.url}/v1/streams`, {
      method: 'POST',
      headers: { origin: 'http://evil.example', 'content-type': 'application/json' },
      body: '{"message":"steal"}',
    });
    expect(res.status).toBe(403);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('answers preflights and puts CORS headers on SSE answers for an allowed origin', async () => {
    const preflight = await rawRequest(`${open.url}/v1/streams`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, x-api-key',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('http://app.example');
    expect(String(preflight.headers['access-control-allow-headers'])).toContain('x-api-key');
    const refused = await rawRequest(`${open.url}/v1/streams`, {
      method: 'OPTIONS',
      headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(refused.status).toBe(403);

    const sse = await fetch(`${open.url}/v1/streams`, {
      method: 'POST',
      headers: { origin: 'http://app.example', 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'cors [[sim tokens=2]]' }),
    });
    expect(sse.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(sse.headers.get('access-control-allow-origin')).toBe('http://app.example');
    expect(sse.headers.get('access-control-expose-headers')).toContain('x-stream-id');
    await readSse(sse);
  });

  it('refuses a JSON POST without a JSON content type with 415 (a "simple" cross-site request)', async () => {
    for (const path of ['/v1/streams', '/chat/stream', '/v1/messages']) {
      const res = await fetch(`${relay.url}${path}`, { method: 'POST', body: '{"message":"x"}' });
      expect(res.status, path).toBe(415);
    }
    const body = (await (await fetch(`${relay.url}/v1/streams`, { method: 'POST', body: '{}' })).json()) as {
      error: { code: string; message: string };
    };
    expect(body.error.code).toBe('unsupported_media_type');
    expect(body.error.message).toContain('application/json');
  });

  it('refuses a Host that is not its own while anonymous (DNS rebinding), on HTTP and WebSocket', async () => {
    const rebound = await rawRequest(`${relay.url}/v1/streams/str_x`, {
      headers: { host: `evil.example:${relay.port}` },
    });
    expect(rebound.status).toBe(403);
    expect(rebound.body).toContain('RELAY_ALLOWED_HOSTS');
    expect(
      (await rawRequest(`${relay.url}/v1/streams/str_x`, { headers: { host: `localhost:${relay.port}` } }))
        .status,
    ).toBe(404);
    expect(await upgradeStatus(wsUrl(relay.url), { headers: { host: `evil.example:${relay.port}` } })).toBe(
      403,
    );
    const listed = await startRelay(testConfig({ host: '127.0.0.1', allowedHosts: 'relay.internal' }));
    try {
      expect(
        (await rawRequest(`${listed.url}/v1/streams/str_x`, { headers: { host: 'relay.internal' } })).status,
      ).toBe(404);
    } finally {
      await listed.close();
    }
  });
});

describe('anonymous mode only on loopback', () => {
  it('refuses to start anonymous on a non-loopback host, and says how to fix it', async () => {
    await expect(startRelay(testConfig({ host: '0.0.0.0' }))).rejects.toThrow(
      /RELAY_KEYS_FILE.*RELAY_AUTH=none/s,
    );
  });

  it('starts with RELAY_AUTH=none on any host, with a warning', async () => {
    const lines: string[] = [];
    const relay = await startRelay(testConfig({ host: '0.0.0.0', auth: 'none' }), {
      logger: pino({ level: 'warn' }, { write: (l: string) => lines.push(l) }),
    });
    try {
      expect(lines.some((l) => l.includes('RELAY_AUTH=none'))).toBe(true);
      const res = await fetch(`http://127.0.0.1:${relay.port}/v1/streams/str_x`);
      expect(res.status).toBe(404);
    } finally {
      await relay.close();
    }
  });

  it('starts with keys on a non-loopback host', async () => {
    const relay = await startRelay(testConfig({ host: '0.0.0.0', apiKeys: 'k:secret-123456789' }));
    await relay.close();
  });
});

describe('the upstream key is never shown', () => {
  const UPSTREAM_KEY = 'sk-ant-upstream-SECRET-0123456789abcdef';
  let sim: Awaited<ReturnType<typeof startSimulatedUpstream>>;
  let relay: RelayServer;
  const logs: string[] = [];

  beforeAll(async () => {
    sim = await startSimulatedUpstream({ firstTokenMs: 0, tokensPerSecond: 0 });
    relay = await startRelay(
      testConfig({
        host: '127.0.0.1',
        anthropicApiKey: UPSTREAM_KEY,
        anthropicBaseUrl: sim.url,
        apiKeys: 'c:client-key-123456',
        retryMaxAttempts: 1,
      }),
      { logger: pino({ level: 'debug' }, { write: (l: string) => logs.push(l) }) },
    );
  });
  afterAll(async () => {
    await relay.close();
    await sim.close();
  });

  it('not in any response, log line or metric, on success and on every kind of failure', async () => {
    const seen: string[] = [];
    const record = async (res: Response): Promise<void> => {
      const headers: string[] = [];
      res.headers.forEach((value, name) => {
        headers.push(`${name}: ${value}`);
      });
      seen.push(headers.join('\n'), await res.text());
    };
    const h = jsonHeaders('client-key-123456');
    await record(
      await fetch(`${relay.url}/v1/streams`, {
        method: 'POST',
        headers: h,
        body: '{"message":"ok [[sim tokens=2]]"}',
      }),
    );
    for (const fault of ['status=401', 'status=500', 'error_after=1', 'reset_after=1']) {
      await record(
        await fetch(`${relay.url}/v1/streams`, {
          method: 'POST',
          headers: h,
          body: JSON.stringify({ message: `f [[sim ${fault}]]` }),
        }),
      );
      await record(
        await fetch(`${relay.url}/chat/stream`, {
          method: 'POST',
          headers: h,
          body: JSON.stringify({ message: `f [[sim ${fault}]]` }),
        }),
      );
      await record(
        await fetch(`${relay.url}/v1/messages`, {
          method: 'POST',
          headers: h,
          body: JSON.stringify({
            model: 'claude-sim',
            max_tokens: 5,
            messages: [{ role: 'user', content: `f [[sim ${fault}]]` }],
          }),
        }),
      );
    }
    const ws = await WsClient.open(wsUrl(relay.url), { headers: { 'x-api-key': 'client-key-123456' } });
    const id = await ws.start({ message: 'ws [[sim status=401]]' });
    await ws.untilTerminal(id);
    seen.push(JSON.stringify(ws.messages));
    await ws.close();
    await record(await fetch(`${relay.url}/metrics`));
    await record(await fetch(`${relay.url}/ready`));
    await record(await fetch(`${relay.url}/v1/models`, { headers: h }));
    // It did reach the upstream (so the test proves something), and nothing carried it back.
    expect(sim.records.all().some((r) => r.auth !== undefined)).toBe(true);
    expect(seen.join('\n')).not.toContain(UPSTREAM_KEY);
    expect(seen.join('\n')).not.toContain('SECRET-0123456789');
    expect(logs.join('\n')).not.toContain('SECRET-0123456789');
    expect(logs.join('\n')).not.toContain('client-key-123456');
  });
});
