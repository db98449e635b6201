/**
 * Where conversations live: a small async interface so one relay keeps them in memory and several
 * relays can share them later (Redis). Every write is a compare-and-set on a version number, so
 * two messages racing into one conversation cannot both win, whatever the store.
 */
import type { MessageParam, SystemParam } from './request.js';

/** A kept turn. `partial` marks an assistant reply that was cancelled mid-way (its text as it was). */
export interface StoredMessage {
  readonly role: MessageParam['role'];
  readonly content: MessageParam['content'];
  readonly partial?: true;
}

/** The exchange in flight: its user turns are kept only once the reply ends well enough. */
export interface PendingExchange {
  readonly turns: readonly MessageParam[];
  /** A new system prompt sent with this exchange; it replaces the kept one when the exchange is kept. */
  readonly system?: SystemParam;
  /** Epoch ms when the exchange began (a lock older than the relay's pending timeout is stale). */
  readonly since: number;
  /** Names the exchange: only its own ending may settle it (not one that took over a stale lock). */
  readonly token: string;
}

export interface StoredConversation {
  readonly id: string;
  /** The client identity that created it; nobody else may read, extend or delete it. */
  readonly owner: string;
  readonly system: SystemParam | null;
  readonly messages: readonly StoredMessage[];
  /** Epoch ms. */
  readonly createdAt: number;
  /** Epoch ms of the last write; the idle TTL counts from here. */
  readonly updatedAt: number;
  /** Bumped by every save; the compare-and-set token. */
  readonly version: number;
  readonly pending: PendingExchange | null;
}

/** `saved`; `conflict` = the stored version was not the expected one; `full` = capacity reached. */
export type SaveResult = 'saved' | 'conflict' | 'full';

export interface SaveOptions {
  /** Most conversations the store may hold; only a *new* conversation can be refused as `full`. */
  readonly capacity: number;
}

/**
 * The contract (test/conversation-store.contract.ts checks it for every implementation):
 * - `get` and `save` copy: a caller never shares an object with the store.
 * - A conversation not saved for the store's TTL is gone: `get` answers undefined and it does not
 *   count toward capacity (the memory store checks lazily and sweeps; Redis would use key expiry).
 * - `save(next, expected)` writes only if the stored version equals `expected` (`undefined` = it
 *   must not exist yet), atomically with that check.
 */
export interface ConversationStore {
  get(id: string): Promise<StoredConversation | undefined>;
  save(next: StoredConversation, expected: number | undefined, options: SaveOptions): Promise<SaveResult>;
  /** Removes it; true when it existed (and, with `expected`, still had that version). */
  delete(id: string, expected?: number): Promise<boolean>;
  /** Releases timers and connections. */
  close(): Promise<void>;
}
