/**
 * Server-kept conversations: the relay keeps the system prompt, the user turns and the assistant's
 * replies, and sends that history upstream before each new message (`conversation_id` on a stream
 * request). The rules, each chosen so the history stays something the API accepts:
 *
 * - First use creates the conversation, owned by the client identity that used it; any other
 *   identity gets `not_found`, as if it did not exist.
 * - One exchange at a time: a message while a reply is still streaming gets `conflict` (409).
 * - A finished reply is kept with its user turns, its `content` blocks verbatim as the API would
 *   have returned them (thinking with its signature, empty ones included; redacted thinking; tool
 *   calls; server-tool blocks; citations), so a tool loop and extended thinking work through a
 *   conversation and pass the API's check that earlier assistant turns are unchanged. A cancelled
 *   one keeps the blocks that were complete plus the partial text block (marked `partial`). A
 *   failed exchange is dropped whole (user turn too), so roles keep alternating; so is one whose
 *   reply has no content at all (a cancel before the first block).
 * - The first `system` is kept; a later `system` replaces it (from the exchange that sent it on,
 *   and only if that exchange is kept).
 * - Bounded: at most `maxConversations` (a new one beyond that is refused with `limit_exceeded`,
 *   nothing is evicted behind a user's back), at most `maxTurns` messages each (refused with
 *   `limit_exceeded`), and forgotten after the store's idle TTL.
 */
import { randomUUID } from 'node:crypto';
import type {
  ConversationStore,
  PendingExchange,
  StoredConversation,
  StoredMessage,
} from './conversation-store.js';
import { RelayError } from './errors.js';
import { assertNever } from './events.js';
import type { MessageParam, StreamRequest, SystemParam } from './request.js';
import type { ConversationContext, ConversationHooks, StreamOutcome } from './streams.js';

export interface ConversationLimits {
  /** Most conversations held at once. */
  readonly maxConversations: number;
  /** Most messages (user and assistant turns) one conversation keeps. */
  readonly maxTurns: number;
  /**
   * An exchange still pending after this long is taken as abandoned and no longer blocks the next
   * message (a lost lock must not brick a conversation). Set it above the longest stream.
   */
  readonly pendingTimeoutMs: number;
}

/** What `GET /v1/conversations/:id` answers. */
export interface ConversationView {
  conversation_id: string;
  system: SystemParam | null;
  messages: { role: MessageParam['role']; content: MessageParam['content']; partial?: true }[];
  /** True while a reply is streaming into it. */
  streaming: boolean;
  created_at: string;
  updated_at: string;
}

export interface ConversationsDeps {
  readonly store: ConversationStore;
  readonly limits: ConversationLimits;
  readonly now?: () => number;
  /** Hears failures of the store while keeping a finished exchange (nobody else could). */
  readonly onError?: (err: unknown, conversationId: string) => void;
}

/** A lost compare-and-set race is retried this many times before giving up. */
const SAVE_ATTEMPTS = 3;

export class Conversations implements ConversationHooks {
  private readonly store: ConversationStore;
  private readonly limits: ConversationLimits;
  private readonly now: () => number;
  private readonly onError: (err: unknown, conversationId: string) => void;
  /** The token of each request's pending exchange: `finish` only settles the exchange it began. */
  private readonly tokens = new WeakMap<StreamRequest, string>();
  /** Finishes being written, so a message sent right after a `done` waits for its history. */
  private readonly settling = new Map<string, Promise<void>>();

  constructor(deps: ConversationsDeps) {
    this.store = deps.store;
    this.limits = deps.limits;
    this.now = deps.now ?? Date.now;
    this.onError = deps.onError ?? (() => {});
  }

  async begin(id: string, req: StreamRequest, owner: string): Promise<ConversationContext> {
    await this.settling.get(id);
    const turns = newTurns(req);
    for (let attempt = 1; ; attempt++) {
      const now = this.now();
      const current = await this.store.get(id);
      if (current !== undefined && current.owner !== owner) throw notFound(id);
      if (current?.pending != null && now - current.pending.since < this.limits.pendingTimeoutMs) {
        throw new RelayError(
          'conflict',
          `conversation "${id}" already has a reply streaming; wait for it to end or cancel it, then send again`,
        );
      }
      const kept = current?.messages.length ?? 0;
      if (kept + turns.length + 1 > this.limits.maxTurns) {
        throw new RelayError(
          'limit_exceeded',
          `conversation "${id}" is full: it keeps at most ${this.limits.maxTurns} messages and has ${kept}; ` +
            `start a new conversation_id or DELETE /v1/conversations/${id}`,
        );
      }
      const token = randomUUID();
      const pending: PendingExchange = {
        turns,
        since: now,
        token,
        ...(req.system === undefined ? {} : { system: req.system }),
      };
      const next: StoredConversation = {
        id,
        owner,
        system: current?.system ?? null,
        messages: current?.messages ?? [],
        createdAt: current?.createdAt ?? now,
        updatedAt: now,
        version: (current?.version ?? 0) + 1,
        pending,
      };
      const result = await this.store.save(next, current?.version, {
        capacity: this.limits.maxConversations,
      });
      if (result === 'full') {
        throw new RelayError(
          'limit_exceeded',
          `the relay holds its maximum of ${this.limits.maxConversations} conversations; ` +
            'DELETE one you no longer need, or retry once idle ones expire',
        );
      }
      if (result === 'saved') {
        this.tokens.set(req, token);
        const system = req.system ?? current?.system ?? undefined;
        return { history: toTurns(next.messages), ...(system === undefined ? {} : { system }) };
      }
      // Another message changed it between our read and write: look again, a few times at most.
      if (attempt >= SAVE_ATTEMPTS) {
        throw new RelayError(
          'conflict',
          `conversation "${id}" is being changed by another request; send again`,
        );
      }
    }
  }

