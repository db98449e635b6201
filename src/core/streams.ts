/**
 * The stream registry: creates streams with unguessable ids (resolving conversations first),
 * opens them for their owner and shuts this instance's generations down. What a generation does
 * while it lives (upstream loop, disconnect policy, its one terminal event) is in
 * stream-generation.ts; where streams are kept and how any instance reads them is the store's job
 * (stream-store.ts).
 */
import { RelayError, shuttingDown } from './errors.js';
import { checkRequestPolicy, type Lease, type Limiter, UNLIMITED } from './limiter.js';
import { MemoryStreamStore } from './memory-stream-store.js';
import { type Limits, NO_LIMITS } from './principal.js';
import { randomToken } from './random-token.js';
import type { MessageParam, StreamRequest, SystemParam } from './request.js';
import { toUpstreamRequest } from './request.js';
import { StartTurns } from './start-turns.js';
import {
  type GenerationHooks,
  type GenerationInit,
  StreamGeneration,
  type StreamOutcome,
} from './stream-generation.js';
import type { StreamHandle } from './stream-handle.js';
import type { ReaderHooks, ReaderTag } from './stream-log.js';
import type { StreamStore } from './stream-store.js';
import type { StreamsConfig } from './streams-config.js';
import type { Upstream } from './upstream.js';

export type { StreamOutcome } from './stream-generation.js';
export type { StreamHandle, StreamSnapshot, StreamState } from './stream-handle.js';
export type { StreamsConfig } from './streams-config.js';

/** What a conversation adds to a request: earlier turns, and the system prompt it keeps. */
export interface ConversationContext {
  readonly history: readonly MessageParam[];
  /** The system prompt to send (the request's own, or the one the conversation kept). */
  readonly system?: SystemParam;
}

/**
 * The place conversations plug in: `begin` returns the history to send before the new turns (and
 * may refuse with a RelayError), `finish` hears once how the reply ended, before the stream's
 * terminal event is appended: the event waits (bounded) for the promise it returns, so a client
 * that has seen `done` can send the next turn at once, on any instance.
 */
export interface ConversationHooks {
  begin(conversationId: string, req: StreamRequest, owner: string): Promise<ConversationContext>;
  finish(
    conversationId: string,
    req: StreamRequest,
    owner: string,
    outcome: StreamOutcome,
  ): Promise<void> | void;
}

export interface CreateOptions {
  /** Who may read, resume and cancel the stream (the principal's id; "anonymous" without auth). */
  readonly owner: string;
  /** `anthropic-beta` names to forward upstream (the header on HTTP, `anthropic_beta` on a WS start). */
  readonly betas?: readonly string[];
  /**
   * The creator's network address (the transport's key for it): its running streams, grace
   * periods included, count against `maxStreamsPerAddress` until each ends.
   */
  readonly address?: string;
  /** The owner's limits, enforced through the registry's limiter before the upstream is called. */
  readonly limits?: Limits;
  /** The transport starting it (`sse`, `ws`, `classic`, …): a label for metrics and logs. */
  readonly transport?: string;
}

/**
 * What metrics, logs and traces hear about streams generated here: each start, the generation's
 * hooks while it runs, and its end; and about readers on this instance (whichever instance
 * generates their stream), through the tags transports attach cursors with.
 */
export interface StreamObserver extends GenerationHooks, ReaderHooks {
  started?(generation: StreamGeneration): void;
  ended?(generation: StreamGeneration): void;
}

/** Called whenever a stream generated here ends; the metrics and tests listen here. */
export type StreamEndListener = (generation: StreamGeneration) => void;

/**
 * Starts run per turn of the event loop (see start-turns.ts). On a burst of 100 at once 1, 2, 4
 * and 8 were inside each other's noise; fewer per turn means more turns, and a busy relay (long
 * turns) would then take new streams more slowly.
 */
export const STARTS_PER_TURN = 4;

