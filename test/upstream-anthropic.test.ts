/**
 * The SDK adapter against the simulated upstream: real SDK, real socket, zero-delay pacing.
 * Retry delays are tiny (base 5 ms); where the upstream's retry-after matters, the test asserts
 * the `delay_ms` the adapter announced, never wall time.
 */
import { randomUUID } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RelayError } from '../src/core/errors.js';
import type { UpstreamRequest } from '../src/core/request.js';
import type { UpstreamEvent, UsageUpdate } from '../src/core/upstream.js';
import { AnthropicUpstream, type AnthropicUpstreamOptions } from '../src/upstream/anthropic.js';
import { defaultFixturesDir } from '../src/upstream/simulated/fixtures.js';
import {
  type RequestRecord,
  type SimulatedUpstream,
  startSimulatedUpstream,
} from '../src/upstream/simulated/index.js';

const API_KEY = 'sk-ant-api03-SECRETSECRETSECRET-relaytest';
// Not in the SDK's deprecation list, so the SDK prints no warning per request.
const MODEL = 'claude-haiku-4-5';

let sim: SimulatedUpstream;

beforeAll(async () => {
  sim = await startSimulatedUpstream({ firstTokenMs: 0, tokensPerSecond: 0 });
});
afterAll(() => sim.close());

type Overrides = Partial<Omit<AnthropicUpstreamOptions, 'retry'>> & {
  retry?: Partial<AnthropicUpstreamOptions['retry']>;
};

function upstream(overrides: Overrides = {}, baseURL = sim.url): AnthropicUpstream {
  const { retry, ...rest } = overrides;
  return new AnthropicUpstream({
    apiKey: API_KEY,
    baseURL,
    // Generous: only the tests about deadlines make them small.
    firstTokenTimeoutMs: 10_000,
    idleTimeoutMs: 10_000,
    // A fixed jitter draw makes backoff delays exact (half the ceiling).
    random: () => 0.5,
    ...rest,
    retry: { budgetMs: 10_000, maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20, ...retry },
  });
}

/** A prompt carrying sim directives and a unique tag, so a test finds its own records. */
function prompt(directives: string): { tag: string; text: string } {
  const tag = `t${randomUUID().slice(0, 12)}`;
  return { tag, text: `${tag} tell me something [[sim ${directives}]]` };
}

function request(text: string): UpstreamRequest {
  return { model: MODEL, max_tokens: 1024, messages: [{ role: 'user', content: text }] };
}

interface Run {
  events: UpstreamEvent[];
  error: unknown;
}

/** Runs one stream to its end; `onEvent` may abort or stop it (return true = break). */
async function run(
  up: AnthropicUpstream,
  text: string,
  opts: {
    signal?: AbortSignal;
    onEvent?: (e: UpstreamEvent, all: UpstreamEvent[]) => boolean | undefined;
  } = {},
): Promise<Run> {
  const events: UpstreamEvent[] = [];
  try {
    for await (const e of up.stream(request(text), opts.signal ?? new AbortController().signal)) {
      events.push(e);
      if (opts.onEvent?.(e, events) === true) break;
    }
    return { events, error: undefined };
  } catch (error) {
    return { events, error };
  }
}

function relayError(r: Run): RelayError {
  expect(r.error).toBeInstanceOf(RelayError);
  return r.error as RelayError;
}

function recordsFor(tag: string): RequestRecord[] {
  return sim.records.all().filter((r) => r.prompt?.includes(tag) === true);
}

const ofType = <T extends UpstreamEvent['type']>(events: UpstreamEvent[], type: T) =>
  events.filter((e): e is Extract<UpstreamEvent, { type: T }> => e.type === type);

function textOf(events: UpstreamEvent[], index?: number): string {
  return ofType(events, 'text')
    .filter((e) => index === undefined || e.index === index)
    .map((e) => e.text)
    .join('');
}

// ---------------------------------------------------------------------------------------------

