/**
 * What a finished stream holds while it stays resumable: its log packed into one string (entries
 * read back exactly as they were appended, batch limits and eviction bounds kept), and no
 * reference to its generation. Heap figures come after a forced full GC (`gc` exposed for this
 * file only); the bounds are ratios with room for noise, not timings.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RelayError } from '../src/core/errors.js';
import type { RelayEventBody } from '../src/core/events.js';
import { MemoryStreamStore } from '../src/core/memory-stream-store.js';
import { type LogEntry, StreamLog } from '../src/core/stream-log.js';
import { StreamRegistry } from '../src/core/streams.js';
import { fullGc, heapAfterGc } from './helpers/heap.js';
import { ScriptedUpstream, textScript } from './helpers/scripted-upstream.js';
import { CONTRACT_CONFIG, CollectSink, until } from './stream-store.contract.js';

const LIMITS = { maxEvents: 10_000, maxBytes: 1 << 24 };

/** A log of `tokens` text events between start and done, as a generation writes one. */
function finishedLog(tokens: number, limits = LIMITS, text = (i: number) => `${i}@${1e15 + i} `): StreamLog {
  const log = new StreamLog(limits);
  log.append({ type: 'start', stream_id: 'st_x', model: 'm' });
  for (let i = 1; i <= tokens; i++) log.append({ type: 'text', index: 0, text: text(i) });
  log.append({
    type: 'done',
    stop_reason: 'end_turn',
    usage: { input_tokens: 1, output_tokens: tokens, estimated: false },
  } as RelayEventBody);
  return log;
}

const plain = (e: LogEntry) => ({ seq: e.seq, type: e.type ?? e.event.type, json: e.json, event: e.event });