export class StreamRegistry {
  /** Generations on this instance until their upstream loop unwinds, with this instance's handle on each. */
  private readonly generations = new Map<string, { generation: StreamGeneration; handle: StreamHandle }>();
  private readonly upstream: Upstream;
  readonly config: StreamsConfig;
  private readonly store: StreamStore;
  private readonly conversations: ConversationHooks | undefined;
  private readonly endListeners = new Set<StreamEndListener>();
  private readonly observers = new Set<StreamObserver>();
  /** One hooks object for every generation, fanning out to the observers present at call time. */
  private readonly hooks: GenerationHooks = {
    contentGap: (g, ms) => {
      for (const o of this.observers) o.contentGap?.(g, ms);
    },
    attempt: (g, record) => {
      for (const o of this.observers) o.attempt?.(g, record);
    },
    upstreamClosed: (g, ms) => {
      for (const o of this.observers) o.upstreamClosed?.(g, ms);
    },
  };
  /** One reader hooks object for every cursor, fanning out likewise. */
  private readonly readerHooks: ReaderHooks = {
    attached: (transport, after, replayed) => {
      for (const o of this.observers) o.attached?.(transport, after, replayed);
    },
    firstContent: (transport, ms) => {
      for (const o of this.observers) o.firstContent?.(transport, ms);
    },
    cut: (transport, code) => {
      for (const o of this.observers) o.cut?.(transport, code);
    },
  };
  /** One tag per transport name, so attaching a cursor allocates none. */
  private readonly readerTags = new Map<string, ReaderTag>();
  /** Resolved whenever a stream ends, so `idle()` can look again. */
  private readonly endWaiters: (() => void)[] = [];
  /** Running streams per creator address (only while `maxStreamsPerAddress` is set). */
  private readonly runningByAddress = new Map<string, number>();
  private readonly limiter: Limiter;
  /** Each running stream's quota lease, settled with its real usage when it ends. */
  private readonly leases = new WeakMap<StreamGeneration, Lease>();
  private closing = false;
  private drainStarted = false;
  private readonly turns: StartTurns;
  /** Creates past the stream cap's check and not yet in the store (or failed). */
  private admitting = 0;

  constructor(deps: {
    upstream: Upstream;
    config: StreamsConfig;
    conversations?: ConversationHooks;
    /** Default: the in-memory store. */
    store?: StreamStore;
    limiter?: Limiter;
    /** Starts admitted per turn of the event loop (default STARTS_PER_TURN). */
    startsPerTurn?: number;
  }) {
    this.upstream = deps.upstream;
    this.turns = new StartTurns(deps.startsPerTurn ?? STARTS_PER_TURN);
    this.limiter = deps.limiter ?? UNLIMITED;
    this.config = deps.config;
    this.conversations = deps.conversations;
    this.store =
      deps.store ??
      new MemoryStreamStore({
        retentionMs: deps.config.retentionMs,
        cursor: { maxLagEvents: deps.config.maxLagEvents, batch: deps.config.cursorBatch },
      });
  }

  /** Streams this instance holds (running and retained). */
  get size(): number {
    return this.store.size;
  }

  /** True once a drain or shutdown began: new streams are refused with `shutting_down`. */
  get draining(): boolean {
    return this.drainStarted || this.closing;
  }

  /** Stops taking new streams (`shutting_down`); running ones go on, and resume, state and cancel work. */
  beginDrain(): void {
    this.drainStarted = true;
  }

  /** Streams generated on this instance that have no terminal event yet. */
  get running(): number {
    let n = 0;
    for (const { generation } of this.generations.values()) if (generation.state === 'running') n++;
    return n;
  }

  /** Starts a generation. Its `start` event is in the log before this resolves. */
  async create(request: StreamRequest, options: CreateOptions): Promise<StreamHandle> {
    // Every check below runs after the wait, exactly as it did without one.
    await this.turns.next();
    const req = mintConversation(request);
    if (this.draining) throw shuttingDown();
    // Creates between this check and the store (the limiter, a conversation and the store itself
    // may answer on a later turn) count too: a crowd arriving together must not pass it at once.
    if (this.store.size + this.admitting >= this.config.maxStreams) this.store.evictIdle();
    if (this.store.size + this.admitting >= this.config.maxStreams) {
      throw new RelayError(
        'limit_exceeded',
        `the relay holds its maximum of ${this.config.maxStreams} streams`,
      );
    }
    this.admitting++;
    try {
      return await this.admitted(req, options);
    } finally {
      this.admitting--;
    }
  }

