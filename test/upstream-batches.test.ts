/**
 * Events grouped per upstream read (Upstream.batches): the SDK adapter's batches hold exactly
 * `stream()`'s events, never an empty group, and a stream takes them from batches when an
 * upstream offers them, stopping mid-batch once it ended.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RelayError } from '../src/core/errors.js';
import { MemoryStreamStore } from '../src/core/memory-stream-store.js';
import type { UpstreamRequest } from '../src/core/request.js';
import { StreamRegistry } from '../src/core/streams.js';
import type { Upstream, UpstreamEvent } from '../src/core/upstream.js';
import { AnthropicUpstream } from '../src/upstream/anthropic.js';
import { type SimulatedUpstream, startSimulatedUpstream } from '../src/upstream/simulated/index.js';
import { CONTRACT_CONFIG, CollectSink } from './stream-store.contract.js';

let sim: SimulatedUpstream;
beforeAll(async () => {
  sim = await startSimulatedUpstream({ firstTokenMs: 0, tokensPerSecond: 0 });
});
afterAll(() => sim.close());

function adapter(): AnthropicUpstream {
  return new AnthropicUpstream({
    apiKey: 'sk-ant-api03-batches-test',
    baseURL: sim.url,
    firstTokenTimeoutMs: 10_000,
    idleTimeoutMs: 10_000,
    retry: { budgetMs: 10_000, maxAttempts: 1, baseDelayMs: 5, maxDelayMs: 20 },
  });
}

const request = (directives: string): UpstreamRequest => ({
  model: 'claude-haiku-4-5',
  max_tokens: 4096,
  messages: [{ role: 'user', content: `batches [[sim ${directives}]]` }],
});

async function collect<T>(it: AsyncIterable<T>): Promise<{ items: T[]; error: unknown }> {
  const items: T[] = [];
  try {
    for await (const item of it) items.push(item);
  } catch (error) {
    return { items, error };
  }
  return { items, error: undefined };
}

const shape = (e: UpstreamEvent) => e.type;

describe('AnthropicUpstream.batches', () => {
  it("holds stream()'s events in order, grouped per read and never empty", async () => {
    const up = adapter();
    try {
      const signal = new AbortController().signal;
      const batched = await collect(up.batches(request('tokens=300'), signal));
      const single = await collect(up.stream(request('tokens=300'), signal));
      expect(batched.error).toBeUndefined();
      for (const batch of batched.items) expect(batch.length).toBeGreaterThan(0);
      const flat = batched.items.flat();
      expect(flat.filter((e) => e.type === 'text')).toHaveLength(300);
      expect(flat.at(-1)?.type).toBe('done');
      expect(flat.map(shape)).toEqual(single.items.map(shape));
      // Unpaced, a read carries many events: fewer async steps than events.
      expect(batched.items.length).toBeLessThan(flat.length);
    } finally {
      up.close();
    }
  });

  it('delivers the events read before a mid-stream error event, then fails as stream() does', async () => {
    const up = adapter();
    try {
      const { items, error } = await collect(
        up.batches(request('error_after=5'), new AbortController().signal),
      );
      expect(items.flat().filter((e) => e.type === 'text')).toHaveLength(5);
      expect(error).toBeInstanceOf(RelayError);
      expect((error as RelayError).code).toBe('upstream_overloaded');
    } finally {
      up.close();
    }
  });
});

describe('a stream with an upstream that offers batches', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('takes every event from the batches and nothing after its terminal event', async () => {
    const text = (n: number): UpstreamEvent => ({ type: 'text', index: 0, text: `t${n} ` });
    const upstream: Upstream = {
      stream() {
        throw new Error('stream() must not be used when batches() exists');
      },
      async *batches() {
        yield [{ type: 'usage', usage: { input_tokens: 3, output_tokens: 1 } }, text(1), text(2)];
        yield [text(3)];
        // `done` mid-batch: what follows it is never logged.
        yield [text(4), { type: 'done', stop_reason: 'end_turn' }, text(5)];
        yield [text(6)];
      },
    };
    const registry = new StreamRegistry({
      upstream,
      config: CONTRACT_CONFIG,
      store: new MemoryStreamStore({
        retentionMs: 5000,
        cursor: { maxLagEvents: 1000, batch: CONTRACT_CONFIG.cursorBatch },
      }),
    });
    close = () => registry.shutdown(1000);
    const created = await registry.create({ message: 'x' }, { owner: 'alice' });
    const handle = await registry.open(created.id, 'alice');
    const sink = new CollectSink();
    handle.attach(sink, 0);
    await sink.finished;
    expect(sink.events.map((e) => (e.type === 'text' ? e.text : e.type))).toEqual([
      'start',
      't1 ',
      't2 ',
      't3 ',
      't4 ',
      'done',
    ]);
    expect(sink.seqs).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
