import { describe, expect, it } from 'vitest';
import { RelayError } from '../src/core/errors.js';
import {
  Cursor,
  type CursorOutcome,
  type CursorSink,
  type LogEntry,
  StreamLog,
} from '../src/core/stream-log.js';

const usage = { input_tokens: 1, output_tokens: 1, estimated: false };

function text(i: number) {
  return { type: 'text' as const, text: `t${i}`, index: 0 };
}

/** A sink with a switchable full buffer, recording what it was given. */
class MemorySink implements CursorSink {
  batches: LogEntry[][] = [];
  ended: CursorOutcome | undefined;
  full = false;
  /** Set by a refused write (as a socket's writableNeedDrain is), cleared by release. */
  needDrain = false;
  private drain: (() => void) | undefined;
  ready(): boolean {
    return !this.needDrain;
  }
  write(entries: readonly LogEntry[]): boolean {
    this.batches.push([...entries]);
    if (this.full) this.needDrain = true;
    return !this.full;
  }
  waitDrain(onDrain: () => void): () => void {
    this.drain = onDrain;
    return () => {
      this.drain = undefined;
    };
  }
  end(outcome: CursorOutcome): void {
    this.ended = outcome;
  }
  release(): void {
    this.full = false;
    this.needDrain = false;
    const drain = this.drain;
    this.drain = undefined;
    drain?.();
  }
  get seqs(): number[] {
    return this.batches.flat().map((e) => e.seq);
  }
  get waiting(): boolean {
    return this.drain !== undefined;
  }
}

/** No practical bound: the tests that are not about batch size. */
const BIG = { maxEvents: 1_000_000, maxBytes: 1 << 30 };

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('StreamLog', () => {
  it('numbers events from 1 and serialises each once with its seq', () => {
    const log = new StreamLog({ maxEvents: 100, maxBytes: 1 << 20 });
    const a = log.append(text(1))!;
    const b = log.append(text(2))!;
    expect([a.seq, b.seq]).toEqual([1, 2]);
    expect(JSON.parse(b.json)).toEqual({ type: 'text', text: 't2', index: 0, seq: 2 });
    expect(log.lastSeq).toBe(2);
  });

  it('accepts exactly one terminal event and ignores everything after it', () => {
    const log = new StreamLog({ maxEvents: 100, maxBytes: 1 << 20 });
    log.append(text(1));
    expect(log.append({ type: 'done', stop_reason: 'end_turn', usage })).toBeDefined();
    expect(log.append({ type: 'cancelled', reason: 'client', usage })).toBeUndefined();
    expect(log.append(text(2))).toBeUndefined();
    expect(log.terminal?.event.type).toBe('done');
    expect(log.lastSeq).toBe(2);
  });

  it('replays after any seq and reports a gap once the bound dropped events', () => {
    const log = new StreamLog({ maxEvents: 5, maxBytes: 1 << 20 });
    for (let i = 1; i <= 8; i++) log.append(text(i));
    expect(log.firstSeq).toBe(4);
    expect(log.readAfter(5).map((e) => e.seq)).toEqual([6, 7, 8]);
    expect(log.readAfter(3).map((e) => e.seq)).toEqual([4, 5, 6, 7, 8]);
    expect(log.readAfter(8)).toEqual([]);
    expect(() => log.readAfter(1)).toThrow(RelayError);
    try {
      log.readAfter(1);
    } catch (err) {
      expect((err as RelayError).code).toBe('replay_unavailable');
    }
  });

  it('bounds the bytes it holds but always keeps the newest event', () => {
    const log = new StreamLog({ maxEvents: 1000, maxBytes: 1024 });
    for (let i = 0; i < 100; i++) log.append({ type: 'text', text: 'x'.repeat(100), index: 0 });
    expect(log.size.bytes).toBeLessThanOrEqual(1024);
    log.append({ type: 'text', text: 'y'.repeat(5000), index: 0 });
    expect(log.size.events).toBe(1);
    expect(log.readAfter(log.lastSeq - 1)).toHaveLength(1);
  });

  it('tells its trim listener once, right before the first drop, with the newest event in and the start still held', () => {
    const log = new StreamLog({ maxEvents: 3, maxBytes: 1 << 20 });
    const seen: { last: number; held: number[] }[] = [];
    log.beforeTrim(() => seen.push({ last: log.lastSeq, held: log.readAfter(0).map((e) => e.seq) }));
    for (let i = 1; i <= 3; i++) log.append(text(i));
    expect(seen).toEqual([]);
    log.append(text(4));
    expect(seen).toEqual([{ last: 4, held: [1, 2, 3, 4] }]);
    expect(log.firstSeq).toBe(2);
    for (let i = 5; i <= 9; i++) log.append(text(i));
    log.append({ type: 'done', stop_reason: 'end_turn', usage });
    expect(seen).toHaveLength(1);
  });
});

