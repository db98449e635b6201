/**
 * The in-memory conversation store: one Map, expiry checked lazily on every access plus a single
 * unref'd sweep timer (no timer per conversation), values copied in and out like a remote store.
 */
import type { ConversationStore, SaveOptions, SaveResult, StoredConversation } from './conversation-store.js';

export interface MemoryConversationStoreOptions {
  /** A conversation not saved for this long is forgotten. */
  readonly ttlMs: number;
  /** How often expired conversations are swept; default min(ttl, 60 s). 0 = never (lazy only). */
  readonly sweepIntervalMs?: number;
  /** The clock (tests move it). */
  readonly now?: () => number;
}

export class MemoryConversationStore implements ConversationStore {
  private readonly items = new Map<string, StoredConversation>();
  private readonly ttlMs: number;
  private readonly now: () => number;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(options: MemoryConversationStoreOptions) {
    this.ttlMs = options.ttlMs;
    this.now = options.now ?? Date.now;
    const every = options.sweepIntervalMs ?? Math.min(options.ttlMs, 60_000);
    if (every > 0) {
      this.sweepTimer = setInterval(() => this.sweep(), every);
      // The sweep only frees memory; it must never keep the process alive.
      this.sweepTimer.unref();
    }
  }

  /** Conversations held, expired ones not yet swept included. */
  get size(): number {
    return this.items.size;
  }

  async get(id: string): Promise<StoredConversation | undefined> {
    const item = this.live(id);
    return item === undefined ? undefined : structuredClone(item);
  }

  async save(
    next: StoredConversation,
    expected: number | undefined,
    options: SaveOptions,
  ): Promise<SaveResult> {
    // Everything below runs without an await, so check-and-set is atomic on one event loop.
    const current = this.live(next.id);
    if (current?.version !== expected) return 'conflict';
    if (current === undefined && this.items.size >= options.capacity) {
      this.sweep();
      if (this.items.size >= options.capacity) return 'full';
    }
    this.items.set(next.id, structuredClone(next));
    return 'saved';
  }

  async delete(id: string, expected?: number): Promise<boolean> {
    const current = this.live(id);
    if (current === undefined || (expected !== undefined && current.version !== expected)) return false;
    return this.items.delete(id);
  }

  async close(): Promise<void> {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    this.items.clear();
  }

  /** Drops every expired conversation; returns how many. */
  sweep(): number {
    const cutoff = this.now() - this.ttlMs;
    let dropped = 0;
    // A full scan: a few thousand comparisons a minute, and correct whatever order writes came in.
    for (const [id, item] of this.items) {
      if (item.updatedAt > cutoff) continue;
      this.items.delete(id);
      dropped++;
    }
    return dropped;
  }

  private live(id: string): StoredConversation | undefined {
    const item = this.items.get(id);
    if (item === undefined) return undefined;
    if (item.updatedAt <= this.now() - this.ttlMs) {
      this.items.delete(id);
      return undefined;
    }
    return item;
  }
}