  /** `create` past the stream cap: the per-request checks, the lease, the generation, the store. */
  private async admitted(req: StreamRequest, options: CreateOptions): Promise<StreamHandle> {
    const limits = options.limits ?? NO_LIMITS;
    const maxTokens = req.max_tokens ?? this.config.defaultMaxTokens;
    checkRequestPolicy(limits, req.model ?? this.config.defaultModel, maxTokens);
    const lease = await this.limiter.acquire(options.owner, limits, maxTokens);
    const conversationId = req.conversation_id;
    let history: readonly MessageParam[] = [];
    let system: SystemParam | undefined;
    if (conversationId !== undefined) {
      try {
        if (this.conversations === undefined) {
          throw new RelayError(
            'invalid_request',
            'conversation_id: conversations are not enabled on this relay',
          );
        }
        ({ history, system } = await this.conversations.begin(conversationId, req, options.owner));
      } catch (err) {
        lease.settle(0);
        throw err;
      }
    }
    const upstreamReq = toUpstreamRequest(
      system === undefined ? req : { ...req, system },
      { model: this.config.defaultModel, maxTokens: this.config.defaultMaxTokens },
      history,
      options.betas,
    );
    // No await from here to the generation's creation: the check and the count cannot race.
    const address = options.address;
    this.holdAddress(address);
    const generation = new StreamGeneration({
      id: newStreamId(),
      owner: options.owner,
      request: req,
      upstreamRequest: upstreamReq,
      config: this.config,
      onEnd: (g) => {
        this.releaseAddress(address);
        this.onGenerationEnd(g);
      },
      ...this.keepTurnFor(conversationId),
      hooks: this.hooks,
      ...(options.transport === undefined ? {} : { transport: options.transport }),
    });
    this.leases.set(generation, lease);
    let handle: StreamHandle;
    try {
      handle = await this.store.add(generation);
    } catch (err) {
      // Never ran: release its timers; the conversation's pending turn is settled by onEnd.
      generation.cancel('shutdown');
      throw err;
    }
    this.generations.set(generation.id, { generation, handle });
    // Kept until its readers here have written the terminal event too: what a drain waits for.
    generation.onSettled(() => {
      void handle.drained().then(() => this.generations.delete(generation.id));
    });
    for (const o of this.observers) o.started?.(generation);
    generation.run(this.upstream);
    return handle;
  }

  /** A conversation stream keeps its turn before its terminal event is appended. */
  private keepTurnFor(conversationId: string | undefined): Pick<GenerationInit, 'keepTurn'> {
    const conversations = this.conversations;
    if (conversationId === undefined || conversations === undefined) return {};
    return {
      keepTurn: (g, outcome) => conversations.finish(conversationId, g.request, g.owner, outcome),
    };
  }

  /**
   * Counts a new stream against its creator's address, or refuses it (`limit_exceeded`) when that
   * address already runs its maximum: one client cannot hold every stream slot, and streams it left
   * running in their grace period (by reconnecting, say) still count until they end.
   */
  private holdAddress(address: string | undefined): void {
    const max = this.config.maxStreamsPerAddress;
    if (address === undefined || max <= 0) return;
    const running = this.runningByAddress.get(address) ?? 0;
    if (running >= max) {
      throw new RelayError(
        'limit_exceeded',
        `this client address already has ${max} streams running (streams left in their grace period count too); wait for one to end or cancel one`,
      );
    }
    this.runningByAddress.set(address, running + 1);
  }

  private releaseAddress(address: string | undefined): void {
    if (address === undefined || this.config.maxStreamsPerAddress <= 0) return;
    const running = (this.runningByAddress.get(address) ?? 1) - 1;
    if (running <= 0) this.runningByAddress.delete(address);
    else this.runningByAddress.set(address, running);
  }