describe('mapping', () => {
  test('a text reply yields its deltas in order, usage from message_start and message_delta, then done', async () => {
    const { text } = prompt('tokens=12');
    const r = await run(upstream(), text);
    expect(r.error).toBeUndefined();
    const texts = ofType(r.events, 'text');
    expect(texts).toHaveLength(12);
    expect(texts.every((e) => e.index === 0 && e.text.length > 0)).toBe(true);
    const usage = ofType(r.events, 'usage');
    expect(usage[0]?.usage.input_tokens).toBeGreaterThan(0);
    expect(usage.at(-1)?.usage.output_tokens).toBe(12);
    expect(r.events.at(-1)).toEqual({ type: 'done', stop_reason: 'end_turn' });
    expect(r.events.filter((e) => e.type === 'done')).toHaveLength(1);
  });

  test('thinking deltas map to thinking events at their index, the signature is passed over', async () => {
    const { text } = prompt('thinking=1 tokens=5');
    const r = await run(upstream(), text);
    expect(r.error).toBeUndefined();
    const thinking = ofType(r.events, 'thinking');
    expect(thinking.length).toBeGreaterThan(0);
    expect(thinking.every((e) => e.index === 0 && e.text.length > 0)).toBe(true);
    expect(textOf(r.events, 1).length).toBeGreaterThan(0);
    expect(r.events.at(-1)?.type).toBe('done');
  });

  test('a tool_use block yields tool_use then tool_input deltas that concatenate to its JSON input', async () => {
    const { text } = prompt('tool=get_weather tokens=3');
    const r = await run(upstream(), text);
    expect(r.error).toBeUndefined();
    const [tool] = ofType(r.events, 'tool_use');
    expect(tool).toMatchObject({ type: 'tool_use', name: 'get_weather' });
    expect(tool?.id).toMatch(/^toolu_/);
    const inputs = ofType(r.events, 'tool_input');
    expect(inputs.every((e) => e.index === tool?.index)).toBe(true);
    expect(r.events.indexOf(tool as UpstreamEvent)).toBeLessThan(
      r.events.indexOf(inputs[0] as UpstreamEvent),
    );
    expect(() => JSON.parse(inputs.map((e) => e.partial_json).join(''))).not.toThrow();
    expect(r.events.at(-1)).toEqual({ type: 'done', stop_reason: 'tool_use' });
  });

  const FIXTURES = [
    'anthropic-docs-basic_text',
    'anthropic-docs-tool_use',
    'basic_response',
    'tool_use_response',
    'incomplete_partial_json_response',
    'stream-a-refusal',
    'stream-a-toolrefusal',
    'stream-b-fallback',
  ];

  test.each(FIXTURES)('fixture %s: the relay events equal what the recorded stream holds', async (name) => {
    const expected = await expectationFromFixture(name);
    const { text } = prompt(`fixture=${name}`);
    const r = await run(upstream(), text);
    expect(r.error).toBeUndefined();
    expect(summarise(r.events)).toEqual(expected);
  });

  test('unknown event, block and delta types are carried verbatim as delta and block events', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'relay-fixtures-'));
    const local = await startSimulatedUpstream({ firstTokenMs: 0, tokensPerSecond: 0, fixturesDir: dir });
    try {
      await writeFile(join(dir, 'future.sse'), FUTURE_STREAM);
      const r = await run(upstream({}, local.url), `x [[sim fixture=future]]`);
      expect(r.error).toBeUndefined();
      expect(r.events.filter((e) => e.type !== 'usage')).toEqual([
        { type: 'text', text: 'Hello', index: 0 },
        { type: 'citation', index: 0, citation: { type: 'char_location', cited_text: 'x' } },
        { type: 'delta', index: -1, delta: { type: 'hologram_update', shape: 'cube' } },
        { type: 'block', index: 1, block: { type: 'hologram', data: '...' } },
        { type: 'delta', index: 1, delta: { type: 'hologram_delta', voxels: 3 } },
        { type: 'tool_use', index: 2, id: 'srvtoolu_1', name: 'web_search', kind: 'server' },
        { type: 'tool_input', index: 2, partial_json: '{"q":"x"}' },
        { type: 'text', text: ' world', index: 0 },
        { type: 'done', stop_reason: 'end_turn' },
      ]);
      expect(ofType(r.events, 'usage').at(-1)?.usage).toEqual({
        input_tokens: 9,
        output_tokens: 4,
        cache_read_input_tokens: 3,
        cache_creation_input_tokens: 2,
      });
    } finally {
      await local.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('retries before the first content event', () => {
  test('429 with retry-after: one retry event whose delay honours the header, then the reply', async () => {
    const { tag, text } = prompt('status=429 fail_first=1 retry_after=0.04 tokens=3');
    // retry-after (40 ms) is above maxDelayMs (20): the upstream's hint still wins.
    const r = await run(upstream(), text);
    expect(r.error).toBeUndefined();
    expect(ofType(r.events, 'retry')).toEqual([
      { type: 'retry', attempt: 1, delay_ms: 40, reason: 'rate_limited (429)', upstream: 'anthropic' },
    ]);
    expect(r.events[0]?.type).toBe('retry');
    expect(textOf(r.events).length).toBeGreaterThan(0);
    expect(r.events.at(-1)?.type).toBe('done');
    expect(recordsFor(tag).map((x) => x.status)).toEqual([429, 200]);
  });

  test('retry-after-ms is preferred over retry-after', async () => {
    const { text } = prompt('status=429 fail_first=1 retry_after=1 retry_after_ms=25 tokens=2');
    const r = await run(upstream(), text);
    expect(r.error).toBeUndefined();
    expect(ofType(r.events, 'retry').map((e) => e.delay_ms)).toEqual([25]);
  });

  test('529 twice: two retries with full-jitter exponential backoff, then the reply', async () => {
    const { tag, text } = prompt('status=529 fail_first=2 tokens=3');
    const r = await run(upstream(), text);
    expect(r.error).toBeUndefined();
    // random() = 0.5: half of 5 ms, then half of 10 ms.
    expect(ofType(r.events, 'retry')).toEqual([
      { type: 'retry', attempt: 1, delay_ms: 2, reason: 'upstream_overloaded (529)', upstream: 'anthropic' },
      { type: 'retry', attempt: 2, delay_ms: 5, reason: 'upstream_overloaded (529)', upstream: 'anthropic' },
    ]);
    expect(r.events.at(-1)?.type).toBe('done');
    expect(recordsFor(tag)).toHaveLength(3);
  });

  test('500 once: retried as upstream_error, then the reply', async () => {
    const { text } = prompt('status=500 fail_first=1 tokens=2');
    const r = await run(upstream(), text);
    expect(r.error).toBeUndefined();
    expect(ofType(r.events, 'retry').map((e) => e.reason)).toEqual(['upstream_error (500)']);
    expect(r.events.at(-1)?.type).toBe('done');
  });

  test('408 and 409 are retried too', async () => {
    for (const status of [408, 409]) {
      const { text } = prompt(`status=${status} fail_first=1 tokens=2`);
      const r = await run(upstream(), text);
      expect(r.error).toBeUndefined();
      expect(ofType(r.events, 'retry')).toHaveLength(1);
    }
  });

  test('a 429 that never clears exhausts max attempts: rate_limited, retryable, with retry-after', async () => {
    const { tag, text } = prompt('status=429 retry_after_ms=3');
    const r = await run(upstream({ retry: { maxAttempts: 3 } }), text);
    const err = relayError(r);
    expect(err.code).toBe('rate_limited');
    expect(err.retryable).toBe(true);
    expect(err.retryAfterMs).toBe(3);
    expect(err.message).toMatch(/gave up after 3 attempt/);
    expect(ofType(r.events, 'retry')).toHaveLength(2);
    expect(recordsFor(tag)).toHaveLength(3);
  });

  test('a 529 that never clears exhausts the time budget: upstream_overloaded', async () => {
    const { text } = prompt('status=529');
    // Backoff ceilings 200, 400, 800 ms with random 0.5 → 100 + 200 fit in 450 ms, 400 does not.
    const r = await run(
      upstream({ retry: { budgetMs: 450, maxAttempts: 10, baseDelayMs: 200, maxDelayMs: 800 } }),
      text,
    );
    const err = relayError(r);
    expect(err.code).toBe('upstream_overloaded');
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/retry budget/);
    // Normally two retries; a very slow machine spends the budget sooner, never later.
    expect(ofType(r.events, 'retry').length).toBeLessThanOrEqual(2);
  });

  test('a retry-after longer than the remaining budget fails at once with retryAfterMs', async () => {
    const { tag, text } = prompt('status=429 retry_after=60');
    const r = await run(upstream(), text);
    const err = relayError(r);
    expect(err.code).toBe('rate_limited');
    expect(err.retryAfterMs).toBe(60_000);
    expect(r.events).toEqual([]);
    expect(recordsFor(tag)).toHaveLength(1);
  });

  test('an overloaded_error event right after message_start is retried', async () => {
    const { tag, text } = prompt('error_after=0');
    const r = await run(upstream({ retry: { maxAttempts: 3 } }), text);
    const err = relayError(r);
    expect(err.code).toBe('upstream_overloaded');
    expect(err.retryable).toBe(true);
    expect(ofType(r.events, 'retry').map((e) => e.reason)).toEqual([
      'upstream_overloaded (overloaded_error event)',
      'upstream_overloaded (overloaded_error event)',
    ]);
    expect(recordsFor(tag).map((x) => x.outcome)).toEqual(['error_event', 'error_event', 'error_event']);
  });

  test('a truncated stream before any content is retried like a lost connection', async () => {
    const { tag, text } = prompt('truncate_after=0');
    const r = await run(upstream({ retry: { maxAttempts: 2 } }), text);
    expect(relayError(r).code).toBe('upstream_error');
    expect(ofType(r.events, 'retry').map((e) => e.reason)).toEqual(['upstream_error (truncated)']);
    expect(recordsFor(tag)).toHaveLength(2);
  });

  test('a refused connection is retried, then fails as upstream_error', async () => {
    const closed = await startSimulatedUpstream({ firstTokenMs: 0, tokensPerSecond: 0 });
    const url = closed.url;
    await closed.close();
    const r = await run(upstream({ retry: { maxAttempts: 2 } }, url), 'hello');
    const err = relayError(r);
    expect(err.code).toBe('upstream_error');
    expect(err.retryable).toBe(true);
    expect(ofType(r.events, 'retry').map((e) => e.reason)).toEqual(['upstream_error (connection error)']);
  });

  test.each([
    [400, 'invalid_request'],
    [401, 'unauthorized'],
    [403, 'forbidden'],
    [404, 'not_found'],
    [413, 'payload_too_large'],
  ] as const)('status %i is not retried: %s, not retryable, no key in the message', async (status, code) => {
    const { tag, text } = prompt(`status=${status}`);
    const r = await run(upstream(), text);
    const err = relayError(r);
    expect(err.code).toBe(code);
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(String(status));
    expect(err.message).not.toContain(API_KEY);
    expect(r.events).toEqual([]);
    expect(recordsFor(tag)).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------

describe('failures after content are terminal', () => {
  test('an overloaded_error event after 5 tokens: upstream_overloaded, retryable, no retry', async () => {
    const { tag, text } = prompt('error_after=5');
    const r = await run(upstream(), text);
    const err = relayError(r);
    expect(err.code).toBe('upstream_overloaded');
    expect(err.retryable).toBe(true);
    expect(ofType(r.events, 'text')).toHaveLength(5);
    expect(ofType(r.events, 'retry')).toEqual([]);
    expect(recordsFor(tag)).toHaveLength(1);
  });

  test.each([
    ['rate_limit_error', 'rate_limited', true],
    ['api_error', 'upstream_error', true],
    ['invalid_request_error', 'upstream_error', false],
  ] as const)('an %s event mid-stream becomes %s (retryable %s)', async (type, code, retryable) => {
    const { text } = prompt(`error_after=2 error_type=${type}`);
    const r = await run(upstream(), text);
    const err = relayError(r);
    expect(err.code).toBe(code);
    expect(err.retryable).toBe(retryable);
    expect(ofType(r.events, 'retry')).toEqual([]);
  });

  test('a stream that ends without message_stop is upstream_error (truncated), not done', async () => {
    const { text } = prompt('truncate_after=3');
    const r = await run(upstream(), text);
    const err = relayError(r);
    expect(err.code).toBe('upstream_error');
    expect(err.message).toMatch(/truncated/);
    expect(ofType(r.events, 'text')).toHaveLength(3);
    expect(r.events.some((e) => e.type === 'done' || e.type === 'retry')).toBe(false);
  });

  test('a connection reset mid-stream is upstream_error, retryable, not retried', async () => {
    // An RST may discard bytes the client has not read yet, so the tokens are paced (50 ms apart)
    // to make sure the first ones were read before the reset.
    const { tag, text } = prompt('reset_after=3 tps=20');
    const r = await run(upstream(), text);
    const err = relayError(r);
    expect(err.code).toBe('upstream_error');
    expect(err.retryable).toBe(true);
    expect(ofType(r.events, 'text').length).toBeGreaterThanOrEqual(1);
    expect(ofType(r.events, 'text').length).toBeLessThanOrEqual(3);
    expect(ofType(r.events, 'retry')).toEqual([]);
    expect(recordsFor(tag).map((x) => x.outcome)).toEqual(['reset']);
  });
});

// ---------------------------------------------------------------------------------------------

describe('deadlines', () => {
  test('a stall mid-stream hits the idle timeout: upstream_timeout and the request is closed', async () => {
    const { tag, text } = prompt('stall_after=3');
    const r = await run(upstream({ idleTimeoutMs: 150 }), text);
    const err = relayError(r);
    expect(err.code).toBe('upstream_timeout');
    expect(err.message).toMatch(/150 ms/);
    expect(ofType(r.events, 'text')).toHaveLength(3);
    // The last attempt is the one that streamed (a hiccup before content would have been retried).
    const record = recordsFor(tag).at(-1);
    const ended = await sim.records.waitFor((x) => x.id === record?.id && x.clientClosedAt !== null);
    expect(ended.outcome).toBe('stalled');
    expect(ended.tokensSent).toBe(3);
  });

  test('slow headers hit the first-token deadline: upstream_timeout, and the request is aborted', async () => {
    const { tag, text } = prompt('header_delay=20000');
    const r = await run(upstream({ firstTokenTimeoutMs: 150, retry: { maxAttempts: 1 } }), text);
    const err = relayError(r);
    expect(err.code).toBe('upstream_timeout');
    expect(err.message).toMatch(/no content within 150 ms/);
    const [record] = recordsFor(tag);
    const closed = await sim.records.waitFor((x) => x.id === record?.id && x.clientClosedAt !== null);
    expect(closed.headersSentAt).toBeNull();
  });

  test('a first-token timeout before content is retried within the budget', async () => {
    const { tag, text } = prompt('header_delay=20000');
    const r = await run(upstream({ firstTokenTimeoutMs: 100, retry: { maxAttempts: 2 } }), text);
    expect(relayError(r).code).toBe('upstream_timeout');
    expect(ofType(r.events, 'retry')).toEqual([
      {
        type: 'retry',
        attempt: 1,
        delay_ms: 2,
        reason: 'upstream_timeout (first-token timeout)',
        upstream: 'anthropic',
      },
    ]);
    expect(recordsFor(tag)).toHaveLength(2);
  });

  test('a stall after message_start but before content is a first-token timeout, not idle', async () => {
    const { text } = prompt('stall_after=0');
    const r = await run(
      upstream({ firstTokenTimeoutMs: 100, idleTimeoutMs: 10_000, retry: { maxAttempts: 1 } }),
      text,
    );
    expect(relayError(r).message).toMatch(/no content within 100 ms/);
  });
});

// ---------------------------------------------------------------------------------------------

describe('abort', () => {
  test('abort mid-stream ends the iteration quietly and closes the upstream request at once', async () => {
    const { tag, text } = prompt('tokens=5000 tps=200');
    const controller = new AbortController();
    const r = await run(upstream(), text, {
      signal: controller.signal,
      onEvent: (_e, all) => {
        if (ofType(all, 'text').length === 3) controller.abort();
        return undefined;
      },
    });
    expect(r.error).toBeUndefined();
    expect(r.events.some((e) => e.type === 'done')).toBe(false);
    const [record] = recordsFor(tag);
    const closed = await sim.records.waitFor((x) => x.id === record?.id && x.clientClosedAt !== null);
    expect(closed.outcome).toBe('client_closed');
    const sentAtClose = closed.tokensSent;
    expect(sentAtClose).toBeLessThan(5000);
    // Nothing more is written after the close: the count is final.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sim.records.get(closed.id)?.tokensSent).toBe(sentAtClose);
  });

  test('abort while the upstream is quiet closes the request at once, after a garbage collection too', async () => {
    // The SDK links this signal to its own request signal only until its response object is
    // collected; the attempt must not depend on that link (nor wait for the next bytes).
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const { tag, text } = prompt('tokens=50 tps=1');
    const controller = new AbortController();
    let texts = 0;
    const r = await run(upstream(), text, {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type !== 'text') return undefined;
        texts++;
        if (texts === 1) {
          gc();
          // Finalization callbacks run in a later task: give them a few.
          setTimeout(() => gc(), 10);
        }
        // A second apart: an abort that waited for the next token would let it be sent.
        if (texts === 2) controller.abort();
        return undefined;
      },
    });
    expect(r.error).toBeUndefined();
    const [record] = recordsFor(tag);
    const closed = await sim.records.waitFor((x) => x.id === record?.id && x.clientClosedAt !== null);
    expect(closed.outcome).toBe('client_closed');
    expect(closed.tokensSent).toBe(2);
  });

  test('breaking out of the loop closes the upstream request', async () => {
    const { tag, text } = prompt('tokens=5000 tps=200');
    const r = await run(upstream(), text, { onEvent: (e) => e.type === 'text' });
    expect(r.error).toBeUndefined();
    const [record] = recordsFor(tag);
    const closed = await sim.records.waitFor((x) => x.id === record?.id && x.clientClosedAt !== null);
    expect(closed.tokensSent).toBeLessThan(5000);
  });

  test('abort during a backoff sleep ends the iteration quietly without another attempt', async () => {
    const { tag, text } = prompt('status=529');
    const controller = new AbortController();
    const r = await run(
      upstream({ retry: { baseDelayMs: 60_000, maxDelayMs: 60_000, budgetMs: 120_000 } }),
      text,
      {
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === 'retry') controller.abort();
          return undefined;
        },
      },
    );
    expect(r.error).toBeUndefined();
    expect(r.events.map((e) => e.type)).toEqual(['retry']);
    expect(recordsFor(tag)).toHaveLength(1);
  });

  test('abort while waiting for headers ends the iteration quietly', async () => {
    const { tag, text } = prompt('header_delay=20000');
    const controller = new AbortController();
    const pending = run(upstream(), text, { signal: controller.signal });
    await sim.records.waitFor((x) => x.prompt?.includes(tag) === true);
    controller.abort();
    const r = await pending;
    expect(r.error).toBeUndefined();
    expect(r.events).toEqual([]);
  });

  test('an already aborted signal yields nothing and sends nothing', async () => {
    const { tag, text } = prompt('tokens=3');
    const r = await run(upstream(), text, { signal: AbortSignal.abort() });
    expect(r).toEqual({ events: [], error: undefined });
    expect(recordsFor(tag)).toHaveLength(0);
  });
});

// ---------------------------------------------------------------------------------------------

describe('hygiene', () => {
  test('many streams of every ending leave no timer and no abort listener behind', async () => {
    // getActiveResourcesInfo() does not list unref'd timers (the deadlines are unref'd), so the
    // timers created from src/ are also tracked directly: each must have fired or been cleared.
    const timers = (): number => process.getActiveResourcesInfo().filter((x) => x === 'Timeout').length;
    const tracker = trackTimers();
    const before = timers();
    const shared = new AbortController();
    try {
      const up = upstream({ idleTimeoutMs: 100, firstTokenTimeoutMs: 2000 });
      const kinds = [
        'tokens=5',
        'error_after=2',
        'status=529 fail_first=1',
        'truncate_after=2',
        'stall_after=1',
        'status=400',
      ];
      for (let i = 0; i < 30; i++) {
        const { text } = prompt(kinds[i % kinds.length] ?? 'tokens=1');
        await run(up, text, { signal: shared.signal });
      }
      // Abort mid-stream and during a backoff on private signals: the endings by the caller's hand.
      for (let i = 0; i < 5; i++) {
        const { text } = prompt(i % 2 === 0 ? 'tokens=500 tps=500' : 'status=529');
        const c = new AbortController();
        await run(upstream({ retry: { baseDelayMs: 60_000, maxDelayMs: 60_000, budgetMs: 120_000 } }), text, {
          signal: c.signal,
          onEvent: (e) => {
            if (e.type === 'text' || e.type === 'retry') c.abort();
            return undefined;
          },
        });
      }
    } finally {
      tracker.restore();
    }
    expect(tracker.created()).toBeGreaterThan(30);
    expect(tracker.outstanding()).toEqual([]);
    expect(getEventListeners(shared.signal, 'abort')).toHaveLength(0);
    expect(timers()).toBeLessThanOrEqual(before);
  });
});

/** Wraps the global setTimeout / clearTimeout to find timers created by src/ and never released. */
function trackTimers(): { created(): number; outstanding(): string[]; restore(): void } {
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  const live = new Map<unknown, string>();
  let count = 0;
  const ours = (stack: string): boolean => /[/\\]src[/\\]/.test(stack);
  const patchedSet = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]): NodeJS.Timeout => {
    const stack = new Error().stack?.split('\n').slice(2).join('\n') ?? '';
    const timer: NodeJS.Timeout = realSet(
      (...a: unknown[]) => {
        live.delete(timer);
        fn(...a);
      },
      ms,
      ...args,
    );
    if (ours(stack)) {
      count++;
      live.set(timer, stack);
    }
    return timer;
  };
  const patchedClear = (timer: Parameters<typeof clearTimeout>[0]): void => {
    live.delete(timer);
    realClear(timer);
  };
  globalThis.setTimeout = patchedSet as unknown as typeof setTimeout;
  globalThis.clearTimeout = patchedClear as typeof clearTimeout;
  return {
    created: () => count,
    outstanding: () => [...live.values()],
    restore: () => {
      globalThis.setTimeout = realSet;
      globalThis.clearTimeout = realClear;
    },
  };
}

