/**
 * Per-key limits over real sockets: each at its boundary (N allowed, N+1 refused with 429
 * quota_exceeded and retry-after, the upstream never called), on SSE, WebSocket and /v1/messages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../src/config.js';
import { type RelayServer, startRelay } from '../src/server.js';
import { jsonHeaders, startDetached, type TestKey, writeKeysFile } from './auth-helpers.js';
import { readSse, relayEvents } from './helpers/sse.js';
import { WsClient, wsUrl } from './helpers/ws.js';

const concurrent: TestKey = { id: 'conc', secret: 'rk_conc_0123456789', limits: { concurrent_streams: 2 } };
const rpm: TestKey = { id: 'rpm', secret: 'rk_rpm_0123456789', limits: { requests_per_minute: 3 } };
const tpm: TestKey = { id: 'tpm', secret: 'rk_tpm_0123456789', limits: { tokens_per_minute: 1000 } };
const capped: TestKey = {
  id: 'capped',
  secret: 'rk_capped_0123456789',
  limits: { max_tokens: 100, models: ['claude-sim*'] },
};
const passthrough: TestKey = { id: 'pass', secret: 'rk_pass_0123456789', limits: { concurrent_streams: 1 } };

let relay: RelayServer;
beforeAll(async () => {
  relay = await startRelay(
    testConfig({
      host: '127.0.0.1',
      port: 0,
      keysFile: writeKeysFile([concurrent, rpm, tpm, capped, passthrough]),
    }),
  );
});
afterAll(() => relay.close());

/** How many times the simulated upstream saw a prompt containing `tag`. */
function upstreamCalls(tag: string): number {
  return relay.simulated!.records.all().filter((r) => r.prompt?.includes(tag) === true).length;
}

