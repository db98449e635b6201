/**
 * The upstream pool end to end: a real relay over three simulated upstreams (each with faults of
 * its own), real SSE streams and the real SDK on /v1/messages. Shares and routing are asserted
 * from the simulators' request records; nothing here measures time.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import Anthropic from '@anthropic-ai/sdk';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { type SettingName, type SettingValue, testConfig } from '../src/config.js';
import { type RelayServer, startRelay } from '../src/server.js';
import { type SimulatedUpstream, startSimulatedUpstream } from '../src/upstream/simulated/index.js';
import { readSse, streamSse } from './helpers/sse.js';

const KEYS = {
  a: 'sk-ant-api03-POOLKEYA-0123456789abcdef',
  b: 'sk-ant-api03-POOLKEYB-0123456789abcdef',
  c: 'sk-ant-api03-POOLKEYC-0123456789abcdef',
} as const;
type Name = keyof typeof KEYS;
const NAMES: Name[] = ['a', 'b', 'c'];

const sims = {} as Record<Name, SimulatedUpstream>;
beforeAll(async () => {
  for (const name of NAMES)
    sims[name] = await startSimulatedUpstream({ firstTokenMs: 0, tokensPerSecond: 0 });
});
afterAll(async () => {
  for (const name of NAMES) await sims[name].close();
});

interface TestRelay {
  relay: RelayServer;
  logs: string[];
}
const relays: TestRelay[] = [];
afterEach(async () => {
  for (const r of relays.splice(0)) await r.relay.close();
  for (const name of NAMES) sims[name].setFaults('');
});

type Entry = { name: Name; priority?: number; weight?: number; models?: string[] };

/** A relay over the named simulators, logging at debug level into `logs`. */
async function startPoolRelay(
  entries: Entry[],
  overrides: Partial<Record<SettingName, SettingValue>> = {},
): Promise<TestRelay> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const upstreams = entries.map((e) => ({ base_url: sims[e.name].url, api_key: KEYS[e.name], ...e }));
  const config = testConfig({ host: '127.0.0.1', port: 0, upstreams, ...overrides });
  const relay = await startRelay(config, { logger: pino({ level: 'debug', base: null }, sink) });
  const r = { relay, logs };
  relays.push(r);
  return r;
}

interface RelayEvent {
  type: string;
  [field: string]: unknown;
}

/** One stream through POST /v1/streams; returns its events and the raw SSE text. */
async function stream(
  relay: RelayServer,
  message: string,
  extra: Record<string, unknown> = {},
): Promise<{ events: RelayEvent[]; raw: string }> {
  const res = await fetch(`${relay.url}/v1/streams`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message, ...extra }),
  });
  const { frames } = await readSse(res);
  const events = frames.filter((f) => f.event !== undefined).map((f) => JSON.parse(f.data) as RelayEvent);
  return { events, raw: frames.map((f) => `${f.event}\n${f.data}`).join('\n') };
}

/** `count` streams, at most `parallel` at once. */
async function streams(relay: RelayServer, count: number, parallel: number, message: (i: number) => string) {
  const out: { events: RelayEvent[]; raw: string }[] = [];
  for (let i = 0; i < count; i += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - i) }, (_, j) =>
      stream(relay, message(i + j)),
    );
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

const tagged = () => `t${randomUUID().slice(0, 12)}`;
/** How many requests each simulator served whose prompt carries `tag`. */
function served(tag: string): Record<Name, number> {
  const count = (n: Name) => sims[n].records.all().filter((r) => r.prompt?.includes(tag) === true).length;
  return { a: count('a'), b: count('b'), c: count('c') };
}

async function readiness(relay: RelayServer): Promise<string> {
  const res = await fetch(`${relay.url}/ready`);
  const body = (await res.json()) as { checks: { upstream: { detail: string } } };
  return body.checks.upstream.detail;
}

