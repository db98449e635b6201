import { describe, expect, it, vi } from 'vitest';
import { MemoryConversationStore } from '../src/core/memory-conversation-store.js';
import { conversation, describeConversationStore } from './conversation-store.contract.js';

describeConversationStore('memory', async ({ ttlMs }) => {
  let now = 1_700_000_000_000;
  const store = new MemoryConversationStore({ ttlMs, sweepIntervalMs: 0, now: () => now });
  return {
    store,
    now: () => now,
    advance: async (ms) => {
      now += ms;
    },
  };
});

describe('MemoryConversationStore', () => {
  it('sweeps expired conversations with one timer, and close() releases it', async () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const store = new MemoryConversationStore({ ttlMs: 1000, sweepIntervalMs: 500 });
      await store.save(conversation('a', Date.now()), undefined, { capacity: 10 });
      expect(vi.getTimerCount()).toBe(1);
      vi.advanceTimersByTime(1500);
      // The sweep dropped it without anybody reading it.
      expect(store.size).toBe(0);
      await store.close();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