describe('a finished log is packed', () => {
  it('reads back every entry exactly as appended: seq, type, JSON and event', () => {
    const live = new StreamLog(LIMITS);
    const appended: LogEntry[] = [];
    const bodies: RelayEventBody[] = [
      { type: 'start', stream_id: 'st_1', model: 'm' },
      { type: 'text', index: 0, text: 'héllo ✓ "quoted"\n' },
      { type: 'text', index: 0, text: '😀 \u2028' },
      {
        type: 'done',
        stop_reason: 'end_turn',
        usage: { input_tokens: 1, output_tokens: 2, estimated: false },
      },
    ] as RelayEventBody[];
    for (const body of bodies) {
      // A copy of each entry before the terminal event packs the log.
      const entry = live.append(body)!;
      appended.push({ ...entry });
    }
    const read = live.readAfter(0);
    expect(read.map(plain)).toEqual(appended.map(plain));
    // The terminal entry stays the one object every reader already compares against.
    expect(read.at(-1)).toBe(live.terminal);
    expect(live.size.events).toBe(4);
    expect(live.readAfter(2).map((e) => e.seq)).toEqual([3, 4]);
  });

  it('keeps batch limits: at most maxEvents and maxBytes per read, never less than one event', () => {
    const log = finishedLog(50);
    const first = log.readAfter(0, { maxEvents: 7, maxBytes: 1 << 20 });
    expect(first.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const oneJson = log.readAfter(10, { maxEvents: 100, maxBytes: 1 })!;
    expect(oneJson.map((e) => e.seq)).toEqual([11]);
    const bytes = log.readAfter(0, { maxEvents: 100, maxBytes: 200 });
    const total = bytes.reduce((n, e) => n + e.json.length, 0);
    expect(total).toBeLessThanOrEqual(200);
    expect(
      total + log.readAfter(bytes.length, { maxEvents: 1, maxBytes: 1 })[0]!.json.length,
    ).toBeGreaterThan(200);
    // Read batch by batch, the whole log comes back once and in order.
    const seqs: number[] = [];
    for (let after = 0; after < log.lastSeq; ) {
      const batch = log.readAfter(after, { maxEvents: 9, maxBytes: 300 });
      seqs.push(...batch.map((e) => e.seq));
      after = batch.at(-1)!.seq;
    }
    expect(seqs).toEqual(Array.from({ length: 52 }, (_, i) => i + 1));
  });

  it('keeps what the bounds evicted evicted: replay_unavailable before the oldest held seq', () => {
    const log = finishedLog(30, { maxEvents: 10, maxBytes: 1 << 20 });
    expect(log.firstSeq).toBe(23);
    expect(log.readAfter(22).map((e) => e.seq)).toEqual([23, 24, 25, 26, 27, 28, 29, 30, 31, 32]);
    expect(() => log.readAfter(5)).toThrow(RelayError);
    expect(() => log.resumeFrom(5)).toThrow(/no longer held/);
    expect(log.resumeFrom(32)).toBe(false);
  });

  it('holds at most 1.5× its events serialised as SSE (heap after GC, 300 finished 100-token logs)', () => {
    const n = 300;
    const keep: StreamLog[] = [];
    const before = heapAfterGc();
    let sseBytes = 0;
    for (let i = 0; i < n; i++) {
      const log = finishedLog(100);
      for (const e of log.readAfter(0))
        sseBytes += `id: ${e.seq}\nevent: ${e.type}\ndata: ${e.json}\n\n`.length;
      keep.push(log);
    }
    const held = heapAfterGc() - before;
    // Unpacked (an object per event, its text twice) this was about 4×.
    expect(held / sseBytes).toBeLessThan(1.5);
    expect(keep).toHaveLength(n);
  });
});

describe('a live log', () => {
  it('reads back every held entry exactly as appended: seq, type, JSON and event, in batches and after evictions', () => {
    const log = new StreamLog({ maxEvents: 40, maxBytes: 1 << 20 });
    const appended: ReturnType<typeof plain>[] = [];
    log.append({ type: 'start', stream_id: 'st_x', model: 'm' });
    for (let i = 1; i <= 100; i++) {
      const body = { type: 'text', index: i % 3, text: `tök ${i} "q"\n` } as RelayEventBody;
      appended.push(plain(log.append(body)!));
    }
    // The bound holds the newest 40: seqs 62..101 (the start event was seq 1).
    expect(log.firstSeq).toBe(62);
    expect(log.readAfter(61).map(plain)).toEqual(appended.slice(60).map((e) => ({ ...e })));
    const seqs: number[] = [];
    for (let after = 61; after < log.lastSeq; ) {
      const batch = log.readAfter(after, { maxEvents: 7, maxBytes: 200 });
      expect(batch.length).toBeGreaterThan(0);
      expect(batch.length).toBeLessThanOrEqual(7);
      seqs.push(...batch.map((e) => e.seq));
      after = batch.at(-1)!.seq;
    }
    expect(seqs).toEqual(Array.from({ length: 40 }, (_, i) => 62 + i));
    expect(() => log.readAfter(60)).toThrow(RelayError);
  });

  it('holds each event as its flat JSON alone: heap after GC under 2.4x the JSON (an object per event was 5.7x, an unflattened JSON 2.7x on Node 20)', () => {
    const logs: StreamLog[] = [];
    const before = heapAfterGc();
    let jsonChars = 0;
    for (let l = 0; l < 40; l++) {
      const log = new StreamLog(LIMITS);
      // Fresh event objects and texts, as a generation appends them.
      for (let i = 1; i <= 2000; i++) {
        const text = ` tok${(l * 2000 + i).toString(36)}`;
        jsonChars += log.append({ type: 'text', index: 0, text })!.json.length;
      }
      logs.push(log);
    }
    const held = heapAfterGc() - before;
    expect(held / jsonChars).toBeLessThan(2.4);
    expect(logs).toHaveLength(40);
  });
});

describe('a retained stream in the memory store', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('lets its generation go once it ended, and still replays, reports and cancels idempotently', async () => {
    const store = new MemoryStreamStore({
      retentionMs: 60_000,
      cursor: { maxLagEvents: 1000, batch: CONTRACT_CONFIG.cursorBatch },
    });
    const registry = new StreamRegistry({
      upstream: new ScriptedUpstream(() => textScript(20)),
      config: CONTRACT_CONFIG,
      store,
    });
    close = () => registry.shutdown(1000);
    const created = await registry.create({ message: 'x' }, { owner: 'alice' });
    // No strong reference from here: the WeakRef is made where the generation is looked up.
    const generation = ((): WeakRef<object> => {
      const generations = (registry as unknown as { generations: Map<string, { generation: object }> })
        .generations;
      const running = generations.get(created.id)?.generation;
      if (running === undefined) throw new Error('the generation is not in the registry');
      return new WeakRef(running);
    })();
    const handle = await registry.open(created.id, 'alice');
    const sink = new CollectSink();
    handle.attach(sink, 0);
    await sink.finished;
    await registry.settled(created.id);
    await until(
      () => {
        fullGc();
        return generation.deref() === undefined;
      },
      5000,
      'the finished generation to be collected',
    );
    const again = await registry.open(created.id, 'alice');
    const replay = new CollectSink();
    again.attach(replay, 5);
    await replay.finished;
    expect(replay.seqs).toEqual(Array.from({ length: 17 }, (_, i) => i + 6));
    expect(replay.events).toEqual(sink.events.slice(5));
    expect(await again.snapshot()).toMatchObject({
      state: 'done',
      last_seq: 22,
      usage: { estimated: false },
    });
    await again.cancel('client');
    expect(again.state).toBe('done');
  });
});