/** Polls until `check` holds; bounded. */
async function until(check: () => Promise<boolean>, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const types = (events: RelayEvent[]) => events.map((e) => e.type);
const retries = (events: RelayEvent[]) => events.filter((e) => e.type === 'retry');

describe('failover before content', () => {
  test('the first upstream always answers 529: every stream succeeds on the second, with a retry event naming it', async () => {
    sims.a.setFaults('status=529');
    // No cooldown: every stream meets the failing upstream first.
    const { relay } = await startPoolRelay([{ name: 'a' }, { name: 'b', priority: 1 }], {
      upstreamCooldownMs: 0,
    });
    const tag = tagged();
    const results = await streams(relay, 20, 5, (i) => `${tag} ${i} [[sim tokens=3]]`);
    for (const { events } of results) {
      expect(types(events).at(-1)).toBe('done');
      expect(retries(events)).toEqual([
        expect.objectContaining({
          attempt: 1,
          delay_ms: 0,
          reason: 'upstream_overloaded (529)',
          upstream: 'b',
        }),
      ]);
      // The retry comes before any content.
      expect(types(events).indexOf('retry')).toBeLessThan(types(events).indexOf('text'));
    }
    expect(served(tag)).toEqual({ a: 20, b: 20, c: 0 });
  });

  test('a failing upstream cools down, gets nothing while it rests, and is back once it recovers', async () => {
    sims.a.setFaults('status=529');
    const { relay } = await startPoolRelay([{ name: 'a' }, { name: 'b' }], { upstreamCooldownMs: 3000 });
    const tag = tagged();
    // Sequential streams alternate between the two; three failures in a row cool the first.
    let warm = 0;
    while (!(await readiness(relay)).startsWith('a cooling')) {
      expect(warm++).toBeLessThan(10);
      expect(types((await stream(relay, `${tag} warm ${warm}`)).events).at(-1)).toBe('done');
    }
    const msLeft = async () =>
      Number(/^a cooling \((\d+) ms left\), b healthy$/.exec(await readiness(relay))?.[1]);
    const left = await msLeft();
    expect(left).toBeGreaterThan(0);
    const before = served(tag).a;
    expect(before).toBeGreaterThanOrEqual(3);
    const cooled = await streams(relay, 5, 1, (i) => `${tag} cooled ${i}`);
    // Still the same rest (less of it left; a slow machine may have outlived it): nothing went to
    // the resting upstream, so no stream needed a retry.
    if ((await msLeft()) < left) {
      expect(served(tag).a).toBe(before);
      for (const { events } of cooled) expect(retries(events)).toEqual([]);
    }
    sims.a.setFaults('');
    await until(async () => (await readiness(relay)) === 'a healthy, b healthy', 'the cooldown to end');
    const tag2 = tagged();
    const after = await streams(relay, 10, 1, (i) => `${tag2} recovered ${i}`);
    for (const { events } of after) {
      expect(types(events).at(-1)).toBe('done');
      expect(retries(events)).toEqual([]);
    }
    expect(served(tag2).a).toBeGreaterThanOrEqual(4);
  });

  test('401 disables an upstream with a log line saying why; the stream that met it fails over', async () => {
    sims.a.setFaults('status=401');
    const { relay, logs } = await startPoolRelay([{ name: 'a' }, { name: 'b', priority: 1 }]);
    const tag = tagged();
    const first = await stream(relay, `${tag} first`);
    expect(types(first.events).at(-1)).toBe('done');
    expect(retries(first.events)).toEqual([
      expect.objectContaining({ reason: 'unauthorized (401)', upstream: 'b', delay_ms: 0 }),
    ]);
    expect(await readiness(relay)).toBe('a disabled, b healthy');
    // Even once the key would work again, the upstream stays out until the configuration changes.
    sims.a.setFaults('');
    const rest = await streams(relay, 10, 5, (i) => `${tag} ${i}`);
    for (const { events } of rest) expect(retries(events)).toEqual([]);
    expect(served(tag)).toEqual({ a: 1, b: 11, c: 0 });
    const line = logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.state === 'disabled');
    expect(line).toMatchObject({
      upstream: 'a',
      msg: 'upstream disabled until the configuration changes',
      reason: "the upstream refused the relay's key (unauthorized (401))",
    });
  });

  test('a first-token timeout and a refused connection fail over too', async () => {
    sims.a.setFaults('header_delay=20000');
    const { relay } = await startPoolRelay([{ name: 'a' }, { name: 'b', priority: 1 }], {
      firstTokenTimeoutMs: 200,
    });
    const tag = tagged();
    const slow = await stream(relay, `${tag} slow`);
    expect(types(slow.events).at(-1)).toBe('done');
    expect(retries(slow.events)).toEqual([
      expect.objectContaining({
        reason: 'upstream_timeout (first-token timeout)',
        upstream: 'b',
        delay_ms: 0,
      }),
    ]);
    expect(served(tag)).toEqual({ a: 1, b: 1, c: 0 });

    // A port nobody listens on: the connection is refused.
    const closed = await startSimulatedUpstream({ firstTokenMs: 0, tokensPerSecond: 0 });
    const deadUrl = closed.url;
    await closed.close();
    const logs: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        logs.push(String(chunk));
        done();
      },
    });
    const config = testConfig({
      host: '127.0.0.1',
      port: 0,
      upstreams: [
        { name: 'gone', base_url: deadUrl, api_key: KEYS.a },
        { name: 'b', base_url: sims.b.url, api_key: KEYS.b, priority: 1 },
      ],
    });
    const relay2 = await startRelay(config, { logger: pino({ level: 'debug', base: null }, sink) });
    relays.push({ relay: relay2, logs });
    const refused = await stream(relay2, `${tag} refused`);
    expect(types(refused.events).at(-1)).toBe('done');
    expect(retries(refused.events)).toEqual([
      expect.objectContaining({ reason: 'upstream_error (connection error)', upstream: 'b', delay_ms: 0 }),
    ]);
  });

  test('after content a failure ends the stream as before: no failover', async () => {
    const { relay } = await startPoolRelay([{ name: 'a' }, { name: 'b', priority: 1 }]);
    const tag = tagged();
    const { events } = await stream(relay, `${tag} [[sim tokens=10 error_after=3]]`);
    expect(types(events).at(-1)).toBe('error');
    expect(retries(events)).toEqual([]);
    expect(served(tag)).toEqual({ a: 1, b: 0, c: 0 });
  });
});

