/**
 * Conversations in Redis, shared by every instance: one hash per conversation (its version and
 * its JSON), written by a compare-and-set script and expiring `ttlMs` after its last save; a sorted
 * set of ids scored by expiry counts them against the capacity. The set is a separate key (another
 * cluster slot), so two conversations created at the same instant on two instances may both pass
 * the last free place: the capacity is exact on one instance, approximate across several.
 */
import { z } from 'zod';
import type {
  ConversationStore,
  SaveOptions,
  SaveResult,
  StoredConversation,
} from '../core/conversation-store.js';
import { RelayError } from '../core/errors.js';
import type { RedisConnection } from './connection.js';
import { conversationIndexKey, conversationKey, isConversationId } from './keys.js';
import { CONVERSATION_DELETE, CONVERSATION_SAVE } from './scripts.js';

const storedSchema = z.looseObject({
  id: z.string(),
  owner: z.string(),
  messages: z.array(z.unknown()),
  version: z.number().int(),
  createdAt: z.number(),
  updatedAt: z.number(),
});

export class RedisConversationStore implements ConversationStore {
  private readonly redis: RedisConnection;
  private readonly ttlMs: number;
  private readonly prefix: string;

  constructor(options: { connection: RedisConnection; ttlMs: number; prefix?: string }) {
    this.redis = options.connection;
    this.ttlMs = options.ttlMs;
    this.prefix = options.prefix ?? 'relay:';
  }

  async get(id: string): Promise<StoredConversation | undefined> {
    if (!isConversationId(id)) return undefined;
    const raw = await this.redis.call(['HGET', conversationKey(this.prefix, id), 'doc']);
    if (raw === null || raw === undefined) return undefined;
    if (typeof raw !== 'string') throw unreadable();
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw unreadable();
    }
    if (!storedSchema.safeParse(parsed).success) throw unreadable();
    return parsed as StoredConversation;
  }

  async save(
    next: StoredConversation,
    expected: number | undefined,
    options: SaveOptions,
  ): Promise<SaveResult> {
    if (!isConversationId(next.id)) return 'conflict';
    const index = conversationIndexKey(this.prefix);
    if (expected === undefined) {
      await this.redis.call(['ZREMRANGEBYSCORE', index, '-inf', String(Date.now())]);
      if (Number(await this.redis.call(['ZCARD', index])) >= options.capacity) {
        // Maybe it exists already: then this is a conflict, not a full store.
        const exists = Number(await this.redis.call(['EXISTS', conversationKey(this.prefix, next.id)]));
        return exists === 1 ? 'conflict' : 'full';
      }
    }
    const written = await this.redis.script(
      CONVERSATION_SAVE,
      [conversationKey(this.prefix, next.id)],
      [
        expected === undefined ? '' : String(expected),
        String(next.version),
        JSON.stringify(next),
        String(this.ttlMs),
      ],
    );
    if (Number(written) !== 1) return 'conflict';
    await this.redis.call(['ZADD', index, String(Date.now() + this.ttlMs), next.id]);
    return 'saved';
  }

  async delete(id: string, expected?: number): Promise<boolean> {
    if (!isConversationId(id)) return false;
    const deleted = await this.redis.script(
      CONVERSATION_DELETE,
      [conversationKey(this.prefix, id)],
      [expected === undefined ? '' : String(expected)],
    );
    if (Number(deleted) !== 1) return false;
    await this.redis.call(['ZREM', conversationIndexKey(this.prefix), id]);
    return true;
  }

  /** The connection belongs to whoever made it. */
  async close(): Promise<void> {}
}

function unreadable(): RelayError {
  return new RelayError('internal_error', 'the conversation store answered something unreadable');
}
