/**
 * The contract every StreamStore keeps (src/core/stream-store.ts). Each implementation runs it:
 * `describeStreamStore('memory', factory)`. The factory gives two instances on one backend; a
 * store shared by several instances must let the second read, resume, cancel and keep alive what
 * the first generates. For the in-memory store both instances are the same store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RelayEvent } from '../src/core/events.js';
import type { CursorOutcome, CursorSink, LogEntry } from '../src/core/stream-log.js';
import type { StreamStore } from '../src/core/stream-store.js';
import { StreamRegistry, type StreamsConfig } from '../src/core/streams.js';
import { ScriptedUpstream, type ScriptStep, textScript } from './helpers/scripted-upstream.js';

export interface StoresUnderTest {
  /** Two instances on one backend (the same object twice for a store that is not shared). */
  readonly stores: readonly [StreamStore, StreamStore];
  /** Releases whatever the factory started (the stores themselves are closed by the suite). */
  close(): Promise<void>;
}

export type StreamStoreFactory = (config: StreamsConfig) => Promise<StoresUnderTest>;

export const CONTRACT_CONFIG: StreamsConfig = {
  defaultModel: 'claude-test',
  defaultMaxTokens: 64,
  log: { maxEvents: 1000, maxBytes: 1 << 20 },
  maxLagEvents: 1000,
  cursorBatch: { maxEvents: 1000, maxBytes: 1 << 20 },
  graceMs: 200,
  retentionMs: 5000,
  maxStreams: 100,
  maxStreamsPerAddress: 0,
  maxDurationMs: 0,
};

export class CollectSink implements CursorSink {
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
  get seqs(): number[] {
    return this.events.map((e) => e.seq);
  }
}