describe('routing', () => {
  test('weights 3:1 share a few hundred streams 3:1', async () => {
    const { relay } = await startPoolRelay([
      { name: 'a', weight: 3 },
      { name: 'b', weight: 1 },
    ]);
    const tag = tagged();
    const results = await streams(relay, 400, 25, (i) => `${tag} ${i} [[sim tokens=2]]`);
    expect(results.every(({ events }) => types(events).at(-1) === 'done')).toBe(true);
    const counts = served(tag);
    expect(counts.a + counts.b).toBe(400);
    expect(counts.a / 400).toBeGreaterThanOrEqual(0.72);
    expect(counts.a / 400).toBeLessThanOrEqual(0.78);
  }, 120_000);

  test('the first priority tier takes every stream while it is healthy; the next tier takes over, by weight', async () => {
    const { relay } = await startPoolRelay(
      [
        { name: 'a', priority: 0 },
        { name: 'b', priority: 1 },
        { name: 'c', priority: 1 },
      ],
      { upstreamCooldownMs: 60_000 },
    );
    const tag = tagged();
    await streams(relay, 20, 5, (i) => `${tag} ${i}`);
    expect(served(tag)).toEqual({ a: 20, b: 0, c: 0 });
    sims.a.setFaults('status=529');
    const tag2 = tagged();
    const results = await streams(relay, 20, 1, (i) => `${tag2} ${i}`);
    expect(results.every(({ events }) => types(events).at(-1) === 'done')).toBe(true);
    const counts = served(tag2);
    // Three failures cool the first tier; then the second tier alone, shared evenly.
    expect(counts.a).toBe(3);
    expect(counts.b + counts.c).toBe(20);
    expect(Math.abs(counts.b - counts.c)).toBeLessThanOrEqual(1);
  });

  test('a model is sent only to the upstreams serving it', async () => {
    const { relay } = await startPoolRelay([
      { name: 'a', models: ['claude-sonnet-5-5'] },
      { name: 'b', models: ['claude-haiku-4-5'] },
    ]);
    const tag = tagged();
    // No model: the relay's default (claude-sonnet-5-5), which only a serves.
    const results = await streams(relay, 6, 3, (i) => `${tag} ${i}`);
    expect(results.every(({ events }) => types(events).at(-1) === 'done')).toBe(true);
    const { events } = await stream(relay, `${tag} b`, { model: 'claude-haiku-4-5' });
    expect(types(events).at(-1)).toBe('done');
    expect(served(tag)).toEqual({ a: 6, b: 1, c: 0 });
    const none = await stream(relay, `${tag} none`, { model: 'claude-opus-4-1' });
    expect(none.events.at(-1)).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(String(none.events.at(-1)?.message)).toContain('claude-opus-4-1');
    expect(served(tag)).toEqual({ a: 6, b: 1, c: 0 });
  });

  test('a conversation stays on the upstream of its previous turn', async () => {
    const { relay } = await startPoolRelay([{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
    for (let c = 0; c < 3; c++) {
      const tag = tagged();
      const conversation_id = `conversation-${tag}`; // ≥ 22 characters: unguessable
      for (let turn = 0; turn < 5; turn++) {
        const { events } = await stream(relay, `${tag} turn ${turn}`, { conversation_id });
        expect(types(events).at(-1)).toBe('done');
        // Other traffic in between moves the round-robin on.
        await stream(relay, `filler ${tag} ${turn}`);
      }
      const counts = Object.values(
        Object.fromEntries(
          NAMES.map((n) => [
            n,
            sims[n].records.all().filter((r) => r.prompt?.startsWith(`${tag} turn`) === true).length,
          ]),
        ),
      );
      expect(counts.sort()).toEqual([0, 0, 5]);
    }
  });
});

describe('attempts end, however they end', () => {
  test('streams a client drops mid-answer release their upstream (nothing left in flight) and count as served', async () => {
    const { relay } = await startPoolRelay([
      { name: 'a', weight: 1 },
      { name: 'b', weight: 1 },
    ]);
    const tag = tagged();
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const res = await fetch(`${relay.url}/v1/streams`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ message: `${tag} ${i} [[sim tokens=200 tps=100]]`, on_disconnect: 'abort' }),
        });
        // Leave at the first token.
        await streamSse(res, (frame) => frame.event === 'text');
      }),
    );
    const inFlight = async () => {
      const metrics = await (await fetch(`${relay.url}/metrics`)).text();
      return [...metrics.matchAll(/^relay_upstream_in_flight\{upstream="\w"\} (\d+)$/gm)].map((m) =>
        Number(m[1]),
      );
    };
    await until(async () => (await inFlight()).every((n) => n === 0), 'every attempt to end');
    expect(await inFlight()).toEqual([0, 0]);
    // A client leaving is not the upstream's failure.
    expect(await readiness(relay)).toBe('a healthy, b healthy');
    const metrics = await (await fetch(`${relay.url}/metrics`)).text();
    expect(metrics).toMatch(/relay_upstream_failures_total\{upstream="a"\} 0/);
    expect(metrics).toMatch(/relay_upstream_first_token_seconds_count\{upstream="a"\} 10/);
  });
});