// ---------------------------------------------------------------------------------------------

/** The relay-visible content of a stream, summarised so the file and the events compare. */
interface Summary {
  text: Record<number, string>;
  thinking: Record<number, string>;
  tools: { index: number; id: string; name: string }[];
  toolInput: Record<number, string>;
  firstUsage: UsageUpdate['usage'] | undefined;
  lastUsage: UsageUpdate['usage'] | undefined;
  stopReason: string | null | undefined;
}

function summarise(events: UpstreamEvent[]): Summary {
  const s: Summary = {
    text: {},
    thinking: {},
    tools: [],
    toolInput: {},
    firstUsage: undefined,
    lastUsage: undefined,
    stopReason: undefined,
  };
  for (const e of events) {
    switch (e.type) {
      case 'text':
        s.text[e.index] = (s.text[e.index] ?? '') + e.text;
        break;
      case 'thinking':
        s.thinking[e.index] = (s.thinking[e.index] ?? '') + e.text;
        break;
      case 'tool_use':
        s.tools.push({ index: e.index, id: e.id, name: e.name });
        break;
      case 'tool_input':
        s.toolInput[e.index] = (s.toolInput[e.index] ?? '') + e.partial_json;
        break;
      case 'usage':
        s.firstUsage ??= e.usage;
        s.lastUsage = e.usage;
        break;
      case 'done':
        s.stopReason = e.stop_reason;
        break;
      case 'retry':
        break;
    }
  }
  return s;
}

