import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RequestRecord, SimulatedUpstream } from '../src/upstream/simulated/index.js';
import { marker, postMessages, sdkFor, sseEvents, startFastSim, userTurn } from './simulated-helpers.js';

let sim: SimulatedUpstream;
let client: Anthropic;

beforeAll(async () => {
  sim = await startFastSim();
  client = sdkFor(sim.url);
});
afterAll(() => sim.close());

function ask(directive: string, extra: Partial<Anthropic.MessageCreateParamsNonStreaming> = {}) {
  return client.messages.stream({
    model: 'claude-sim',
    max_tokens: 500,
    messages: userTurn(`${marker()} tell me a story [[sim ${directive}]]`),
    ...extra,
  });
}

function recordFor(m: string): Promise<RequestRecord> {
  return sim.records.waitFor((r) => r.prompt?.includes(m) === true);
}

describe('status errors before streaming', () => {
  test.each([
    [429, Anthropic.RateLimitError, 'rate_limit_error'],
    [500, Anthropic.InternalServerError, 'api_error'],
    [529, Anthropic.InternalServerError, 'overloaded_error'],
    [503, Anthropic.InternalServerError, 'api_error'],
    [401, Anthropic.AuthenticationError, 'authentication_error'],
    [400, Anthropic.BadRequestError, 'invalid_request_error'],
    [408, Anthropic.APIError, 'timeout_error'],
    [409, Anthropic.ConflictError, 'conflict_error'],
  ] as const)(
    'status=%i rejects with the SDK class for it and Anthropic error type %s',
    async (status, cls, type) => {
      const error = await ask(`status=${status}`)
        .finalMessage()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(cls);
      const api = error as InstanceType<typeof Anthropic.APIError>;
      expect(api.status).toBe(status);
      expect(api.type).toBe(type);
      expect(api.requestID).toMatch(/^req_sim_/);
    },
  );

  test('the error body is the API shape with request_id, and retry-after / x-should-retry headers are set', async () => {
    const res = await postMessages(sim, {
      model: 'claude-sim',
      max_tokens: 10,
      messages: userTurn('busy [[sim status=429 retry_after=7 retry_after_ms=7000]]'),
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(res.headers.get('retry-after-ms')).toBe('7000');
    expect(res.headers.get('x-should-retry')).toBe('true');
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = await res.json();
    expect(body).toEqual({
      type: 'error',
      error: { type: 'rate_limit_error', message: expect.any(String) },
      request_id: res.headers.get('request-id'),
    });
  });

  test('error_type overrides the body type of a status error', async () => {
    const error = await ask('status=500 error_type=overloaded_error')
      .finalMessage()
      .catch((e: unknown) => e);
    expect((error as InstanceType<typeof Anthropic.APIError>).type).toBe('overloaded_error');
  });

  test('fail_first=2 fails twice then succeeds; the SDK retries (maxRetries 2) and the records show 3 attempts', async () => {
    const m = marker();
    const retrying = sdkFor(sim.url, 2);
    const message = await retrying.messages
      .stream({
        model: 'claude-sim',
        max_tokens: 50,
        messages: userTurn(`${m} flaky [[sim fail_first=2 retry_after_ms=1]]`),
      })
      .finalMessage();
    expect(message.content[0]?.type).toBe('text');
    const attempts = sim.records.all().filter((r) => r.prompt?.includes(m) === true);
    expect(attempts.map((r) => r.status)).toEqual([529, 529, 200]);
    expect(attempts.map((r) => r.outcome)).toEqual(['error_status', 'error_status', 'completed']);
  });

  test('fail_first with maxRetries too small surfaces the error to the SDK caller', async () => {
    const error = await sdkFor(sim.url, 1)
      .messages.stream({
        model: 'claude-sim',
        max_tokens: 50,
        messages: userTurn(`${marker()} [[sim fail_first=3 status=503 retry_after_ms=1]]`),
      })
      .finalMessage()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.InternalServerError);
  });

  test('the SDK waits the retry-after seconds the simulator asks for', async () => {
    const m = marker();
    await sdkFor(sim.url, 1)
      .messages.stream({
        model: 'claude-sim',
        max_tokens: 20,
        messages: userTurn(`${m} [[sim fail_first=1 retry_after=1]]`),
      })
      .finalMessage();
    const [first, second] = sim.records.all().filter((r) => r.prompt?.includes(m) === true);
    // A lower bound only: the SDK's own backoff without the header would be under 500 ms.
    expect((second?.receivedAt ?? 0) - (first?.receivedAt ?? 0)).toBeGreaterThanOrEqual(900);
  });
});

describe('faults mid-stream', () => {
  test('error_after=3 sends an overloaded_error event after 3 tokens and the SDK rejects with APIError', async () => {
    const m = marker();
    const stream = client.messages.stream({
      model: 'claude-sim',
      max_tokens: 500,
      messages: userTurn(`${m} [[sim error_after=3]]`),
    });
    const texts: string[] = [];
    stream.on('text', (t) => texts.push(t));
    const error = await stream.finalMessage().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect((error as InstanceType<typeof Anthropic.APIError>).type).toBe('overloaded_error');
    expect(texts).toHaveLength(3);
    const record = await sim.records.waitForEnd((await recordFor(m)).id);
    expect(record.outcome).toBe('error_event');
    expect(record.tokensSent).toBe(3);
    expect(record.completedAt).not.toBeNull();
  });

  test('error_after=0 sends the error event right after message_start (an early overloaded_error)', async () => {
    const res = await postMessages(sim, {
      model: 'claude-sim',
      max_tokens: 50,
      stream: true,
      messages: userTurn('[[sim error_after=0 error_type=api_error]]'),
    });
    const events = sseEvents(await res.text());
    expect(events.map((e) => e.event)).toEqual(['message_start', 'error']);
    expect(events[1]?.data).toEqual({
      type: 'error',
      error: { type: 'api_error', message: 'Internal server error' },
    });
  });

  test('truncate_after ends the stream without message_stop and finalMessage() rejects', async () => {
    const m = marker();
    const error = await client.messages
      .stream({ model: 'claude-sim', max_tokens: 500, messages: userTurn(`${m} [[sim truncate_after=4]]`) })
      .finalMessage()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    const record = await sim.records.waitForEnd((await recordFor(m)).id);
    expect(record.outcome).toBe('truncated');
    expect(record.tokensSent).toBe(4);
  });

  test('a truncated raw stream has neither message_delta nor message_stop', async () => {
    const res = await postMessages(sim, {
      model: 'claude-sim',
      max_tokens: 50,
      stream: true,
      messages: userTurn('[[sim truncate_after=2]]'),
    });
    const names = sseEvents(await res.text()).map((e) => e.event);
    expect(names).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
    ]);
  });

  test('reset_after resets the connection after K tokens: the SDK rejects and the record says reset', async () => {
    const m = marker();
    const error = await client.messages
      .stream({ model: 'claude-sim', max_tokens: 500, messages: userTurn(`${m} [[sim reset_after=2]]`) })
      .finalMessage()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    const record = await sim.records.waitForEnd((await recordFor(m)).id);
    expect(record.outcome).toBe('reset');
    expect(record.tokensSent).toBe(2);
  });

  test('stall_after keeps the socket silent until the client aborts; the record then shows the client closed', async () => {
    const m = marker();
    const controller = new AbortController();
    const stream = client.messages.stream(
      { model: 'claude-sim', max_tokens: 500, messages: userTurn(`${m} [[sim stall_after=3]]`) },
      { signal: controller.signal },
    );
    const done = stream.finalMessage().catch((e: unknown) => e);
    const stalled = await sim.records.waitFor(
      (r) => r.prompt?.includes(m) === true && r.outcome === 'stalled',
    );
    expect(stalled.tokensSent).toBe(3);
    controller.abort();
    expect(await done).toBeInstanceOf(Anthropic.APIUserAbortError);
    const ended = await sim.records.waitForEnd(stalled.id);
    expect(ended.clientClosedAt).not.toBeNull();
    expect(ended.clientClosedAtNs).not.toBeNull();
    expect(ended.completedAt).toBeNull();
    expect(ended.outcome).toBe('stalled');
    expect(ended.tokensSent).toBe(3);
  });

  test('a fault whose K is past the end of the reply never fires', async () => {
    const message = await ask('tokens=5 error_after=50').finalMessage();
    expect(message.usage.output_tokens).toBe(5);
  });

  test('header_delay holds the status line and headers back', async () => {
    const m = marker();
    await client.messages
      .stream({ model: 'claude-sim', max_tokens: 20, messages: userTurn(`${m} [[sim header_delay=150]]`) })
      .finalMessage();
    const record = await recordFor(m);
    // Lower bound only (timers may round by a millisecond, never fire much early).
    expect((record.headersSentAt ?? 0) - record.receivedAt).toBeGreaterThanOrEqual(140);
  });

  test('a client that leaves during header_delay is recorded as client_closed and gets no headers', async () => {
    const m = marker();
    const controller = new AbortController();
    const done = client.messages
      .stream(
        { model: 'claude-sim', max_tokens: 20, messages: userTurn(`${m} [[sim header_delay=60000]]`) },
        { signal: controller.signal },
      )
      .finalMessage()
      .catch((e: unknown) => e);
    const record = await recordFor(m);
    controller.abort();
    await done;
    const ended = await sim.records.waitForEnd(record.id);
    expect(ended.outcome).toBe('client_closed');
    expect(ended.headersSentAt).toBeNull();
  });
});

describe('faults on non-streaming requests', () => {
  test('error_after on a non-streaming request answers the matching status error', async () => {
    const error = await client.messages
      .create({ model: 'claude-sim', max_tokens: 50, messages: userTurn('[[sim error_after=2]]') })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.InternalServerError);
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
  });

  test('truncate_after on a non-streaming request sends half a JSON body', async () => {
    const res = await postMessages(sim, {
      model: 'claude-sim',
      max_tokens: 50,
      messages: userTurn('[[sim truncate_after=2]]'),
    });
    const text = await res.text();
    expect(() => JSON.parse(text)).toThrow();
  });
});
