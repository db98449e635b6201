/**
 * Every upstream fault through the full relay (SDK adapter → stream log → SSE): the client's
 * stream ends in exactly one terminal event, the last one, with the right code.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RelayServer } from '../src/server.js';
import { startTestRelay } from './helpers/relay.js';
import { readSse, relayEvents } from './helpers/sse.js';

// Not in the SDK's deprecation list (the SDK warns on every request naming a deprecated model).
const MODEL = 'claude-haiku-4-5';

let relay: RelayServer;
/** Small deadlines, for the stall and slow-header faults only (everything else would race them). */
let impatient: RelayServer;

beforeAll(async () => {
  const common = {
    defaultModel: MODEL,
    retryBaseDelayMs: 5,
    retryMaxDelayMs: 20,
    retryMaxAttempts: 3,
    retryBudgetMs: 10_000,
  };
  [relay, impatient] = await Promise.all([
    startTestRelay({ ...common, firstTokenTimeoutMs: 10_000, idleTimeoutMs: 10_000 }),
    startTestRelay({ ...common, firstTokenTimeoutMs: 150, idleTimeoutMs: 150, retryMaxAttempts: 2 }),
  ]);
});
afterAll(async () => {
  await Promise.all([relay.close(), impatient.close()]);
});

type Event = Record<string, unknown> & { type: string; seq: number };

async function streamThrough(server: RelayServer, directives: string): Promise<Event[]> {
  const res = await fetch(`${server.url}/v1/streams`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message: `${randomUUID()} hello [[sim ${directives}]]` }),
  });
  expect(res.status).toBe(200);
  return relayEvents((await readSse(res)).frames);
}

const TERMINAL = new Set(['done', 'error', 'cancelled']);

/** Exactly one terminal event, and it is the last one. */
function terminalOf(events: Event[]): Event {
  const terminals = events.filter((e) => TERMINAL.has(e.type));
  expect(terminals).toHaveLength(1);
  expect(events.at(-1)).toBe(terminals[0]);
  return terminals[0] as Event;
}

describe('each upstream fault ends the SSE stream in exactly one terminal event', () => {
  test.each([
    ['status=400', 'invalid_request', false],
    ['status=401', 'unauthorized', false],
    ['status=403', 'forbidden', false],
    ['status=404', 'not_found', false],
    ['status=413', 'payload_too_large', false],
    ['status=429', 'rate_limited', true],
    ['status=429 retry_after=60', 'rate_limited', true],
    ['status=529', 'upstream_overloaded', true],
    ['status=500', 'upstream_error', true],
    ['error_after=0', 'upstream_overloaded', true],
    ['error_after=5', 'upstream_overloaded', true],
    ['error_after=5 error_type=invalid_request_error', 'upstream_error', false],
    ['truncate_after=3', 'upstream_error', true],
    ['reset_after=3 tps=20', 'upstream_error', true],
  ] as const)('%s → error %s (retryable %s)', async (directives, code, retryable) => {
    const events = await streamThrough(relay, directives);
    expect(events[0]?.type).toBe('start');
    expect(terminalOf(events)).toMatchObject({ type: 'error', code, retryable, usage: { estimated: true } });
  });

  test.each([
    ['stall_after=3', 'upstream_timeout'],
    ['header_delay=20000', 'upstream_timeout'],
  ] as const)('%s with small deadlines → error %s', async (directives, code) => {
    const events = await streamThrough(impatient, directives);
    expect(terminalOf(events)).toMatchObject({ type: 'error', code, retryable: true });
  });

  test('retried faults show their retry events before the terminal one', async () => {
    const events = await streamThrough(relay, 'status=529');
    const retries = events.filter((e) => e.type === 'retry');
    expect(retries.map((e) => e.attempt)).toEqual([1, 2]);
    expect(retries.every((e) => e.reason === 'upstream_overloaded (529)')).toBe(true);
    expect(terminalOf(events)).toMatchObject({ type: 'error', code: 'upstream_overloaded' });
  });

  test('a fault that clears after retries ends in done, with the retries logged first', async () => {
    const events = await streamThrough(relay, 'status=429 fail_first=2 retry_after_ms=10 tokens=4');
    expect(events.map((e) => e.type)).toEqual([
      'start',
      'retry',
      'retry',
      'text',
      'text',
      'text',
      'text',
      'done',
    ]);
    expect(events.filter((e) => e.type === 'retry').map((e) => e.delay_ms)).toEqual([10, 10]);
    expect(terminalOf(events)).toMatchObject({ type: 'done', usage: { output_tokens: 4, estimated: false } });
  });

  test('the stalled upstream request is closed when the idle timeout ends the stream', async () => {
    const tag = randomUUID();
    const res = await fetch(`${impatient.url}/v1/streams`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: `${tag} [[sim stall_after=2]]` }),
    });
    terminalOf(relayEvents((await readSse(res)).frames));
    const sim = impatient.simulated;
    expect(sim).toBeDefined();
    const record = await sim?.records.waitFor(
      (r) => r.prompt?.includes(tag) === true && r.clientClosedAt !== null,
    );
    expect(record?.tokensSent).toBeLessThanOrEqual(2);
  });
});