type RawUsage = Record<string, unknown>;

/** The fields of a recorded event these tests read. */
interface FixtureEvent {
  type: string;
  index: number;
  message: { usage: RawUsage };
  content_block: { type: string; id: string; name: string };
  delta: { type: string; text: string; thinking: string; partial_json: string; stop_reason: string | null };
  usage: RawUsage;
}

/** A usage update carries the fields the event sent, nulls left out, verbatim. */
function usageOf(u: RawUsage): UsageUpdate['usage'] {
  return Object.fromEntries(Object.entries(u).filter(([, v]) => v != null)) as UsageUpdate['usage'];
}

/** Reads the recorded stream directly (independently of the SDK) and says what the relay must yield. */
async function expectationFromFixture(name: string): Promise<Summary> {
  const dir = defaultFixturesDir();
  const file = await readFile(join(dir, `${name}.sse`), 'utf8').catch(() =>
    readFile(join(dir, 'anthropic-sdk', `${name}.sse`), 'utf8'),
  );
  const s: Summary = {
    text: {},
    thinking: {},
    tools: [],
    toolInput: {},
    firstUsage: undefined,
    lastUsage: undefined,
    stopReason: undefined,
  };
  let stop: string | null = null;
  for (const frame of file.split('\n\n')) {
    const line = frame.split('\n').find((l) => l.startsWith('data:'));
    if (line === undefined) continue;
    const e = JSON.parse(line.slice(5)) as FixtureEvent;
    switch (e.type) {
      case 'message_start':
        s.firstUsage = usageOf(e.message.usage);
        s.lastUsage = s.firstUsage;
        break;
      case 'content_block_start':
        if (e.content_block.type === 'tool_use' || e.content_block.type === 'server_tool_use') {
          s.tools.push({ index: e.index, id: e.content_block.id, name: e.content_block.name });
        }
        break;
      case 'content_block_delta':
        if (e.delta.type === 'text_delta' && e.delta.text !== '') {
          s.text[e.index] = (s.text[e.index] ?? '') + e.delta.text;
        }
        if (e.delta.type === 'thinking_delta' && e.delta.thinking !== '') {
          s.thinking[e.index] = (s.thinking[e.index] ?? '') + e.delta.thinking;
        }
        if (e.delta.type === 'input_json_delta' && e.delta.partial_json !== '') {
          s.toolInput[e.index] = (s.toolInput[e.index] ?? '') + e.delta.partial_json;
        }
        break;
      case 'message_delta':
        stop = e.delta.stop_reason ?? stop;
        s.lastUsage = usageOf(e.usage);
        break;
      case 'message_stop':
        s.stopReason = stop;
        break;
      default:
        break;
    }
  }
  return s;
}