  /** The stream if it exists and belongs to `owner`; foreign streams look unknown on purpose. */
  async find(id: string, owner?: string): Promise<StreamHandle | undefined> {
    const stream = await this.store.open(id);
    if (stream === undefined || (owner !== undefined && stream.owner !== owner)) return undefined;
    return stream;
  }

  /** Like `find`, but throws `not_found` with a message for the client. */
  async open(id: string, owner?: string): Promise<StreamHandle> {
    const stream = await this.find(id, owner);
    if (stream === undefined) {
      throw new RelayError('not_found', `no stream "${truncateId(id)}": it never existed or has expired`);
    }
    return stream;
  }

  /** Resolves when the upstream loop of a stream generated here has unwound (at once otherwise). */
  settled(id: string): Promise<void> {
    return this.generations.get(id)?.generation.settled ?? Promise.resolve();
  }

  /** Adds an observer (metrics, logs, traces); returns its removal. */
  observe(observer: StreamObserver): () => void {
    this.observers.add(observer);
    return () => {
      this.observers.delete(observer);
    };
  }

  /** What a transport attaches its cursors with, so observers hear about its readers by name. */
  reader(transport: string): ReaderTag {
    let tag = this.readerTags.get(transport);
    if (tag === undefined) {
      tag = { transport, hooks: this.readerHooks };
      this.readerTags.set(transport, tag);
    }
    return tag;
  }

  /** Generations on this instance that have no terminal event yet, by the transport that started them. */
  runningByTransport(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const { generation } of this.generations.values()) {
      if (generation.state === 'running')
        counts.set(generation.transport, (counts.get(generation.transport) ?? 0) + 1);
    }
    return counts;
  }

  onEnd(listener: StreamEndListener): () => void {
    this.endListeners.add(listener);
    return () => {
      this.endListeners.delete(listener);
    };
  }

  /**
   * Resolves once no stream is running and every subscriber has written what it had to write (its
   * terminal event included): what a drain waits for. Streams that end later (a resume, a stream
   * whose creation was already under way) are waited for too.
   */
  async idle(): Promise<void> {
    for (;;) {
      if (this.running > 0) {
        await new Promise<void>((resolve) => this.endWaiters.push(resolve));
        continue;
      }
      await Promise.all(
        [...this.generations.values()].map(({ generation, handle }) =>
          generation.settled.then(() => handle.drained()),
        ),
      );
      if (this.running === 0) return;
    }
  }

  /**
   * Refuses new streams, cancels running ones with reason `shutdown` (each gets its terminal
   * event), waits up to `timeoutMs` for their upstream loops to unwind and their readers here to
   * write the terminal event, then closes the store.
   */
  async shutdown(timeoutMs = 5000): Promise<void> {
    this.closing = true;
    const running = [...this.generations.values()].filter((g) => g.generation.state === 'running');
    for (const { generation } of running) generation.cancel('shutdown');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(running.map(async (s) => [await s.generation.settled, await s.handle.drained()])),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    this.generations.clear();
    await this.store.close();
  }

  private onGenerationEnd(generation: StreamGeneration): void {
    const { input_tokens, output_tokens } = generation.usage;
    this.leases.get(generation)?.settle(input_tokens + output_tokens);
    this.leases.delete(generation);
    for (const listener of this.endListeners) listener(generation);
    for (const o of this.observers) o.ended?.(generation);
    for (const resolve of this.endWaiters.splice(0)) resolve();
  }
}

/** 128 random bits, URL-safe, like stream ids: a conversation id is a capability too. */
export function newConversationId(): string {
  return `conv_${randomToken(16)}`;
}

/**
 * `conversation_id: "new"` asks the relay to mint one; the client learns it from the `start` event
 * (and, over HTTP, the `X-Conversation-Id` header). Any other request is returned as it is.
 */
export function mintConversation(req: StreamRequest): StreamRequest {
  return req.conversation_id === 'new' ? { ...req, conversation_id: newConversationId() } : req;
}

/** 128 random bits, URL-safe: unguessable, so an id is a capability to read and cancel. */
export function newStreamId(): string {
  return `str_${randomToken(16)}`;
}

function truncateId(id: string): string {
  return id.length > 64 ? `${id.slice(0, 64)}…` : id;
}