/** Polls `check` every 5 ms for at most `ms`; fails naming `what`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

export function describeStreamStore(name: string, factory: StreamStoreFactory): void {
  describe(`StreamStore contract: ${name}`, () => {
    let cleanup: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const step of cleanup.reverse()) await step();
      cleanup = [];
    });

    /** Two registries, one per instance, each with its own scripted upstream. */
    async function instances(script: () => ScriptStep[], config: Partial<StreamsConfig> = {}) {
      const full = { ...CONTRACT_CONFIG, ...config };
      const made = await factory(full);
      const [storeA, storeB] = made.stores;
      const upstream = new ScriptedUpstream(script);
      const a = new StreamRegistry({ upstream, config: full, store: storeA });
      const b =
        storeB === storeA
          ? a
          : new StreamRegistry({ upstream: new ScriptedUpstream(() => []), config: full, store: storeB });
      cleanup.push(async () => {
        await a.shutdown(1000);
        if (b !== a) await b.shutdown(1000);
        await made.close();
      });
      return { a, b, upstream };
    }

    it('a reader on the other instance gets every event from seq 1 exactly once, in order', async () => {
      const { a, b } = await instances(() => textScript(30));
      const created = await a.create({ message: 'x' }, { owner: 'alice' });
      const handle = await b.open(created.id, 'alice');
      const sink = new CollectSink();
      handle.attach(sink, 0);
      await sink.finished;
      expect(sink.seqs).toEqual(range(1, 32));
      expect(sink.events[0]).toMatchObject({ type: 'start', stream_id: created.id, model: 'claude-test' });
      expect(sink.events.at(-1)).toMatchObject({ type: 'done', usage: { estimated: false } });
      expect(handle.state).toBe('done');
      expect(handle.lastSeq).toBe(32);
      expect(handle.terminal).toMatchObject({ type: 'done' });
    });

    it('resumes from every point on either instance without loss or repeat', async () => {
      const { a, b } = await instances(() => textScript(12));
      const created = await a.create({ message: 'x' }, { owner: 'alice' });
      await a.settled(created.id);
      for (const registry of [a, b]) {
        const handle = await registry.open(created.id, 'alice');
        await until(() => handle.terminal !== undefined, 5000, 'the terminal event to arrive');
        for (let after = 0; after < 14; after++) {
          expect(await handle.resumeFrom(after)).toBe(true);
          const sink = new CollectSink();
          handle.attach(sink, after);
          await sink.finished;
          expect(sink.seqs).toEqual(range(after + 1, 14));
        }
        // Everything delivered: nothing left to send; past the end is a client error.
        expect(await handle.resumeFrom(14)).toBe(false);
        await expect(handle.resumeFrom(15)).rejects.toMatchObject({ code: 'invalid_request' });
      }
    });

    it('a client that read to the end on one instance resumes on the other at once', async () => {
      const { a, b } = await instances(() => textScript(5));
      const created = await a.create({ message: 'x' }, { owner: 'alice' });
      await a.settled(created.id);
      // No waiting for the other instance's copy: the client's Last-Event-ID is ahead of it.
      const handle = await b.open(created.id, 'alice');
      expect(await handle.resumeFrom(6)).toBe(true);
      const sink = new CollectSink();
      handle.attach(sink, 6);
      await sink.finished;
      expect(sink.seqs).toEqual([7]);
    });

    it('unknown ids and other owners’ streams are not found on every instance', async () => {
      const { a, b } = await instances(() => textScript(1));
      const created = await a.create({ message: 'x' }, { owner: 'alice' });
      for (const registry of [a, b]) {
        expect(await registry.find('str_AAAAAAAAAAAAAAAAAAAAAA', 'alice')).toBeUndefined();
        expect(await registry.find(created.id, 'mallory')).toBeUndefined();
        await expect(registry.open(created.id, 'mallory')).rejects.toMatchObject({ code: 'not_found' });
      }
    });

    it('cancel on the other instance aborts the upstream and answers the cancelled state', async () => {
      const { a, b, upstream } = await instances(() => [
        { type: 'usage', usage: { input_tokens: 9, output_tokens: 1 } },
        { type: 'text', text: 'abcdefgh', index: 0 },
        { hang: true },
      ]);
      const created = await a.create({ message: 'x' }, { owner: 'alice' });
      const reader = new CollectSink();
      created.attach(reader);
      await until(() => reader.events.some((e) => e.type === 'text'), 5000, 'the first text event');
      const remote = await b.open(created.id, 'alice');
      await remote.cancel('client');
      expect(remote.terminal).toMatchObject({ type: 'cancelled', reason: 'client' });
      expect(await remote.snapshot()).toMatchObject({
        state: 'cancelled',
        last_seq: 3,
        usage: { input_tokens: 9, output_tokens: 2, estimated: true },
      });
      await reader.finished;
      await a.settled(created.id);
      expect(upstream.calls[0]?.aborted).toBe(true);
      expect(reader.events.filter((e) => e.type === 'cancelled')).toHaveLength(1);
      // Idempotent: a second cancel changes nothing.
      await remote.cancel('client');
      expect((await remote.snapshot()).last_seq).toBe(3);
    });

    it('a running stream’s snapshot on either instance says running with usage so far', async () => {
      const { a, b } = await instances(() => [
        { type: 'usage', usage: { input_tokens: 5, output_tokens: 1 } },
        { type: 'text', text: 'abcd', index: 0 },
        { hang: true },
      ]);
      const created = await a.create({ message: 'x' }, { owner: 'alice' });
      const reader = new CollectSink();
      created.attach(reader);
      await until(() => reader.events.length >= 2, 5000, 'the text event');
      const remote = await b.open(created.id, 'alice');
      await until(async () => (await remote.snapshot()).last_seq === 2, 5000, 'the replica to catch up');
      expect(await remote.snapshot()).toMatchObject({
        stream_id: created.id,
        state: 'running',
        model: 'claude-test',
        usage: { input_tokens: 5, estimated: true },
      });
    });

    it('a reader on the other instance keeps a grace stream alive; it is cancelled when that reader leaves', async () => {
      const { a, b, upstream } = await instances(() => [{ hang: true }], { graceMs: 300 });
      const created = await a.create({ message: 'x' }, { owner: 'alice' });
      const remote = await b.open(created.id, 'alice');
      const sink = new CollectSink();
      const cursor = remote.attach(sink, 0);
      // Three grace periods with only the remote reader: the stream must still run.
      await new Promise((resolve) => setTimeout(resolve, 900));
      expect(created.state).toBe('running');
      expect(remote.state).toBe('running');
      cursor.detach();
      await until(() => created.terminal !== undefined, 5000, 'the grace period to run out');
      expect(created.terminal).toMatchObject({ type: 'cancelled', reason: 'disconnect' });
      await a.settled(created.id);
      expect(upstream.calls[0]?.aborted).toBe(true);
    });

    it('on_disconnect=abort cancels when the last reader, on the other instance, leaves', async () => {
      const { a, b } = await instances(() => [{ hang: true }], { graceMs: 60_000 });
      const created = await a.create({ message: 'x', on_disconnect: 'abort' }, { owner: 'alice' });
      const remote = await b.open(created.id, 'alice');
      const cursor = remote.attach(new CollectSink(), 0);
      await until(() => remote.lastSeq >= 1, 5000, 'the start event on the reader');
      cursor.detach();
      await until(() => created.terminal !== undefined, 5000, 'the disconnect cancel');
      expect(created.terminal).toMatchObject({ type: 'cancelled', reason: 'disconnect' });
    });

    it('a bounded log answers replay_unavailable for dropped events on every instance', async () => {
      const { a, b } = await instances(() => textScript(40), { log: { maxEvents: 10, maxBytes: 1 << 20 } });
      const created = await a.create({ message: 'x' }, { owner: 'alice' });
      await a.settled(created.id);
      for (const registry of [a, b]) {
        const handle = await registry.open(created.id, 'alice');
        await until(() => handle.terminal !== undefined, 5000, 'the terminal event');
        await expect(handle.resumeFrom(0)).rejects.toMatchObject({ code: 'replay_unavailable' });
        const sink = new CollectSink();
        handle.attach(sink, 38);
        await sink.finished;
        expect(sink.seqs).toEqual([39, 40, 41, 42]);
      }
    });

    it('forgets a finished stream after its retention period on every instance', async () => {
      const { a, b } = await instances(() => textScript(1), { retentionMs: 300 });
      const created = await a.create({ message: 'x' }, { owner: 'alice' });
      await a.settled(created.id);
      expect(await b.find(created.id, 'alice')).toBeDefined();
      await until(
        async () => (await a.find(created.id)) === undefined && (await b.find(created.id)) === undefined,
        5000,
        'the stream to expire',
      );
    });
  });
}