describe('Cursor', () => {
  it('replays what is logged at once and batches live appends of one tick into one write', async () => {
    const log = new StreamLog({ maxEvents: 100, maxBytes: 1 << 20 });
    log.append(text(1));
    log.append(text(2));
    const sink = new MemorySink();
    const cursor = new Cursor(log, sink, 0, { maxLagEvents: 100, batch: BIG });
    cursor.start();
    expect(sink.batches.map((b) => b.length)).toEqual([2]);
    log.append(text(3));
    log.append(text(4));
    log.append(text(5));
    await tick();
    expect(sink.batches.map((b) => b.length)).toEqual([2, 3]);
    expect(sink.seqs).toEqual([1, 2, 3, 4, 5]);
    cursor.detach();
    expect(log.listenerCount).toBe(0);
  });

  it('starts after the given seq and ends the sink after writing the terminal event', async () => {
    const log = new StreamLog({ maxEvents: 100, maxBytes: 1 << 20 });
    for (let i = 1; i <= 4; i++) log.append(text(i));
    const sink = new MemorySink();
    const closed: string[] = [];
    const cursor = new Cursor(log, sink, 2, {
      maxLagEvents: 100,
      batch: BIG,
      onClose: (_c, o) => closed.push(o.kind),
    });
    cursor.start();
    log.append({ type: 'done', stop_reason: 'end_turn', usage });
    await tick();
    expect(sink.seqs).toEqual([3, 4, 5]);
    expect(sink.ended).toEqual({ kind: 'terminal' });
    expect(closed).toEqual(['terminal']);
    expect(cursor.isClosed).toBe(true);
    expect(log.listenerCount).toBe(0);
  });

  it('waits for drain instead of writing into a full socket, then writes everything missed in one batch', async () => {
    const log = new StreamLog({ maxEvents: 100, maxBytes: 1 << 20 });
    const sink = new MemorySink();
    sink.full = true;
    const cursor = new Cursor(log, sink, 0, { maxLagEvents: 100, batch: BIG });
    cursor.start();
    log.append(text(1));
    await tick();
    expect(sink.waiting).toBe(true);
    for (let i = 2; i <= 6; i++) log.append(text(i));
    await tick();
    expect(sink.batches).toHaveLength(1);
    sink.release();
    expect(sink.batches.map((b) => b.map((e) => e.seq))).toEqual([[1], [2, 3, 4, 5, 6]]);
    cursor.detach();
  });

  it('cuts a blocked cursor that falls more than maxLagEvents behind with slow_consumer', async () => {
    const log = new StreamLog({ maxEvents: 1000, maxBytes: 1 << 20 });
    const sink = new MemorySink();
    sink.full = true;
    const cursor = new Cursor(log, sink, 0, { maxLagEvents: 3, batch: BIG });
    cursor.start();
    log.append(text(1));
    await tick();
    for (let i = 2; i <= 5; i++) log.append(text(i));
    expect(sink.ended).toMatchObject({ kind: 'cut' });
    expect((sink.ended as { error: RelayError }).error.code).toBe('slow_consumer');
    expect(cursor.isClosed).toBe(true);
    expect(log.listenerCount).toBe(0);
    expect(sink.waiting).toBe(false);
  });

  it('writes a replay in bounded batches (events and bytes), the next on the next turn while the sink accepts', async () => {
    const log = new StreamLog({ maxEvents: 1000, maxBytes: 1 << 20 });
    for (let i = 1; i <= 25; i++) log.append(text(i));
    const sink = new MemorySink();
    const cursor = new Cursor(log, sink, 0, {
      maxLagEvents: 100,
      batch: { maxEvents: 10, maxBytes: 1 << 20 },
    });
    cursor.start();
    expect(sink.batches.map((b) => b.length)).toEqual([10]);
    await tick();
    await tick();
    expect(sink.batches.map((b) => b.length)).toEqual([10, 10, 5]);
    expect(sink.seqs).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));

    // Bytes: each entry is ~50 JSON characters, so 120 bytes hold two; one oversized entry goes alone.
    log.append({ type: 'text', text: 'x'.repeat(500), index: 0 });
    const bytes = new MemorySink();
    const small = new Cursor(log, bytes, 20, { maxLagEvents: 100, batch: { maxEvents: 100, maxBytes: 120 } });
    small.start();
    for (let i = 0; i < 5; i++) await tick();
    expect(bytes.batches.map((b) => b.length)).toEqual([2, 2, 1, 1]);
    expect(bytes.seqs).toEqual([21, 22, 23, 24, 25, 26]);
    cursor.detach();
    small.detach();
  });

  it('takes turns between replay backlogs: one batch per cursor per turn, each cursor in the order it asked', async () => {
    const order: string[] = [];
    const cursors = ['a', 'b', 'c'].map((name) => {
      const log = new StreamLog({ maxEvents: 1000, maxBytes: 1 << 20 });
      for (let i = 1; i <= 6; i++) log.append(text(i));
      const sink = new MemorySink();
      const write = sink.write.bind(sink);
      sink.write = (entries) => {
        order.push(`${name}${entries[0]!.seq}`);
        return write(entries);
      };
      return {
        log,
        sink,
        cursor: new Cursor(log, sink, 0, { maxLagEvents: 100, batch: { maxEvents: 2, maxBytes: 1 << 20 } }),
      };
    });
    for (const c of cursors) c.cursor.start();
    expect(order).toEqual(['a1', 'b1', 'c1']);
    await tick();
    expect(order).toEqual(['a1', 'b1', 'c1', 'a3', 'b3', 'c3']);
    await tick();
    expect(order.slice(6)).toEqual(['a5', 'b5', 'c5']);
    await tick();
    expect(order).toHaveLength(9);
    // Live: appends to every log in one turn are one write per cursor on the next, in append order.
    cursors[2]!.log.append(text(7));
    cursors[0]!.log.append(text(7));
    cursors[0]!.log.append(text(8));
    expect(order).toHaveLength(9);
    await tick();
    expect(order.slice(9)).toEqual(['c7', 'a7']);
    expect(cursors[0]!.sink.batches.at(-1)!.map((e) => e.seq)).toEqual([7, 8]);
  });

  it('writes the first content as soon as the appending callback returns (with what came with it), later content once per turn', async () => {
    const log = new StreamLog({ maxEvents: 1000, maxBytes: 1 << 20 });
    log.append({ type: 'start', stream_id: 's', model: 'm' });
    const sink = new MemorySink();
    const cursor = new Cursor(log, sink, 0, { maxLagEvents: 100, batch: BIG });
    cursor.start();
    expect(sink.seqs).toEqual([1]);
    // Another macrotask's work queued before the token arrives: the shared per-turn flush would
    // run after it (a burst's other new requests); the first token must not wait for it.
    let otherRan = false;
    setImmediate(() => {
      otherRan = true;
    });
    log.append(text(1));
    log.append(text(2));
    expect(sink.batches).toHaveLength(1); // nothing written inside the appending callback itself
    await Promise.resolve();
    expect(otherRan).toBe(false);
    expect(sink.batches.map((b) => b.map((e) => e.seq))).toEqual([[1], [2, 3]]);
    // Past the first content, appends are batched per turn as before.
    log.append(text(3));
    log.append(text(4));
    await Promise.resolve();
    expect(sink.batches).toHaveLength(2);
    await tick();
    expect(sink.batches.map((b) => b.map((e) => e.seq))).toEqual([[1], [2, 3], [4, 5]]);
    cursor.detach();
  });

  it('a cursor detached while its flush is queued writes nothing more', async () => {
    const log = new StreamLog({ maxEvents: 1000, maxBytes: 1 << 20 });
    const sink = new MemorySink();
    const cursor = new Cursor(log, sink, 0, { maxLagEvents: 100, batch: BIG });
    cursor.start();
    log.append(text(1));
    cursor.detach();
    await tick();
    expect(sink.batches).toEqual([]);
    expect(log.listenerCount).toBe(0);
  });

  it('writes the next batch of a replay only after drain, and nothing at all into a sink that is not ready', async () => {
    const log = new StreamLog({ maxEvents: 1000, maxBytes: 1 << 20 });
    for (let i = 1; i <= 30; i++) log.append(text(i));
    const sink = new MemorySink();
    sink.full = true;
    const cursor = new Cursor(log, sink, 0, {
      maxLagEvents: 100,
      batch: { maxEvents: 10, maxBytes: 1 << 20 },
    });
    cursor.start();
    await tick();
    expect(sink.batches.map((b) => b.length)).toEqual([10]);
    expect(sink.waiting).toBe(true);

    // A second cursor on the same (full) socket: it waits for the drain instead of queueing its replay.
    const second = new MemorySink();
    second.needDrain = true;
    const late = new Cursor(log, second, 0, {
      maxLagEvents: 100,
      batch: { maxEvents: 10, maxBytes: 1 << 20 },
    });
    late.start();
    await tick();
    expect(second.batches).toHaveLength(0);
    expect(second.waiting).toBe(true);

    sink.release();
    second.release();
    await tick();
    await tick();
    expect(sink.seqs).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(second.batches.map((b) => b.length)).toEqual([10, 10, 10]);
    cursor.detach();
    late.detach();
  });

  it('does not count a replay backlog as lag: only events appended after the cursor started', async () => {
    const log = new StreamLog({ maxEvents: 1000, maxBytes: 1 << 20 });
    for (let i = 1; i <= 50; i++) log.append(text(i));
    const sink = new MemorySink();
    sink.full = true;
    const cursor = new Cursor(log, sink, 0, { maxLagEvents: 3, batch: { maxEvents: 10, maxBytes: 1 << 20 } });
    cursor.start();
    // 40 replayed events unwritten, plus 3 new ones: within the lag bound.
    for (let i = 51; i <= 53; i++) log.append(text(i));
    expect(sink.ended).toBeUndefined();
    log.append(text(54));
    expect((sink.ended as { error: RelayError } | undefined)?.error.code).toBe('slow_consumer');
    expect(cursor.isClosed).toBe(true);
  });

  it('tells a fresh cursor replay_unavailable when its start was dropped from the log', () => {
    const log = new StreamLog({ maxEvents: 3, maxBytes: 1 << 20 });
    for (let i = 1; i <= 6; i++) log.append(text(i));
    const sink = new MemorySink();
    new Cursor(log, sink, 1, { maxLagEvents: 100, batch: BIG }).start();
    expect((sink.ended as { error: RelayError }).error.code).toBe('replay_unavailable');
    expect(sink.batches).toHaveLength(0);
  });
});

