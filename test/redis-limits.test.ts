/**
 * Per-key limits and tickets across two relay instances on one real redis-server: a key's
 * concurrency and rate limits hold across instances, a slot comes back when its stream ends and
 * when its instance dies, a ticket minted on one instance works on the other and is spent
 * everywhere at once, and a limited key meets Redis unreachable with 503 store_unavailable.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { testConfig } from '../src/config.js';
import { type RelayServer, startRelay } from '../src/server.js';
import { jsonHeaders, startDetached, type TestKey, writeKeysFile } from './auth-helpers.js';
import { requireComponent } from './helpers/components.js';
import { type RedisServer, startRedisServer } from './helpers/redis-server.js';
import { readSse, relayEvents } from './helpers/sse.js';
import { WsClient, wsUrl } from './helpers/ws.js';

const REDIS = requireComponent('redis');
const ROOT = new URL('..', import.meta.url).pathname;

const single: TestKey = { id: 'single', secret: 'rk_single_0123456789', limits: { concurrent_streams: 1 } };
const rpm: TestKey = { id: 'rpm', secret: 'rk_rpm_0123456789', limits: { requests_per_minute: 3 } };
const tpm: TestKey = { id: 'tpm', secret: 'rk_tpm_0123456789', limits: { tokens_per_minute: 1000 } };
const dies: TestKey = { id: 'dies', secret: 'rk_dies_0123456789', limits: { concurrent_streams: 1 } };
const alice: TestKey = { id: 'alice', secret: 'rk_alice_0123456789' };
const KEYS_FILE = writeKeysFile([single, rpm, tpm, dies, alice]);

async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function expectQuota(res: Response, mentions: string): Promise<void> {
  expect(res.status).toBe(429);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe('quota_exceeded');
  expect(body.error.message).toContain(mentions);
}

async function streamId(res: Response): Promise<string> {
  expect(res.status).toBe(201);
  return ((await res.json()) as { stream_id: string }).stream_id;
}

function cancel(url: string, id: string, secret: string): Promise<Response> {
  return fetch(`${url}/v1/streams/${id}/cancel`, { method: 'POST', headers: jsonHeaders(secret) });
}

async function ticketFrom(url: string, secret: string): Promise<string> {
  const res = await fetch(`${url}/v1/tickets`, { method: 'POST', headers: { 'x-api-key': secret } });
  expect(res.status).toBe(201);
  return ((await res.json()) as { ticket: string }).ticket;
}

/** The HTTP status of a WebSocket upgrade (101 when it opened). */
async function upgradeStatus(url: string): Promise<number> {
  const ws = new WebSocket(url);
  const status = await new Promise<number>((resolve) => {
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('open', () => resolve(101));
    ws.once('error', () => resolve(0));
  });
  ws.terminate();
  return status;
}

