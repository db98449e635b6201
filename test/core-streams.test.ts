import { afterEach, describe, expect, it } from 'vitest';
import { RelayError } from '../src/core/errors.js';
import type { RelayEvent } from '../src/core/events.js';
import { type Limiter, NO_LEASE } from '../src/core/limiter.js';
import type { CursorOutcome, CursorSink, LogEntry } from '../src/core/stream-log.js';
import { StreamRegistry, type StreamsConfig } from '../src/core/streams.js';
import { ScriptedUpstream, type ScriptStep, textScript } from './helpers/scripted-upstream.js';

const CONFIG: StreamsConfig = {
  defaultModel: 'claude-test',
  defaultMaxTokens: 64,
  log: { maxEvents: 1000, maxBytes: 1 << 20 },
  maxLagEvents: 100,
  cursorBatch: { maxEvents: 1000, maxBytes: 1 << 20 },
  graceMs: 50,
  retentionMs: 1000,
  maxStreams: 100,
  maxStreamsPerAddress: 0,
  maxDurationMs: 0,
};

class CollectSink implements CursorSink {
  events: RelayEvent[] = [];
  ended: CursorOutcome | undefined;
  private done!: () => void;
  readonly finished = new Promise<void>((resolve) => {
    this.done = resolve;
  });
  ready(): boolean {
    return true;
  }
  write(entries: readonly LogEntry[]): boolean {
    for (const e of entries) this.events.push(e.event);
    return true;
  }
  waitDrain(): () => void {
    return () => {};
  }
  end(outcome: CursorOutcome): void {
    this.ended = outcome;
    this.done();
  }
  get types(): string[] {
    return this.events.map((e) => e.type);
  }
}

const registries: StreamRegistry[] = [];
function registry(script: (n: number) => ScriptStep[], config: Partial<StreamsConfig> = {}) {
  let n = 0;
  const upstream = new ScriptedUpstream(() => script(++n));
  const r = new StreamRegistry({ upstream, config: { ...CONFIG, ...config } });
  registries.push(r);
  return { registry: r, upstream };
}

afterEach(async () => {
  for (const r of registries.splice(0)) await r.shutdown(1000);
});