describe('StreamLog.resumeFrom', () => {
  it('tells a transport whether to follow, that nothing is left, or why it cannot resume', () => {
    const log = new StreamLog({ maxEvents: 3, maxBytes: 1 << 20 });
    for (let i = 1; i <= 5; i++) log.append(text(i));
    expect(log.resumeFrom(4)).toBe(true);
    expect(log.resumeFrom(5)).toBe(true);
    expect(() => log.resumeFrom(6)).toThrow(/beyond this stream's last seq 5/);
    expect(() => log.resumeFrom(1)).toThrow(/no longer held/);
    log.append({ type: 'done', stop_reason: 'end_turn', usage });
    expect(log.resumeFrom(6)).toBe(false);
    expect(log.resumeFrom(5)).toBe(true);
  });
});

describe('reader hooks (what cursors tell the metrics)', () => {
  /** A ReaderTag that records every call. */
  function recorder() {
    const calls: unknown[][] = [];
    const tag = {
      transport: 'sse',
      hooks: {
        attached: (...a: unknown[]) => calls.push(['attached', ...a]),
        firstContent: (t: string, ms: number) => calls.push(['firstContent', t, ms >= 0]),
        cut: (...a: unknown[]) => calls.push(['cut', ...a]),
      },
    };
    return { calls, tag };
  }
  const start = { type: 'start' as const, stream_id: 's', model: 'm' };

  it('a reader following before the first token reports it once, with its transport', async () => {
    const log = new StreamLog({ maxEvents: 100, maxBytes: 1 << 20 });
    log.append(start);
    const { calls, tag } = recorder();
    const sink = new MemorySink();
    new Cursor(log, sink, 0, { maxLagEvents: 100, batch: BIG, reader: tag }).start();
    for (let i = 0; i < 3; i++) {
      log.append(text(i));
      await tick();
    }
    log.append({ type: 'done', stop_reason: 'end_turn', usage });
    await tick();
    expect(calls).toEqual([
      ['attached', 'sse', 0, 1],
      ['firstContent', 'sse', true],
    ]);
  });

  it('a reader that comes after the first token (a resume, a late reader) reports its replay, no first token', async () => {
    const log = new StreamLog({ maxEvents: 100, maxBytes: 1 << 20 });
    log.append(start);
    for (let i = 0; i < 4; i++) log.append(text(i));
    const { calls, tag } = recorder();
    new Cursor(log, new MemorySink(), 2, { maxLagEvents: 100, batch: BIG, reader: tag }).start();
    log.append(text(9));
    await tick();
    expect(calls).toEqual([['attached', 'sse', 2, 3]]);
  });

  it('a reader cut for lagging reports slow_consumer once', async () => {
    const log = new StreamLog({ maxEvents: 100, maxBytes: 1 << 20 });
    log.append(start);
    const { calls, tag } = recorder();
    const sink = new MemorySink();
    sink.full = true;
    new Cursor(log, sink, 0, { maxLagEvents: 2, batch: BIG, reader: tag }).start();
    for (let i = 0; i < 6; i++) log.append(text(i));
    await tick();
    expect(sink.ended).toMatchObject({ kind: 'cut' });
    expect(calls.filter((c) => c[0] === 'cut')).toEqual([['cut', 'sse', 'slow_consumer']]);
  });
});