describe.skipIf(!REDIS)('limits and tickets across instances on one Redis', () => {
  let redis: RedisServer;
  let a: RelayServer;
  let b: RelayServer;
  let child: ChildProcess | undefined;

  const start = () =>
    startRelay(
      testConfig({
        host: '127.0.0.1',
        port: 0,
        keysFile: KEYS_FILE,
        redisUrl: redis.url,
        redisLeaseMs: 3000,
      }),
    );

  beforeAll(async () => {
    redis = await startRedisServer(REDIS!);
    a = await start();
    b = await start();
  }, 30_000);

  afterAll(async () => {
    child?.kill('SIGKILL');
    await Promise.allSettled([a?.close(), b?.close()]);
    await redis?.stop();
  });

  it('concurrency 1: a stream on A takes the slot on B too (429 quota_exceeded); once it ends, B admits', async () => {
    const first = await streamId(
      await startDetached(a.url, single.secret, { message: 'conc-1 [[sim tokens=5000 tps=50]]' }),
    );
    await expectQuota(
      await startDetached(b.url, single.secret, { message: 'conc-over-b [[sim tokens=1]]' }),
      '1 concurrent streams',
    );
    // The WebSocket start on B says the same.
    const ws = await WsClient.open(wsUrl(b.url), { headers: { 'x-api-key': single.secret } });
    try {
      ws.send({ type: 'start', ref: 'over', request: { message: 'conc-over-ws' } });
      expect(await ws.waitFor((m) => m.type === 'error' && m.ref === 'over')).toMatchObject({
        code: 'quota_exceeded',
        retryable: true,
      });
    } finally {
      await ws.close();
    }
    expect(b.simulated!.records.all().some((r) => r.prompt?.includes('conc-over') === true)).toBe(false);
    // Cancelled on B, where it does not run: the answer comes once A ended it (and settled the slot).
    expect(((await (await cancel(b.url, first, single.secret)).json()) as { state: string }).state).toBe(
      'cancelled',
    );
    const next = await startDetached(b.url, single.secret, { message: 'conc-2 [[sim tokens=3]]' });
    const second = await streamId(next);
    // Ends by itself: read it on A (the follower sees the terminal after the slot was settled).
    const read = await fetch(`${a.url}/v1/streams/${second}/events`, { headers: jsonHeaders(single.secret) });
    expect(relayEvents((await readSse(read)).frames).at(-1)?.type).toBe('done');
    const third = await streamId(
      await startDetached(a.url, single.secret, { message: 'conc-3 [[sim tokens=1]]' }),
    );
    await cancel(a.url, third, single.secret);
  });

  it('requests per minute are counted across instances', async () => {
    for (const relay of [a, b, a]) {
      const res = await startDetached(relay.url, rpm.secret, { message: 'rpm [[sim tokens=1]]' });
      expect(res.status).toBe(201);
    }
    for (const relay of [b, a]) {
      await expectQuota(await startDetached(relay.url, rpm.secret, { message: 'rpm-over' }), '3 requests');
    }
  });

  it('tokens per minute are counted across instances (max_tokens reserved at start)', async () => {
    const held = await streamId(
      await startDetached(a.url, tpm.secret, { message: 'tpm [[sim tokens=5000 tps=50]]', max_tokens: 600 }),
    );
    await expectQuota(
      await startDetached(b.url, tpm.secret, { message: 'tpm-over', max_tokens: 600 }),
      'tokens_per_minute (1000)',
    );
    const fits = await streamId(
      await startDetached(b.url, tpm.secret, { message: 'tpm-fits [[sim tokens=2]]', max_tokens: 400 }),
    );
    await cancel(a.url, held, tpm.secret);
    await cancel(b.url, fits, tpm.secret);
  });

  it('a ticket minted on A opens a WebSocket on B once; replaying it on A or B is refused (401)', async () => {
    const ticket = encodeURIComponent(await ticketFrom(a.url, alice.secret));
    const ws = await WsClient.open(`${wsUrl(b.url)}?ticket=${ticket}`);
    const id = await ws.start({ message: 'ticket ws [[sim tokens=2]]' });
    expect((await ws.untilTerminal(id)).at(-1)?.type).toBe('done');
    await ws.close();
    expect(await upgradeStatus(`${wsUrl(a.url)}?ticket=${ticket}`)).toBe(401);
    expect(await upgradeStatus(`${wsUrl(b.url)}?ticket=${ticket}`)).toBe(401);
    // Spent on A first, then B refuses it too.
    const other = encodeURIComponent(await ticketFrom(b.url, alice.secret));
    expect(await upgradeStatus(`${wsUrl(a.url)}?ticket=${other}`)).toBe(101);
    expect(await upgradeStatus(`${wsUrl(b.url)}?ticket=${other}`)).toBe(401);
  });

  it('a ticket minted on B reads SSE events on A, again and again (EventSource reconnects)', async () => {
    const id = await streamId(
      await startDetached(a.url, alice.secret, { message: 'ticket sse [[sim tokens=3]]' }),
    );
    const ticket = await ticketFrom(b.url, alice.secret);
    for (const relay of [a, b, a]) {
      const res = await fetch(`${relay.url}/v1/streams/${id}/events?ticket=${ticket}`);
      expect(res.status).toBe(200);
      expect(relayEvents((await readSse(res)).frames).at(-1)?.type).toBe('done');
    }
  });

  it('an instance that dies gives its slots back within its lease: the other instance admits again', async () => {
    // bin/relay.js runs dist/; tsc emits even when another engineer's file fails the type check.
    await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT }).catch(() => {});
    const proc = spawn(process.execPath, ['bin/relay.js', 'serve', '--port', '0'], {
      cwd: ROOT,
      env: {
        ...process.env,
        ANTHROPIC_API_KEY: '',
        RELAY_HOST: '127.0.0.1',
        RELAY_KEYS_FILE: KEYS_FILE,
        REDIS_URL: redis.url,
        RELAY_REDIS_LEASE_MS: '2000',
        RELAY_LOG_LEVEL: 'silent',
        RELAY_SIM_FIRST_TOKEN_MS: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let out = '';
    proc.stdout!.on('data', (chunk) => {
      out += String(chunk);
    });
    await until(() => /listening on (http\S+)/.test(out), 20_000, 'the child relay to listen');
    const url = /listening on (http\S+)/.exec(out)![1]!;
    await streamId(await startDetached(url, dies.secret, { message: 'dies [[sim tokens=5000 tps=50]]' }));
    await expectQuota(await startDetached(b.url, dies.secret, { message: 'dies-over' }), '1 concurrent');
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
    // Nobody refreshes its slot any more: it expires one lease (2 s) later.
    let admitted: Response | undefined;
    await until(
      async () => {
        const res = await startDetached(b.url, dies.secret, { message: 'dies-after [[sim tokens=1]]' });
        if (res.status === 429) {
          await res.body?.cancel();
          return false;
        }
        admitted = res;
        return true;
      },
      10_000,
      'the dead instance slot to expire',
    );
    expect(admitted?.status).toBe(201);
  }, 60_000);

  it('Redis unreachable: a limited key gets 503 store_unavailable on /v1/messages too, never unlimited', async () => {
    await redis.stop();
    await until(async () => (await fetch(`${a.url}/ready`)).status === 503, 10_000, '/ready to say 503');
    const res = await fetch(`${a.url}/v1/messages`, {
      method: 'POST',
      headers: jsonHeaders(single.secret),
      body: JSON.stringify({
        model: 'claude-sim',
        max_tokens: 10,
        messages: [{ role: 'user', content: 'no-redis [[sim tokens=2]]' }],
      }),
    });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ type: 'error' });
    expect(a.simulated!.records.all().some((r) => r.prompt?.includes('no-redis') === true)).toBe(false);
    // A ticket can still be issued (the shared secret was read before), but spending it needs
    // Redis: the WebSocket upgrade is refused with 503, never let through as if unspent.
    const ticket = encodeURIComponent(await ticketFrom(a.url, alice.secret));
    expect(await upgradeStatus(`${wsUrl(a.url)}?ticket=${ticket}`)).toBe(503);
  }, 30_000);
});