describe('/v1/messages passthrough', () => {
  test('fails over before the response headers: 529 and 401 upstreams are passed over', async () => {
    sims.a.setFaults('status=529');
    sims.b.setFaults('status=401');
    const { relay } = await startPoolRelay([
      { name: 'a' },
      { name: 'b', priority: 1 },
      { name: 'c', priority: 2 },
    ]);
    const client = new Anthropic({ apiKey: 'client-key', baseURL: relay.url, maxRetries: 0 });
    const tag = tagged();
    const message = await client.messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 64,
      messages: [{ role: 'user', content: `${tag} whole` }],
    });
    expect(message.content[0]?.type).toBe('text');
    const events: string[] = [];
    const live = await client.messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 64,
      stream: true,
      messages: [{ role: 'user', content: `${tag} streamed` }],
    });
    for await (const event of live) events.push(event.type);
    expect(events.at(-1)).toBe('message_stop');
    // b was disabled by the first call, so the second went from a straight to c.
    expect(served(tag)).toEqual({ a: 2, b: 1, c: 2 });
    expect(await readiness(relay)).toBe('a healthy, b disabled, c healthy');
  });

  test('when every upstream fails, the last answer is the client’s', async () => {
    sims.a.setFaults('status=529');
    sims.b.setFaults('status=529');
    const { relay } = await startPoolRelay([{ name: 'a' }, { name: 'b' }]);
    const res = await fetch(`${relay.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({
        model: 'claude-haiku-4-5',
        max_tokens: 8,
        messages: [{ role: 'user', content: 'x' }],
      }),
    });
    expect(res.status).toBe(529);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('overloaded_error');
  });
});

describe('names, never URLs or keys', () => {
  test('no key or upstream URL in any event, log line, /ready or /metrics', async () => {
    sims.a.setFaults('status=529');
    sims.c.setFaults('status=401');
    const { relay, logs } = await startPoolRelay([{ name: 'a' }, { name: 'b', priority: 1 }, { name: 'c' }], {
      upstreamCooldownMs: 60_000,
    });
    const tag = tagged();
    const results = await streams(relay, 12, 4, (i) => `${tag} ${i}`);
    const failed = await stream(relay, `${tag} [[sim tokens=5 reset_after=2]]`);
    const client = new Anthropic({ apiKey: 'client-key', baseURL: relay.url, maxRetries: 0 });
    await client.messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 8,
      messages: [{ role: 'user', content: 'x' }],
    });
    const metrics = await (await fetch(`${relay.url}/metrics`)).text();
    const ready = await (await fetch(`${relay.url}/ready`)).text();
    const seen = [...results.map((r) => r.raw), failed.raw, ...logs, metrics, ready].join('\n');
    // The events did name upstreams, and the metrics carry each one's state.
    expect(seen).toContain('"upstream":"b"');
    expect(metrics).toContain('relay_upstream_state{upstream="a",state="cooling"} 1');
    expect(metrics).toContain('relay_upstream_state{upstream="c",state="disabled"} 1');
    expect(metrics).toMatch(/relay_upstream_attempts_total\{upstream="b"\} [1-9]/);
    expect(metrics).toMatch(/relay_upstream_failures_total\{upstream="a"\} [1-9]/);
    expect(metrics).toMatch(/relay_upstream_first_token_seconds_count\{upstream="b"\} [1-9]/);
    for (const name of NAMES) {
      expect(seen).not.toContain(KEYS[name]);
      expect(seen).not.toContain('POOLKEY');
      expect(seen).not.toContain(`:${sims[name].port}`);
    }
  });
});