/** A stream from a future API: an unknown event, an unknown block type, an unknown delta type. */
const FUTURE_STREAM = [
  'event: message_start',
  'data: {"type":"message_start","message":{"id":"msg_f","type":"message","role":"assistant","content":[],"model":"claude-haiku-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":1}}}',
  '',
  'event: content_block_start',
  'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
  '',
  'event: content_block_delta',
  'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}',
  '',
  'event: content_block_delta',
  'data: {"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{"type":"char_location","cited_text":"x"}}}',
  '',
  'event: hologram_update',
  'data: {"type":"hologram_update","shape":"cube"}',
  '',
  'event: content_block_start',
  'data: {"type":"content_block_start","index":1,"content_block":{"type":"hologram","data":"..."}}',
  '',
  'event: content_block_delta',
  'data: {"type":"content_block_delta","index":1,"delta":{"type":"hologram_delta","voxels":3}}',
  '',
  'event: content_block_stop',
  'data: {"type":"content_block_stop","index":1}',
  '',
  'event: content_block_start',
  'data: {"type":"content_block_start","index":2,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}',
  '',
  'event: content_block_delta',
  'data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}',
  '',
  'event: content_block_delta',
  'data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\\"q\\":\\"x\\"}"}}',
  '',
  'event: content_block_stop',
  'data: {"type":"content_block_stop","index":2}',
  '',
  'event: content_block_delta',
  'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" world"}}',
  '',
  'event: content_block_stop',
  'data: {"type":"content_block_stop","index":0}',
  '',
  'event: message_delta',
  'data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":9,"output_tokens":4,"cache_read_input_tokens":3,"cache_creation_input_tokens":2}}',
  '',
  'event: message_stop',
  'data: {"type":"message_stop"}',
  '',
  '',
].join('\n');
