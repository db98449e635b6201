/**
 * Events pushed per upstream body chunk (Upstream.push): the SDK adapter's pushes hold exactly
 * `stream()`'s events, never an empty group; a sink that stops or throws closes the upstream
 * request at once; a stream takes pushed events and nothing after its terminal event; and
 * `stream()` over a push lets go of the upstream when its consumer leaves early.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RelayError } from '../src/core/errors.js';
import { MemoryStreamStore } from '../src/core/memory-stream-store.js';
import type { UpstreamRequest } from '../src/core/request.js';
import { StreamRegistry } from '../src/core/streams.js';
import { pulledFrom, type Upstream, type UpstreamEvent, type UpstreamSink } from '../src/core/upstream.js';
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
    apiKey: 'sk-ant-api03-push-test',
    baseURL: sim.url,
    firstTokenTimeoutMs: 10_000,
    idleTimeoutMs: 10_000,
    retry: { budgetMs: 10_000, maxAttempts: 1, baseDelayMs: 5, maxDelayMs: 20 },
  });
}

let marker = 0;
const request = (directives: string): UpstreamRequest => ({
  model: 'claude-haiku-4-5',
  max_tokens: 4096,
  messages: [{ role: 'user', content: `push ${++marker} [[sim ${directives}]]` }],
});
const promptOf = (req: UpstreamRequest): string => (req.messages[0] as { content: string }).content;

async function collect<T>(it: AsyncIterable<T>): Promise<{ items: T[]; error: unknown }> {
  const items: T[] = [];
  try {
    for await (const item of it) items.push(item);
  } catch (error) {
    return { items, error };
  }
  return { items, error: undefined };
}

async function pushed(
  up: AnthropicUpstream,
  req: UpstreamRequest,
  sink?: UpstreamSink,
): Promise<{ batches: UpstreamEvent[][]; error: unknown }> {
  const batches: UpstreamEvent[][] = [];
  try {
    await up.push(req, new AbortController().signal, (events) => {
      batches.push([...events]);
      return sink === undefined ? true : sink(events);
    });
  } catch (error) {
    return { batches, error };
  }
  return { batches, error: undefined };
}

const shape = (e: UpstreamEvent) => e.type;

describe('AnthropicUpstream.push', () => {
  it("holds stream()'s events in order, grouped per body chunk and never empty", async () => {
    const up = adapter();
    try {
      const { batches, error } = await pushed(up, request('tokens=300'));
      const single = await collect(up.stream(request('tokens=300'), new AbortController().signal));
      expect(error).toBeUndefined();
      expect(single.error).toBeUndefined();
      for (const batch of batches) expect(batch.length).toBeGreaterThan(0);
      const flat = batches.flat();
      expect(flat.filter((e) => e.type === 'text')).toHaveLength(300);
      expect(flat.at(-1)?.type).toBe('done');
      expect(flat.map(shape)).toEqual(single.items.map(shape));
      // No event is split from or merged with another chunk's: at most one sink call per event.
      expect(batches.length).toBeLessThanOrEqual(flat.length);
    } finally {
      up.close();
    }
  });

  it('delivers the events read before a mid-stream error event, then fails as stream() does', async () => {
    const up = adapter();
    try {
      const { batches, error } = await pushed(up, request('error_after=5'));
      expect(batches.flat().filter((e) => e.type === 'text')).toHaveLength(5);
      expect(error).toBeInstanceOf(RelayError);
      expect((error as RelayError).code).toBe('upstream_overloaded');
      const single = await collect(up.stream(request('error_after=5'), new AbortController().signal));
      expect((single.error as RelayError).code).toBe('upstream_overloaded');
    } finally {
      up.close();
    }
  });

  it('a sink that wants no more stops the read and closes the upstream request at once', async () => {
    const up = adapter();
    try {
      // Paced, so the upstream is still writing when the sink stops it.
      const req = request('tokens=500 tps=200');
      let texts = 0;
      const { error } = await pushed(up, req, (events) => {
        texts += events.filter((e) => e.type === 'text').length;
        return texts < 3;
      });
      expect(error).toBeUndefined();
      const record = await sim.records.waitFor((r) => r.prompt === promptOf(req));
      const ended = await sim.records.waitForEnd(record.id, 5000);
      expect(ended.outcome).toBe('client_closed');
      expect(ended.tokensSent).toBeLessThan(500);
    } finally {
      up.close();
    }
  });

  it('what a sink throws rejects push unchanged (a bug, not an upstream failure) and closes the request', async () => {
    const up = adapter();
    const bug = new TypeError('sink bug');
    try {
      const req = request('tokens=500 tps=200');
      const { error } = await pushed(up, req, (events) => {
        if (events.some((e) => e.type === 'text')) throw bug;
        return true;
      });
      expect(error).toBe(bug);
      const record = await sim.records.waitFor((r) => r.prompt === promptOf(req));
      expect((await sim.records.waitForEnd(record.id, 5000)).outcome).toBe('client_closed');
    } finally {
      up.close();
    }
  });

  it('stream() over push: a consumer that leaves early closes the upstream request without waiting for a read', async () => {
    const up = adapter();
    try {
      // One token, then a long pause: the request must close when the consumer leaves, not later.
      const req = request('tokens=2 tps=0.2');
      for await (const event of up.stream(req, new AbortController().signal)) {
        if (event.type === 'text') break;
      }
      const record = await sim.records.waitFor((r) => r.prompt === promptOf(req));
      const ended = await sim.records.waitForEnd(record.id, 2000);
      expect(ended.outcome).toBe('client_closed');
      expect(ended.tokensSent).toBe(1);
    } finally {
      up.close();
    }
  });
});

describe('pulledFrom', () => {
  it('rethrows what the producer threw after the events it pushed', async () => {
    const boom = new Error('producer failed');
    const text: UpstreamEvent = { type: 'text', index: 0, text: 'a' };
    const { items, error } = await collect(
      pulledFrom(async (_signal, sink) => {
        sink([text, text]);
        throw boom;
      }, new AbortController().signal),
    );
    expect(items).toHaveLength(2);
    expect(error).toBe(boom);
  });

  it("aborts the producer's signal when the outer signal aborts, and removes its listener after", async () => {
    const outer = new AbortController();
    let producerSignal: AbortSignal | undefined;
    const iteration = collect(
      pulledFrom(
        (signal) =>
          new Promise<void>((resolve) => {
            producerSignal = signal;
            signal.addEventListener('abort', () => resolve(), { once: true });
          }),
        outer.signal,
      ),
    );
    await new Promise((r) => setTimeout(r, 10));
    outer.abort();
    const { items, error } = await iteration;
    expect(items).toEqual([]);
    expect(error).toBeUndefined();
    expect(producerSignal?.aborted).toBe(true);
  });
});

describe('a stream with an upstream that pushes', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  /** One stream over `upstream` in a fresh registry, read to its end. */
  async function readThrough(upstream: Upstream): Promise<CollectSink> {
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
    return sink;
  }

  it('takes every pushed event and nothing after its terminal event, and tells the upstream to stop', async () => {
    const text = (n: number): UpstreamEvent => ({ type: 'text', index: 0, text: `t${n} ` });
    const answers: boolean[] = [];
    const upstream: Upstream = {
      stream() {
        throw new Error('stream() must not be used when push() exists');
      },
      async push(_req, _signal, sink) {
        answers.push(
          sink([{ type: 'usage', usage: { input_tokens: 3, output_tokens: 1 } }, text(1), text(2)]),
        );
        await new Promise((r) => setImmediate(r));
        answers.push(sink([text(3)]));
        // `done` mid-batch: what follows it is never logged, and the sink says stop.
        answers.push(sink([text(4), { type: 'done', stop_reason: 'end_turn' }, text(5)]));
      },
    };
    const sink = await readThrough(upstream);
    expect(sink.events.map((e) => (e.type === 'text' ? e.text : e.type))).toEqual([
      'start',
      't1 ',
      't2 ',
      't3 ',
      't4 ',
      'done',
    ]);
    expect(sink.seqs).toEqual([1, 2, 3, 4, 5, 6]);
    expect(answers).toEqual([true, true, false]);
  });

  it('a push that throws a non-relay error ends the stream with internal_error', async () => {
    const upstream: Upstream = {
      stream() {
        throw new Error('unused');
      },
      async push(_req, _signal, sink) {
        sink([{ type: 'text', index: 0, text: 'a' }]);
        throw new TypeError('adapter bug');
      },
    };
    const sink = await readThrough(upstream);
    const last = sink.events.at(-1);
    expect(last?.type).toBe('error');
    expect(last?.type === 'error' ? last.code : undefined).toBe('internal_error');
  });
});