  /** Keeps the exchange; resolves once it is written (never rejects: failures go to `onError`). */
  finish(id: string, req: StreamRequest, owner: string, outcome: StreamOutcome): Promise<void> {
    const token = this.tokens.get(req);
    if (token === undefined) return Promise.resolve();
    this.tokens.delete(req);
    const previous = this.settling.get(id) ?? Promise.resolve();
    const done = previous
      .then(() => this.settle(id, owner, token, outcome))
      .catch((err: unknown) => this.onError(err, id))
      .finally(() => {
        if (this.settling.get(id) === done) this.settling.delete(id);
      });
    this.settling.set(id, done);
    return done;
  }

  /** The conversation as its owner sees it; `not_found` for anyone else. */
  async get(id: string, owner: string): Promise<ConversationView> {
    await this.settling.get(id);
    const c = await this.store.get(id);
    if (c === undefined || c.owner !== owner) throw notFound(id);
    return {
      conversation_id: c.id,
      system: c.system,
      messages: c.messages.map((m) => ({
        role: m.role,
        content: m.content,
        ...(m.partial ? { partial: true as const } : {}),
      })),
      streaming: c.pending !== null && this.now() - c.pending.since < this.limits.pendingTimeoutMs,
      created_at: new Date(c.createdAt).toISOString(),
      updated_at: new Date(c.updatedAt).toISOString(),
    };
  }

  /** Forgets it. A reply still streaming finishes for its client but is not kept. */
  async delete(id: string, owner: string): Promise<void> {
    const c = await this.store.get(id);
    if (c === undefined || c.owner !== owner) throw notFound(id);
    await this.store.delete(id);
  }

  /** Waits for pending writes, then closes the store. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.settling.values()]);
    await this.store.close();
  }

  private async settle(id: string, owner: string, token: string, outcome: StreamOutcome): Promise<void> {
    for (let attempt = 0; attempt < SAVE_ATTEMPTS; attempt++) {
      const current = await this.store.get(id);
      const pending = current?.pending;
      // Deleted meanwhile, or this exchange's lock was taken over as stale: nothing of ours to keep.
      if (current === undefined || current.owner !== owner || pending?.token !== token) return;
      const kept = keptTurns(pending, outcome);
      const next: StoredConversation = {
        ...current,
        system: kept !== undefined && pending.system !== undefined ? pending.system : current.system,
        messages: kept === undefined ? current.messages : [...current.messages, ...kept],
        updatedAt: this.now(),
        version: current.version + 1,
        pending: null,
      };
      const result = await this.store.save(next, current.version, { capacity: this.limits.maxConversations });
      if (result !== 'conflict') return;
    }
    throw new Error(`conversation "${id}": could not keep the finished exchange (kept changing)`);
  }
}

/** The messages an ended exchange adds, or undefined when it is dropped. */
function keptTurns(pending: PendingExchange, outcome: StreamOutcome): StoredMessage[] | undefined {
  const { terminal, content } = outcome;
  switch (terminal.type) {
    case 'done':
      return content.length === 0 ? undefined : [...pending.turns, { role: 'assistant', content }];
    case 'cancelled':
      return content.length === 0
        ? undefined
        : [...pending.turns, { role: 'assistant', content, partial: true }];
    case 'error':
      return undefined;
    default:
      return assertNever(terminal, 'terminal event');
  }
}

function newTurns(req: StreamRequest): MessageParam[] {
  if (req.messages !== undefined) return req.messages;
  return req.message === undefined ? [] : [{ role: 'user', content: req.message }];
}

/** What the upstream gets: plain turns (the `partial` mark is the relay's own). */
function toTurns(messages: readonly StoredMessage[]): MessageParam[] {
  return messages.map((m) => ({ role: m.role, content: m.content }));
}

function notFound(id: string): RelayError {
  return new RelayError('not_found', `no conversation "${id}": it never existed, has expired or was deleted`);
}