describe('StreamRegistry', () => {
  it('runs a stream from start to done with the upstream usage as the receipt', async () => {
    const { registry: r, upstream } = registry(() => textScript(3));
    const stream = await r.create({ message: 'hi' }, { owner: 'a' });
    const sink = new CollectSink();
    stream.attach(sink);
    await sink.finished;
    expect(sink.types).toEqual(['start', 'text', 'text', 'text', 'done']);
    expect(sink.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(sink.events.at(-1)).toMatchObject({
      type: 'done',
      stop_reason: 'end_turn',
      usage: { input_tokens: 7, output_tokens: 3, estimated: false },
    });
    expect(upstream.calls[0]?.request).toMatchObject({
      model: 'claude-test',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(await stream.snapshot()).toMatchObject({ state: 'done', last_seq: 5 });
  });

  it('ids are unguessable and a stream is invisible to other owners', async () => {
    const { registry: r } = registry(() => textScript(1));
    const a = await r.create({ message: 'x' }, { owner: 'alice' });
    const b = await r.create({ message: 'x' }, { owner: 'alice' });
    expect(a.id).toMatch(/^str_[A-Za-z0-9_-]{22}$/);
    expect(a.id).not.toBe(b.id);
    expect(await r.find(a.id, 'alice')).toBe(a);
    expect(await r.find(a.id, 'mallory')).toBeUndefined();
    await expect(r.open(a.id, 'mallory')).rejects.toThrow(RelayError);
  });

  it('cancel aborts the upstream at once and appends one cancelled event with estimated usage', async () => {
    const { registry: r, upstream } = registry(() => [
      { type: 'usage', usage: { input_tokens: 9, output_tokens: 1 } },
      { type: 'text', text: 'abcdefgh', index: 0 },
      { hang: true },
    ]);
    const stream = await r.create({ message: 'x' }, { owner: 'a' });
    const sink = new CollectSink();
    stream.attach(sink);
    while (!sink.types.includes('text')) await new Promise((resolve) => setTimeout(resolve, 1));
    await stream.cancel('client');
    await stream.cancel('client');
    await sink.finished;
    await r.settled(stream.id);
    expect(upstream.calls[0]?.aborted).toBe(true);
    expect(sink.types.filter((t) => t === 'cancelled')).toHaveLength(1);
    expect(sink.events.at(-1)).toMatchObject({
      type: 'cancelled',
      reason: 'client',
      usage: { input_tokens: 9, output_tokens: 2, estimated: true },
    });
  });

  it('an upstream failure becomes one error event carrying its code and retryability', async () => {
    const { registry: r } = registry(() => [
      { type: 'text', text: 'a', index: 0 },
      { throw: new RelayError('upstream_overloaded', 'Overloaded') },
    ]);
    const stream = await r.create({ message: 'x' }, { owner: 'a' });
    const sink = new CollectSink();
    stream.attach(sink);
    await sink.finished;
    expect(sink.events.at(-1)).toMatchObject({
      type: 'error',
      code: 'upstream_overloaded',
      retryable: true,
      usage: { estimated: true },
    });
  });

  it('an error event tells the client how long the upstream asked it to wait', async () => {
    const { registry: r } = registry(() => [
      { throw: new RelayError('rate_limited', 'rate limited', { retryAfterMs: 30_000 }) },
    ]);
    const stream = await r.create({ message: 'x' }, { owner: 'a' });
    const sink = new CollectSink();
    stream.attach(sink);
    await sink.finished;
    expect(sink.events.at(-1)).toMatchObject({ type: 'error', code: 'rate_limited', retry_after_ms: 30_000 });
  });

  it('an unknown exception is an internal_error that leaks nothing', async () => {
    const { registry: r } = registry(() => [{ throw: new Error('secret sk-ant-123 at /srv/x.js') }]);
    const stream = await r.create({ message: 'x' }, { owner: 'a' });
    const sink = new CollectSink();
    stream.attach(sink);
    await sink.finished;
    const last = sink.events.at(-1) as { message: string; code: string };
    expect(last.code).toBe('internal_error');
    expect(last.message).not.toContain('sk-ant');
  });

  it('an upstream that ends without done is an upstream_error, not done', async () => {
    const { registry: r } = registry(() => [{ type: 'text', text: 'a', index: 0 }]);
    const stream = await r.create({ message: 'x' }, { owner: 'a' });
    const sink = new CollectSink();
    stream.attach(sink);
    await sink.finished;
    expect(sink.events.at(-1)).toMatchObject({ type: 'error', code: 'upstream_error' });
  });

  it('on_disconnect=abort cancels the stream when its last subscriber leaves', async () => {
    const { registry: r, upstream } = registry(() => [{ hang: true }]);
    const stream = await r.create({ message: 'x', on_disconnect: 'abort' }, { owner: 'a' });
    const cursor = stream.attach(new CollectSink());
    cursor.detach();
    await r.settled(stream.id);
    expect(stream.state).toBe('cancelled');
    expect(stream.terminal).toMatchObject({ type: 'cancelled', reason: 'disconnect' });
    expect(upstream.calls[0]?.aborted).toBe(true);
  });

  it('on_disconnect=grace keeps generating for the grace period and a resume gets every event once', async () => {
    const { registry: r } = registry(() => textScript(20, { waitMs: 2 }), { graceMs: 5000 });
    const stream = await r.create({ message: 'x' }, { owner: 'a' });
    const first = new CollectSink();
    const cursor = stream.attach(first);
    while (first.events.length < 4) await new Promise((resolve) => setTimeout(resolve, 1));
    cursor.detach();
    const seen = first.events.at(-1)!.seq;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(stream.state).toBe('running');
    const second = new CollectSink();
    stream.attach(second, seen);
    await second.finished;
    const all = [...first.events, ...second.events].map((e) => e.seq);
    expect(all).toEqual(Array.from({ length: 22 }, (_, i) => i + 1));
    expect(second.events.at(-1)?.type).toBe('done');
  });

  it('on_disconnect=grace cancels with reason disconnect when nobody resumes in time', async () => {
    const { registry: r, upstream } = registry(() => [{ hang: true }], { graceMs: 10 });
    const stream = await r.create({ message: 'x' }, { owner: 'a' });
    stream.attach(new CollectSink()).detach();
    await r.settled(stream.id);
    expect(stream.terminal).toMatchObject({ type: 'cancelled', reason: 'disconnect' });
    expect(upstream.calls[0]?.aborted).toBe(true);
  });

  it('a stream past maxDurationMs is cancelled with reason timeout', async () => {
    const { registry: r } = registry(() => [{ hang: true }], { maxDurationMs: 10, graceMs: 10_000 });
    const stream = await r.create({ message: 'x' }, { owner: 'a' });
    stream.attach(new CollectSink());
    await r.settled(stream.id);
    expect(stream.terminal).toMatchObject({ type: 'cancelled', reason: 'timeout' });
  });

  it('shutdown gives every running stream one cancelled event and refuses new streams', async () => {
    const { registry: r } = registry(() => [{ hang: true }]);
    const sinks = await Promise.all(
      [1, 2, 3].map(async () => {
        const s = await r.create({ message: 'x' }, { owner: 'a' });
        const sink = new CollectSink();
        s.attach(sink);
        return sink;
      }),
    );
    await r.shutdown(1000);
    for (const sink of sinks) {
      expect(sink.events.filter((e) => e.type === 'cancelled')).toEqual([
        expect.objectContaining({ reason: 'shutdown' }),
      ]);
    }
    await expect(r.create({ message: 'x' }, { owner: 'a' })).rejects.toMatchObject({ code: 'shutting_down' });
  });

  it('forgets a finished stream after its retention period', async () => {
    const { registry: r } = registry(() => textScript(1), { retentionMs: 5 });
    const stream = await r.create({ message: 'x' }, { owner: 'a' });
    await r.settled(stream.id);
    expect(await r.find(stream.id)).toBe(stream);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(await r.find(stream.id)).toBeUndefined();
    expect(r.size).toBe(0);
  });

  it('refuses a new stream with limit_exceeded when maxStreams are running', async () => {
    const { registry: r } = registry(() => [{ hang: true }], { maxStreams: 2 });
    await r.create({ message: 'x' }, { owner: 'a' });
    await r.create({ message: 'x' }, { owner: 'a' });
    await expect(r.create({ message: 'x' }, { owner: 'a' })).rejects.toMatchObject({
      code: 'limit_exceeded',
    });
  });

  it('holds maxStreams against creates arriving together, counting those still being admitted', async () => {
    // A limiter that answers on a later turn, as a shared (Redis) one does: every create of the
    // crowd has passed the size check before the first is in the store.
    const slowLimiter: Limiter = {
      acquire: () => new Promise((resolve) => setTimeout(() => resolve(NO_LEASE), 5)),
    };
    const upstream = new ScriptedUpstream(() => [{ hang: true }]);
    const r = new StreamRegistry({ upstream, config: { ...CONFIG, maxStreams: 3 }, limiter: slowLimiter });
    registries.push(r);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 12 }, () => r.create({ message: 'x' }, { owner: 'a' })),
    );
    const refused = outcomes.filter((o) => o.status === 'rejected');
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(3);
    expect(refused).toHaveLength(9);
    for (const o of refused)
      expect((o as PromiseRejectedResult).reason).toMatchObject({ code: 'limit_exceeded' });
    expect(r.size).toBe(3);
    // A create that fails after admission gives its place back.
    const failing = new StreamRegistry({
      upstream,
      config: { ...CONFIG, maxStreams: 1 },
      limiter: { acquire: () => Promise.reject(new RelayError('quota_exceeded', 'no')) },
    });
    registries.push(failing);
    await expect(failing.create({ message: 'x' }, { owner: 'a' })).rejects.toMatchObject({
      code: 'quota_exceeded',
    });
    await expect(failing.create({ message: 'x' }, { owner: 'a' })).rejects.toMatchObject({
      code: 'quota_exceeded',
    });
  });

  it('retry events are logged but content-free; done after retries still has one terminal', async () => {
    const { registry: r } = registry(() => [
      { type: 'retry', attempt: 1, delay_ms: 5, reason: 'upstream 529' },
      ...textScript(2),
    ]);
    const stream = await r.create({ message: 'x' }, { owner: 'a' });
    const sink = new CollectSink();
    stream.attach(sink);
    await sink.finished;
    expect(sink.types).toEqual(['start', 'retry', 'text', 'text', 'done']);
  });

  it('starts a burst a few per turn, in order, so earlier streams get their first token before the burst has all started', async () => {
    const order: string[] = [];
    // Each answer arrives on a later turn of the event loop, as a socket read would.
    const upstream = {
      async *stream(request: { messages: readonly { content: unknown }[] }): AsyncGenerator<RelayEvent> {
        const name = String(request.messages[0]?.content);
        order.push(`call ${name}`);
        await new Promise((resolve) => setImmediate(resolve));
        yield { type: 'text', text: name, index: 0 } as RelayEvent;
        order.push(`token ${name}`);
        yield { type: 'done', stop_reason: 'end_turn' } as RelayEvent;
      },
    };
    const r = new StreamRegistry({
      upstream: upstream as never,
      config: CONFIG,
      startsPerTurn: 4,
    });
    registries.push(r);
    const streams = await Promise.all(
      Array.from({ length: 40 }, (_, i) => r.create({ message: String(i) }, { owner: 'a' })),
    );
    await Promise.all(streams.map((s) => r.settled(s.id)));
    const calls = order.filter((o) => o.startsWith('call'));
    expect(calls).toEqual(Array.from({ length: 40 }, (_, i) => `call ${i}`));
    // Without the turns every call came before any token (all 40 starts ran in one turn).
    expect(order.indexOf('token 0')).toBeLessThan(order.indexOf('call 39'));
    expect(order.indexOf('token 0')).toBeLessThanOrEqual(8);
    expect(order.filter((o) => o.startsWith('token'))).toHaveLength(40);
  });

  it('leaves no timers, listeners or streams behind after a thousand streams', async () => {
    const baseline = process
      .getActiveResourcesInfo()
      .filter((r) => r === 'Timeout' || r === 'Immediate').length;
    const { registry: r } = registry(() => textScript(3), { retentionMs: 1 });
    const logs: { listenerCount: number }[] = [];
    const stop = r.onEnd((g) => logs.push(g.log));
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          const s = await r.create(
            { message: 'x', on_disconnect: i % 2 ? 'abort' : 'grace' },
            { owner: 'a' },
          );
          const sink = new CollectSink();
          s.attach(sink);
          await sink.finished;
          await r.settled(s.id);
        }),
      );
    }
    const deadline = Date.now() + 5000;
    while (r.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    stop();
    expect(r.size).toBe(0);
    expect(logs).toHaveLength(1000);
    expect(logs.every((l) => l.listenerCount === 0)).toBe(true);
    const after = process.getActiveResourcesInfo().filter((x) => x === 'Timeout' || x === 'Immediate').length;
    expect(after).toBeLessThanOrEqual(baseline);
  });
});

