/**
 * The stream registry: creates streams with unguessable ids (resolving conversations first),
 * finds them for their owner, forgets them after their retention period and shuts them all down.
 * What a stream does while it lives (its log, upstream loop, disconnect policy and its one
 * terminal event) is in relay-stream.ts.
 */
import { randomBytes } from 'node:crypto';
import { RelayError } from './errors.js';
import { RelayStream, type StreamOutcome } from './relay-stream.js';
import type { MessageParam, StreamRequest, SystemParam } from './request.js';
import { toUpstreamRequest } from './request.js';
import type { LogLimits } from './stream-log.js';
import type { Upstream } from './upstream.js';

export {
  RelayStream,
  type StreamOutcome,
  type StreamSnapshot,
  type StreamState,
} from './relay-stream.js';

export interface StreamsConfig {
  readonly defaultModel: string;
  readonly defaultMaxTokens: number;
  readonly log: LogLimits;
  /** A cursor blocked on its socket may lag this many events before it is cut (`slow_consumer`). */
  readonly maxLagEvents: number;
  /** With `on_disconnect: grace`, how long a stream with no subscriber keeps generating. */
  readonly graceMs: number;
  /** How long a finished stream stays resumable. */
  readonly retentionMs: number;
  /** Most streams held at once (running and retained). */
  readonly maxStreams: number;
  /** A stream still running after this long is cancelled with reason `timeout`. 0 = no limit. */
  readonly maxDurationMs: number;
}

/** What a conversation adds to a request: earlier turns, and the system prompt it keeps. */
export interface ConversationContext {
  readonly history: readonly MessageParam[];
  /** The system prompt to send (the request's own, or the one the conversation kept). */
  readonly system?: SystemParam;
}

/**
 * The place conversations plug in: `begin` returns the history to send before the new turns (and
 * may refuse with a RelayError), `finish` hears once how the reply ended.
 */
export interface ConversationHooks {
  begin(conversationId: string, req: StreamRequest, owner: string): Promise<ConversationContext>;
  finish(conversationId: string, req: StreamRequest, owner: string, outcome: StreamOutcome): void;
}

export interface CreateOptions {
  /** Who may read, resume and cancel the stream (the client's identity; "anonymous" without auth). */
  readonly owner: string;
}

/** Called whenever a stream ends; the metrics and tests listen here. */
export type StreamEndListener = (stream: RelayStream) => void;

export class StreamRegistry {
  private readonly streams = new Map<string, RelayStream>();
  private readonly upstream: Upstream;
  readonly config: StreamsConfig;
  private readonly conversations: ConversationHooks | undefined;
  private readonly endListeners = new Set<StreamEndListener>();
  private closing = false;
  private drainStarted = false;

  constructor(deps: { upstream: Upstream; config: StreamsConfig; conversations?: ConversationHooks }) {
    this.upstream = deps.upstream;
    this.config = deps.config;
    this.conversations = deps.conversations;
  }

  get size(): number {
    return this.streams.size;
  }

  /** True once a drain or shutdown began: new streams are refused with `shutting_down`. */
  get draining(): boolean {
    return this.drainStarted || this.closing;
  }

  /** Stops taking new streams (`shutting_down`); running ones go on, and resume, state and cancel work. */
  beginDrain(): void {
    this.drainStarted = true;
  }

  get running(): number {
    let n = 0;
    for (const s of this.streams.values()) if (s.state === 'running') n++;
    return n;
  }

  /** Starts a generation. Its `start` event is in the log before this resolves. */
  async create(req: StreamRequest, options: CreateOptions): Promise<RelayStream> {
    if (this.draining) throw shuttingDown();
    if (this.streams.size >= this.config.maxStreams) this.evictOldestFinished();
    if (this.streams.size >= this.config.maxStreams) {
      throw new RelayError(
        'limit_exceeded',
        `the relay holds its maximum of ${this.config.maxStreams} streams`,
      );
    }
    const conversationId = req.conversation_id;
    let history: readonly MessageParam[] = [];
    let system: SystemParam | undefined;
    if (conversationId !== undefined) {
      if (this.conversations === undefined) {
        throw new RelayError(
          'invalid_request',
          'conversation_id: conversations are not enabled on this relay',
        );
      }
      ({ history, system } = await this.conversations.begin(conversationId, req, options.owner));
    }
    const upstreamReq = toUpstreamRequest(
      system === undefined ? req : { ...req, system },
      { model: this.config.defaultModel, maxTokens: this.config.defaultMaxTokens },
      history,
    );
    const id = newStreamId();
    const stream = new RelayStream({
      id,
      owner: options.owner,
      request: req,
      upstreamRequest: upstreamReq,
      config: this.config,
      onEnd: (s) => this.onStreamEnd(s),
      onExpire: (s) => this.streams.delete(s.id),
    });
    this.streams.set(id, stream);
    stream.run(this.upstream);
    return stream;
  }

  /** The stream if it exists and belongs to `owner`; foreign streams look unknown on purpose. */
  get(id: string, owner?: string): RelayStream | undefined {
    const stream = this.streams.get(id);
    if (stream === undefined || (owner !== undefined && stream.owner !== owner)) return undefined;
    return stream;
  }

  /** Like `get`, but throws `not_found` with a message for the client. */
  require(id: string, owner?: string): RelayStream {
    const stream = this.get(id, owner);
    if (stream === undefined) {
      throw new RelayError('not_found', `no stream "${truncateId(id)}": it never existed or has expired`);
    }
    return stream;
  }

  onEnd(listener: StreamEndListener): () => void {
    this.endListeners.add(listener);
    return () => {
      this.endListeners.delete(listener);
    };
  }

  /**
   * Refuses new streams, cancels running ones with reason `shutdown` (each gets its terminal
   * event), waits up to `timeoutMs` for their upstream loops to unwind, then forgets everything.
   */
  async shutdown(timeoutMs = 5000): Promise<void> {
    this.closing = true;
    const running = [...this.streams.values()].filter((s) => s.state === 'running');
    for (const s of running) s.cancel('shutdown');
    let timer: NodeJS.Timeout | undefined;
    // Wait for the upstream loops to unwind and for every cursor to write its terminal event.
    await Promise.race([
      Promise.allSettled(running.map(async (s) => [await s.settled, await s.drained()])),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    for (const s of this.streams.values()) s.dispose();
    this.streams.clear();
  }

  private onStreamEnd(stream: RelayStream): void {
    const conversationId = stream.request.conversation_id;
    if (conversationId !== undefined && this.conversations !== undefined) {
      try {
        this.conversations.finish(conversationId, stream.request, stream.owner, stream.outcome());
      } catch {
        // A store failure must not disturb the stream that already ended; the store reports its own.
      }
    }
    for (const listener of this.endListeners) listener(stream);
  }

  private evictOldestFinished(): void {
    for (const stream of this.streams.values()) {
      if (stream.state !== 'running' && stream.subscriberCount === 0) {
        stream.dispose();
        this.streams.delete(stream.id);
        return;
      }
    }
  }
}

/** What every route answers a new stream during a drain: retryable, right away, on another instance. */
export function shuttingDown(): RelayError {
  return new RelayError('shutting_down', 'the relay is shutting down; retry on another instance', {
    retryAfterMs: 1000,
  });
}

/** 128 random bits, URL-safe: unguessable, so an id is a capability to read and cancel. */
export function newStreamId(): string {
  return `str_${randomBytes(16).toString('base64url')}`;
}

function truncateId(id: string): string {
  return id.length > 64 ? `${id.slice(0, 64)}…` : id;
}