async function post(secret: string, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${relay.url}/v1/streams`, {
    method: 'POST',
    headers: jsonHeaders(secret),
    body: JSON.stringify(body),
  });
}

async function expectQuota(res: Response): Promise<void> {
  expect(res.status).toBe(429);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  const body = (await res.json()) as { error: { code: string } };
  expect(body.error.code).toBe('quota_exceeded');
}

describe('concurrent_streams', () => {
  it('runs N streams, refuses the N+1-th with retry-after without calling upstream, and frees the slot at the end', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await startDetached(relay.url, concurrent.secret, {
        message: `conc-${i} [[sim tokens=500 tps=20]]`,
      });
      expect(res.status).toBe(201);
      ids.push(((await res.json()) as { stream_id: string }).stream_id);
    }
    await expectQuota(await post(concurrent.secret, { message: 'conc-over [[sim tokens=1]]' }));
    expect(upstreamCalls('conc-over')).toBe(0);
    // The WebSocket says the same, with retry_after_ms.
    const ws = await WsClient.open(wsUrl(relay.url), { headers: { 'x-api-key': concurrent.secret } });
    try {
      ws.send({ type: 'start', ref: 'over', request: { message: 'conc-ws-over' } });
      const refused = await ws.waitFor((m) => m.type === 'error' && m.ref === 'over');
      expect(refused).toMatchObject({ code: 'quota_exceeded', retryable: true });
      expect(refused.retry_after_ms).toBeGreaterThan(0);
      expect(upstreamCalls('conc-ws-over')).toBe(0);
      // Cancel one: its slot is free again.
      await fetch(`${relay.url}/v1/streams/${ids[0]}/cancel`, {
        method: 'POST',
        headers: jsonHeaders(concurrent.secret),
      });
      const id = await ws.start({ message: 'conc-after [[sim tokens=2]]' });
      expect((await ws.untilTerminal(id)).at(-1)?.type).toBe('done');
    } finally {
      await ws.close();
      await fetch(`${relay.url}/v1/streams/${ids[1]}/cancel`, {
        method: 'POST',
        headers: jsonHeaders(concurrent.secret),
      });
    }
  });
});

describe('requests_per_minute', () => {
  it('allows N requests in the minute and refuses the N+1-th with retry-after', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await post(rpm.secret, { message: `rpm-${i} [[sim tokens=1]]` });
      expect(res.status).toBe(200);
      await res.text();
    }
    const over = await post(rpm.secret, { message: 'rpm-over [[sim tokens=1]]' });
    await expectQuota(over);
    expect(Number(over.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(upstreamCalls('rpm-over')).toBe(0);
  });
});

describe('tokens_per_minute', () => {
  it('reserves max_tokens at start, refuses what would overrun, and settles to real usage at the end', async () => {
    const first = await startDetached(relay.url, tpm.secret, {
      message: 'tpm-1 [[sim tokens=3 ttft=300]]',
      max_tokens: 600,
    });
    expect(first.status).toBe(201);
    const { stream_id } = (await first.json()) as { stream_id: string };
    // 600 reserved while it runs: 600 more would overrun the 1000 of the minute.
    await expectQuota(await post(tpm.secret, { message: 'tpm-over [[sim tokens=1]]', max_tokens: 600 }));
    expect(upstreamCalls('tpm-over')).toBe(0);
    const done = relayEvents(
      (
        await readSse(
          await fetch(`${relay.url}/v1/streams/${stream_id}/events`, { headers: jsonHeaders(tpm.secret) }),
        )
      ).frames,
    );
    const usage = done.at(-1)?.usage as { input_tokens: number; output_tokens: number };
    expect(usage.input_tokens + usage.output_tokens).toBeLessThan(400);
    // Settled to its real usage (far below 600): now 600 fits.
    const second = await post(tpm.secret, { message: 'tpm-2 [[sim tokens=1]]', max_tokens: 600 });
    expect(second.status).toBe(200);
    await second.text();
  });

  it('refuses a single request whose max_tokens is over the whole minute with 400', async () => {
    const res = await post(tpm.secret, { message: 'tpm-huge', max_tokens: 1001 });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('1000');
  });
});

describe('max_tokens cap and models', () => {
  it('allows max_tokens at the cap and refuses one above with 400 naming the cap', async () => {
    const at = await post(capped.secret, {
      message: 'cap-at [[sim tokens=1]]',
      max_tokens: 100,
      model: 'claude-sim',
    });
    expect(at.status).toBe(200);
    await at.text();
    const over = await post(capped.secret, { message: 'cap-over', max_tokens: 101, model: 'claude-sim' });
    expect(over.status).toBe(400);
    const body = (await over.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.message).toContain('100');
    expect(upstreamCalls('cap-over')).toBe(0);
  });

  it('refuses a model outside the globs with 403 forbidden, also on /v1/messages', async () => {
    const res = await post(capped.secret, { message: 'model-no', max_tokens: 10, model: 'claude-opus-9' });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('forbidden');
    const compat = await fetch(`${relay.url}/v1/messages`, {
      method: 'POST',
      headers: jsonHeaders(capped.secret),
      body: JSON.stringify({
        model: 'claude-opus-9',
        max_tokens: 10,
        messages: [{ role: 'user', content: 'model-no-2' }],
      }),
    });
    expect(compat.status).toBe(403);
    expect(await compat.json()).toMatchObject({ type: 'error', error: { type: 'permission_error' } });
    expect(upstreamCalls('model-no')).toBe(0);
  });
});

describe('/v1/messages counts against the same limits', () => {
  it('a running stream holds the only slot: /v1/messages gets 429 in Anthropic shape with retry-after', async () => {
    const running = await startDetached(relay.url, passthrough.secret, {
      message: 'pass-hold [[sim tokens=500 tps=20]]',
    });
    const { stream_id } = (await running.json()) as { stream_id: string };
    const res = await fetch(`${relay.url}/v1/messages`, {
      method: 'POST',
      headers: jsonHeaders(passthrough.secret),
      body: JSON.stringify({
        model: 'claude-sim',
        max_tokens: 10,
        messages: [{ role: 'user', content: 'pass-over' }],
      }),
    });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    expect(upstreamCalls('pass-over')).toBe(0);
    await fetch(`${relay.url}/v1/streams/${stream_id}/cancel`, {
      method: 'POST',
      headers: jsonHeaders(passthrough.secret),
    });
    // The slot is free; a /v1/messages call holds it while it runs and gives it back after.
    for (let i = 0; i < 2; i++) {
      const ok = await fetch(`${relay.url}/v1/messages`, {
        method: 'POST',
        headers: jsonHeaders(passthrough.secret),
        body: JSON.stringify({
          model: 'claude-sim',
          max_tokens: 10,
          messages: [{ role: 'user', content: `pass-ok-${i} [[sim tokens=2]]` }],
        }),
      });
      expect(ok.status).toBe(200);
      await ok.text();
    }
  });
});
