/**
 * The contract every ConversationStore keeps (src/core/conversation-store.ts). Each implementation
 * runs it: `describeConversationStore('memory', factory)`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ConversationStore, StoredConversation } from '../src/core/conversation-store.js';

export interface StoreUnderTest {
  readonly store: ConversationStore;
  /** Lets `ms` of the store's clock pass (a fake clock, or real waiting for a remote store). */
  advance(ms: number): Promise<void>;
  /** The store's current time in epoch ms, for the `updatedAt` of records. */
  now(): number;
}

/** Builds a fresh, empty store whose conversations expire `ttlMs` after their last save. */
export type StoreFactory = (options: { ttlMs: number }) => Promise<StoreUnderTest>;

const BIG = { capacity: 1000 };

export function conversation(
  id: string,
  at: number,
  patch: Partial<StoredConversation> = {},
): StoredConversation {
  return {
    id,
    owner: 'anonymous',
    system: null,
    messages: [],
    createdAt: at,
    updatedAt: at,
    version: 1,
    pending: null,
    ...patch,
  };
}

export function describeConversationStore(name: string, factory: StoreFactory): void {
  describe(`ConversationStore contract: ${name}`, () => {
    let current: StoreUnderTest | undefined;
    const make = async (ttlMs = 60_000): Promise<StoreUnderTest> => {
      current = await factory({ ttlMs });
      return current;
    };
    afterEach(async () => {
      await current?.store.close();
      current = undefined;
    });

    it('answers undefined for an id it never saw', async () => {
      const { store } = await make();
      expect(await store.get('nope')).toBeUndefined();
    });

    it('saves a new conversation only when none exists, and reads it back equal', async () => {
      const t = await make();
      const c = conversation('c1', t.now(), {
        system: 'be brief',
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'hel', partial: true },
        ],
      });
      expect(await t.store.save(c, undefined, BIG)).toBe('saved');
      expect(await t.store.get('c1')).toEqual(c);
      expect(await t.store.save(c, undefined, BIG)).toBe('conflict');
    });

    it('writes only over the expected version (compare-and-set)', async () => {
      const t = await make();
      await t.store.save(conversation('c1', t.now()), undefined, BIG);
      const v2 = conversation('c1', t.now(), { version: 2, messages: [{ role: 'user', content: 'a' }] });
      expect(await t.store.save(v2, 7, BIG)).toBe('conflict');
      expect(await t.store.save(v2, 1, BIG)).toBe('saved');
      expect((await t.store.get('c1'))?.version).toBe(2);
      expect(await t.store.save(conversation('c1', t.now(), { version: 3 }), 1, BIG)).toBe('conflict');
    });

    it('lets exactly one of two racing writers win', async () => {
      const t = await make();
      await t.store.save(conversation('c1', t.now()), undefined, BIG);
      const results = await Promise.all([
        t.store.save(conversation('c1', t.now(), { version: 2, system: 'a' }), 1, BIG),
        t.store.save(conversation('c1', t.now(), { version: 2, system: 'b' }), 1, BIG),
      ]);
      expect(results.filter((r) => r === 'saved')).toHaveLength(1);
      expect(results.filter((r) => r === 'conflict')).toHaveLength(1);
    });

    it('refuses a new conversation beyond capacity but still updates existing ones', async () => {
      const t = await make();
      expect(await t.store.save(conversation('a', t.now()), undefined, { capacity: 2 })).toBe('saved');
      expect(await t.store.save(conversation('b', t.now()), undefined, { capacity: 2 })).toBe('saved');
      expect(await t.store.save(conversation('c', t.now()), undefined, { capacity: 2 })).toBe('full');
      expect(await t.store.save(conversation('a', t.now(), { version: 2 }), 1, { capacity: 2 })).toBe(
        'saved',
      );
      expect(await t.store.get('c')).toBeUndefined();
    });

    it('never shares objects with its callers', async () => {
      const t = await make();
      const message = { role: 'user' as const, content: 'original' };
      await t.store.save(conversation('c1', t.now(), { messages: [message] }), undefined, BIG);
      message.content = 'changed after save';
      const read = await t.store.get('c1');
      (read!.messages[0] as { content: string }).content = 'changed after get';
      expect((await t.store.get('c1'))?.messages[0]?.content).toBe('original');
    });

    it('forgets a conversation idle for its TTL, which then no longer counts toward capacity', async () => {
      const t = await make(1000);
      await t.store.save(conversation('old', t.now()), undefined, { capacity: 1 });
      await t.advance(600);
      expect(await t.store.get('old')).toBeDefined();
      await t.advance(600);
      expect(await t.store.get('old')).toBeUndefined();
      expect(await t.store.save(conversation('new', t.now()), undefined, { capacity: 1 })).toBe('saved');
    });

    it('counts the TTL from the last save, not from creation', async () => {
      const t = await make(1000);
      await t.store.save(conversation('c1', t.now()), undefined, BIG);
      await t.advance(700);
      await t.store.save(conversation('c1', t.now(), { version: 2 }), 1, BIG);
      await t.advance(700);
      expect((await t.store.get('c1'))?.version).toBe(2);
    });

    it('frees capacity held by expired conversations even when nobody reads them', async () => {
      const t = await make(1000);
      await t.store.save(conversation('a', t.now()), undefined, { capacity: 1 });
      await t.advance(1500);
      expect(await t.store.save(conversation('b', t.now()), undefined, { capacity: 1 })).toBe('saved');
    });

    it('deletes, optionally only at an expected version', async () => {
      const t = await make();
      await t.store.save(conversation('c1', t.now()), undefined, BIG);
      expect(await t.store.delete('c1', 5)).toBe(false);
      expect(await t.store.delete('c1', 1)).toBe(true);
      expect(await t.store.get('c1')).toBeUndefined();
      expect(await t.store.delete('c1')).toBe(false);
      expect(await t.store.save(conversation('c1', t.now()), undefined, BIG)).toBe('saved');
    });
  });
}
