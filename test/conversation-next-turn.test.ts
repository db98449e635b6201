/**
 * A client that has seen a reply's terminal event can send the next turn at once, on any
 * instance: the turn is kept before the terminal event is appended. Two registries (two instances)
 * share one conversation store whose writes take a while, as Redis's do; the next turn goes to
 * the other registry the moment `done` (or `cancelled`) is read.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type {
  ConversationStore,
  SaveOptions,
  SaveResult,
  StoredConversation,
} from '../src/core/conversation-store.js';
import { Conversations } from '../src/core/conversations.js';
import type { RelayEvent } from '../src/core/events.js';
import { MemoryConversationStore } from '../src/core/memory-conversation-store.js';
import type { CursorOutcome, CursorSink, LogEntry } from '../src/core/stream-log.js';
import { StreamRegistry, type StreamsConfig } from '../src/core/streams.js';
import { ScriptedUpstream, textScript } from './helpers/scripted-upstream.js';

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

/** The memory store with every write taking a few milliseconds (a network round trip). */
class SlowStore implements ConversationStore {
  readonly inner = new MemoryConversationStore({ ttlMs: 60_000, sweepIntervalMs: 0 });
  get(id: string): Promise<StoredConversation | undefined> {
    return this.inner.get(id);
  }
  async save(c: StoredConversation, expected: number | undefined, options: SaveOptions): Promise<SaveResult> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return this.inner.save(c, expected, options);
  }
  delete(id: string, expected?: number): Promise<boolean> {
    return this.inner.delete(id, expected);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Collects events; `terminal` resolves as soon as the terminal event is written. */
class Sink implements CursorSink {
  readonly events: RelayEvent[] = [];
  private resolve!: (event: RelayEvent) => void;
  readonly terminal = new Promise<RelayEvent>((resolve) => {
    this.resolve = resolve;
  });
  ready(): boolean {
    return true;
  }
  write(entries: readonly LogEntry[]): boolean {
    for (const e of entries) {
      this.events.push(e.event);
      if (e.event.type === 'done' || e.event.type === 'cancelled' || e.event.type === 'error')
        this.resolve(e.event);
    }
    return true;
  }
  waitDrain(): () => void {
    return () => {};
  }
  end(_outcome: CursorOutcome): void {}
}

const registries: StreamRegistry[] = [];
afterEach(async () => {
  for (const r of registries.splice(0)) await r.shutdown(1000);
});

/** Two instances: each its own registry and Conversations, one shared store. */
function twoInstances(script: () => ReturnType<typeof textScript>) {
  const store = new SlowStore();
  const limits = { maxConversations: 100, maxTurns: 200, pendingTimeoutMs: 60_000 };
  const make = () => {
    const r = new StreamRegistry({
      upstream: new ScriptedUpstream(script),
      config: CONFIG,
      conversations: new Conversations({ store, limits }),
    });
    registries.push(r);
    return r;
  };
  return { store, instances: [make(), make()] as const };
}

describe('the next turn right after the terminal event', () => {
  it('twenty turns, each sent on the other instance the moment done is read, never conflict', async () => {
    const { store, instances } = twoInstances(() => textScript(2));
    const id = 'conv-next-turn-0123456789abcdef';
    for (let turn = 0; turn < 20; turn++) {
      const registry = instances[turn % 2]!;
      // A conflict would throw here (409 on the wire).
      const stream = await registry.create({ message: `turn ${turn}`, conversation_id: id }, { owner: 'me' });
      const sink = new Sink();
      stream.attach(sink);
      expect((await sink.terminal).type).toBe('done');
    }
    const kept = await store.get(id);
    expect(kept?.messages).toHaveLength(40);
    expect(kept?.pending).toBeNull();
  });

  it('the turn is in the store before done is in the log', async () => {
    const { store, instances } = twoInstances(() => textScript(2));
    const id = 'conv-kept-first-0123456789abcdef';
    const stream = await instances[0].create({ message: 'hello', conversation_id: id }, { owner: 'me' });
    const sink = new Sink();
    stream.attach(sink);
    await sink.terminal;
    // Read synchronously with the terminal event, from the shared store itself.
    const kept = await store.inner.get(id);
    expect(kept?.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(kept?.pending).toBeNull();
  });

  it('after a cancel the next turn is taken at once too, with the partial reply kept', async () => {
    const { store, instances } = twoInstances(() => [
      { type: 'usage', usage: { input_tokens: 3, output_tokens: 1 } },
      { type: 'text', text: 'partial ', index: 0 },
      { hang: true },
    ]);
    const id = 'conv-after-cancel-0123456789abcd';
    const stream = await instances[0].create({ message: 'one', conversation_id: id }, { owner: 'me' });
    const sink = new Sink();
    stream.attach(sink);
    await expect.poll(() => sink.events.some((e) => e.type === 'text'), { timeout: 5000 }).toBe(true);
    // The cancel answers once the terminal event is in the log, i.e. after the turn was kept.
    await stream.cancel('client');
    expect(stream.state).toBe('cancelled');
    const next = await instances[1].create({ message: 'two', conversation_id: id }, { owner: 'me' });
    await next.cancel('client');
    const kept = await store.get(id);
    expect(kept?.messages[1]).toMatchObject({ role: 'assistant', partial: true });
  });
});