describe('the assembled reply (?include=message)', () => {
  /** Text at block 0, a client tool call at block 1: 10 events in the log with start and done. */
  function toolScript(tail: ScriptStep[] = []): ScriptStep[] {
    return [
      { type: 'usage', usage: { input_tokens: 7, output_tokens: 1 } },
      ...[1, 2, 3, 4, 5].map((i): ScriptStep => ({ type: 'text', text: `t${i} `, index: 0 })),
      { type: 'tool_use', index: 1, id: 'toolu_1', name: 'calc', kind: 'client' },
      { type: 'tool_input', index: 1, partial_json: '{"a":' },
      { type: 'tool_input', index: 1, partial_json: '1}' },
      ...tail,
    ];
  }
  const WHOLE = [
    { type: 'text', text: 't1 t2 t3 t4 t5 ' },
    { type: 'tool_use', id: 'toolu_1', name: 'calc', input: { a: 1 } },
  ];

  it('is whole whichever event makes the log drop the stream start (each block once, nothing missed)', async () => {
    for (let maxEvents = 1; maxEvents <= 11; maxEvents++) {
      const { registry: r } = registry(() => toolScript([{ type: 'done', stop_reason: 'tool_use' }]), {
        log: { maxEvents, maxBytes: 1 << 20 },
      });
      const stream = await r.create({ message: 'hi' }, { owner: 'a' });
      await r.settled(stream.id);
      const message = await stream.message();
      expect({ maxEvents, content: message.content }).toEqual({ maxEvents, content: WHOLE });
      expect(message.stop_reason).toBe('tool_use');
    }
  });

  it('is whole while the stream runs, trimmed or not, and a cancelled reply keeps only complete blocks', async () => {
    for (const maxEvents of [3, 1000]) {
      const { registry: r } = registry(() => toolScript([{ hang: true }]), {
        log: { maxEvents, maxBytes: 1 << 20 },
      });
      const stream = await r.create({ message: 'hi' }, { owner: 'a' });
      const deadline = Date.now() + 5000;
      while (stream.lastSeq < 9 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 5));
      expect((await stream.message()).content).toEqual(WHOLE);
      await stream.cancel('client');
      await r.settled(stream.id);
      expect((await stream.message()).content).toEqual(WHOLE);
    }
  });
});
