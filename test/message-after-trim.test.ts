/**
 * `GET /v1/streams/:id?include=message` once the bounded log has dropped the stream's start: the
 * generation assembles the reply as its events are appended, so the message is still whole — on
 * one relay, and with Redis on any instance once the stream has ended (the generating instance
 * stores it beside the terminal event). One redis-server for this file.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer } from '../src/server.js';
import { requireComponent } from './helpers/components.js';
import { type RedisServer, startRedisServer } from './helpers/redis-server.js';
import { startTestRelay } from './helpers/relay.js';

const REDIS = requireComponent('redis');

/** A log far shorter than the reply: its start is gone long before the end. */
const SMALL_LOG = { logMaxEvents: 8, retentionMs: 60_000 };

interface State {
  state: string;
  last_seq: number;
  message?: Record<string, unknown> & { content: Record<string, unknown>[] };
  error?: { code: string };
}

/** Starts a detached stream (nobody reads it, so nothing is cut) and returns its id. */
async function detached(url: string, message: string): Promise<string> {
  const res = await fetch(`${url}/v1/streams`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ message }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { stream_id: string }).stream_id;
}

async function stateOf(url: string, id: string, include = ''): Promise<{ status: number; body: State }> {
  const res = await fetch(`${url}/v1/streams/${id}${include}`);
  return { status: res.status, body: (await res.json()) as State };
}

async function untilEnded(url: string, id: string): Promise<void> {
  await expect
    .poll(async () => (await stateOf(url, id)).body.state, { timeout: 10_000, interval: 20 })
    .not.toBe('running');
}

/** The same request answered non-streaming by the relay's simulator (same body → same reply). */
async function nonStreaming(relay: RelayServer, tag: string): Promise<Record<string, unknown>> {
  const record = await relay.simulated!.records.waitFor((r) => r.prompt?.includes(tag) === true);
  const body = { ...(record.body as Record<string, unknown>) };
  delete body.stream;
  const res = await fetch(`${relay.simulated!.url}/v1/messages`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-api-key': 'sim-key',
      'anthropic-version': '2023-06-01',
    },
    body: JSON.stringify(body),
  });
  return (await res.json()) as Record<string, unknown>;
}

describe('one relay', () => {
  let relay: RelayServer;
  beforeAll(async () => {
    relay = await startTestRelay(SMALL_LOG);
    relay.simulated!.records.keepBodies();
  });
  afterAll(async () => {
    await relay.close();
  });

  it('answers the whole message after the log dropped the start (thinking, search, citations, text)', async () => {
    const tag = `m${randomUUID().slice(0, 12)}`;
    const id = await detached(relay.url, `${tag} relays [[sim thinking=1 web_search=1 tokens=40]]`);
    await untilEnded(relay.url, id);
    // The log really lost its start: a replay from the beginning is refused.
    const replay = await fetch(`${relay.url}/v1/streams/${id}/events?after=0`);
    expect(replay.status).toBe(410);
    await replay.body?.cancel();

    const { status, body } = await stateOf(relay.url, id, '?include=message');
    expect(status).toBe(200);
    const whole = await nonStreaming(relay, tag);
    expect(JSON.stringify(body.message!.content)).toBe(JSON.stringify(whole.content));
    expect(body.message).toMatchObject({ stop_reason: whole.stop_reason, stop_sequence: null });
  });

  it('a running stream answers the reply so far, its start long gone', async () => {
    const id = await detached(relay.url, 'so far [[sim tokens=2000 tps=200]]');
    await expect
      .poll(async () => (await stateOf(relay.url, id)).body.last_seq, { timeout: 10_000, interval: 20 })
      .toBeGreaterThan(3 * SMALL_LOG.logMaxEvents);
    const { status, body } = await stateOf(relay.url, id, '?include=message');
    expect(status).toBe(200);
    expect(body.message!.stop_reason).toBeNull();
    const text = String(body.message!.content[0]?.text);
    expect(text.length).toBeGreaterThan(0);
    // Every text delta from the first: as many characters as the events so far carried at least.
    expect(body.message!.content).toHaveLength(1);
    await fetch(`${relay.url}/v1/streams/${id}/cancel`, { method: 'POST' });
  });
});

describe.skipIf(!REDIS)('several instances on one Redis', () => {
  let redis: RedisServer;
  let a: RelayServer;
  let b: RelayServer;

  beforeAll(async () => {
    redis = await startRedisServer(REDIS!);
    a = await startTestRelay({ redisUrl: redis.url, redisLeaseMs: 3000, ...SMALL_LOG });
    b = await startTestRelay({ redisUrl: redis.url, redisLeaseMs: 3000, ...SMALL_LOG });
    a.simulated!.records.keepBodies();
  }, 30_000);

  afterAll(async () => {
    await Promise.allSettled([a?.close(), b?.close()]);
    await redis?.stop();
  });

  it('the other instance answers the whole message of an ended stream whose start Redis trimmed', async () => {
    const tag = `r${randomUUID().slice(0, 12)}`;
    const id = await detached(a.url, `${tag} relays [[sim thinking=1 web_search=1 tokens=40]]`);
    await untilEnded(a.url, id);
    const whole = await nonStreaming(a, tag);
    for (const relay of [b, a]) {
      const { status, body } = await stateOf(relay.url, id, '?include=message');
      expect(status).toBe(200);
      expect(JSON.stringify(body.message!.content)).toBe(JSON.stringify(whole.content));
      expect(body.message).toMatchObject({ stop_reason: 'end_turn', usage: { estimated: false } });
    }
  });
});
