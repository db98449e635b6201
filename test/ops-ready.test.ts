import { afterEach, describe, expect, it } from 'vitest';
import type { RelayServer } from '../src/server.js';
import { startTestRelay } from './helpers/relay.js';

let relay: RelayServer | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
});

async function ready(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/ready`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('GET /ready', () => {
  it('answers 200 with every check when the instance can take streams', async () => {
    relay = await startTestRelay();
    const { status, body } = await ready(relay.url);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      status: 'ready',
      not_ready: [],
      checks: {
        draining: { ok: true },
        upstream: { ok: true, detail: 'simulated healthy' },
        stream_cap: { ok: true },
      },
    });
  });

  it('answers 503 naming draining once a drain began, while /health stays ok', async () => {
    relay = await startTestRelay();
    relay.registry.beginDrain();
    const { status, body } = await ready(relay.url);
    expect(status).toBe(503);
    expect(body).toMatchObject({ status: 'not_ready', not_ready: ['draining'] });
    expect(await (await fetch(`${relay.url}/health`)).json()).toEqual({ status: 'ok' });
  });

  it('answers 503 naming stream_cap when the running streams reach RELAY_MAX_STREAMS', async () => {
    relay = await startTestRelay({ maxStreams: 1 });
    const res = await fetch(`${relay.url}/v1/streams`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ message: 'hold [[sim stall_after=1]]' }),
    });
    expect(res.status).toBe(201);
    const { status, body } = await ready(relay.url);
    expect(status).toBe(503);
    expect(body).toMatchObject({
      not_ready: ['stream_cap'],
      checks: { stream_cap: { ok: false, detail: '1 of 1 streams running' } },
    });
  });

  it('runs checks other parts add, and a check that hangs fails instead of hanging /ready', async () => {
    relay = await startTestRelay();
    relay.readiness.add('redis', () => new Promise(() => {}));
    relay.readiness.add('pool', () => {
      throw new Error('no endpoint healthy');
    });
    const { status, body } = await ready(relay.url);
    expect(status).toBe(503);
    expect(body).toMatchObject({
      not_ready: ['redis', 'pool'],
      checks: { redis: { ok: false }, pool: { ok: false, detail: 'no endpoint healthy' } },
    });
  });
});

describe('GET /metrics', () => {
  it('names process metrics with one prefix', async () => {
    relay = await startTestRelay();
    const text = await (await fetch(`${relay.url}/metrics`)).text();
    expect(text).toContain('relay_process_cpu_user_seconds_total');
    expect(text).toContain('relay_nodejs_eventloop_lag_seconds');
    expect(text).not.toContain('relay_process_process_');
  });

  it('wants the bearer token when RELAY_METRICS_TOKEN is set', async () => {
    relay = await startTestRelay({ metricsToken: 's3cret-token' });
    const none = await fetch(`${relay.url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    const wrong = await fetch(`${relay.url}/metrics`, { headers: { authorization: 'Bearer s3cret-tokem' } });
    expect(wrong.status).toBe(401);
    const right = await fetch(`${relay.url}/metrics`, { headers: { authorization: 'Bearer s3cret-token' } });
    expect(right.status).toBe(200);
    expect(await right.text()).toContain('relay_streams_running');
  });
});
