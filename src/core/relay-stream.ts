/**
 * One generation: its log, its upstream loop, its subscribers and its timers. The registry
 * (streams.ts) creates, finds and forgets streams; this is what each one does while it lives.
 */
import { RelayError, toRelayError } from './errors.js';
import {
  type CancelledEvent,
  type CancelReason,
  type ContentEvent,
  type ErrorEvent,
  isTerminal,
  type TerminalEvent,
  type Usage,
} from './events.js';
import type { DisconnectPolicy, StreamRequest, UpstreamRequest } from './request.js';
import { Cursor, type CursorOutcome, type CursorSink, StreamLog } from './stream-log.js';
import type { StreamsConfig } from './streams.js';
import type { Upstream } from './upstream.js';
import { UsageMeter } from './usage.js';

export type StreamState = 'running' | 'done' | 'error' | 'cancelled';

export interface StreamSnapshot {
  stream_id: string;
  state: StreamState;
  model: string;
  last_seq: number;
  usage: Usage;
  created_at: string;
}

/** How a finished stream's turn is kept in its conversation (see conversations). */
export interface StreamOutcome {
  readonly terminal: TerminalEvent;
  /** The assistant's text as it reached the log (partial when cancelled). */
  readonly text: string;
}

export interface StreamInit {
  id: string;
  owner: string;
  request: StreamRequest;
  upstreamRequest: UpstreamRequest;
  config: StreamsConfig;
  onEnd: (stream: RelayStream) => void;
  onExpire: (stream: RelayStream) => void;
}

/** One generation: its log, its upstream loop, its subscribers and its timers. */
export class RelayStream {
  readonly id: string;
  readonly owner: string;
  readonly request: StreamRequest;
  readonly upstreamRequest: UpstreamRequest;
  readonly model: string;
  readonly log: StreamLog;
  readonly createdAt = new Date();
  /** Monotonic ms (performance.now) at creation and at the first content event: time to first token. */
  readonly startedAt = performance.now();
  firstContentAt: number | undefined;
  readonly policy: DisconnectPolicy;
  /** Resolves when the upstream loop has fully unwound (the HTTP request is closed). */
  readonly settled: Promise<void>;

  private readonly config: StreamsConfig;
  private readonly controller = new AbortController();
  private readonly onEndCb: (stream: RelayStream) => void;
  private readonly onExpireCb: (stream: RelayStream) => void;
  private readonly cursors = new Set<Cursor>();
  private readonly drainWaiters: (() => void)[] = [];
  private resolveSettled!: () => void;
  private graceTimer: NodeJS.Timeout | undefined;
  private durationTimer: NodeJS.Timeout | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private cancelReason: CancelReason | undefined;
  private readonly meter = new UsageMeter();
  private text = '';
  private readonly keepsText: boolean;

  constructor(init: StreamInit) {
    this.id = init.id;
    this.owner = init.owner;
    this.request = init.request;
    this.upstreamRequest = init.upstreamRequest;
    this.model = init.upstreamRequest.model;
    this.config = init.config;
    this.policy = init.request.on_disconnect ?? 'grace';
    this.keepsText = init.request.conversation_id !== undefined;
    this.onEndCb = init.onEnd;
    this.onExpireCb = init.onExpire;
    this.log = new StreamLog(init.config.log);
    this.settled = new Promise((resolve) => {
      this.resolveSettled = resolve;
    });
    this.log.append({ type: 'start', stream_id: this.id, model: this.model });
    // Nobody is attached yet (a detached start waits for its EventSource): the grace clock runs.
    this.startGrace();
    if (init.config.maxDurationMs > 0) {
      this.durationTimer = setTimeout(() => this.cancel('timeout'), init.config.maxDurationMs);
      this.durationTimer.unref();
    }
  }

  get state(): StreamState {
    const terminal = this.log.terminal?.event;
    if (terminal === undefined) return 'running';
    switch (terminal.type) {
      case 'done':
        return 'done';
      case 'error':
        return 'error';
      case 'cancelled':
        return 'cancelled';
      default:
        return 'running';
    }
  }

  get subscriberCount(): number {
    return this.cursors.size;
  }

  /** Usage so far: the upstream's final count once `done` arrived, otherwise an estimate. */
  get usage(): Usage {
    const terminal = this.log.terminal?.event;
    if (terminal !== undefined && isTerminal(terminal)) return terminal.usage;
    return this.meter.estimate();
  }

  snapshot(): StreamSnapshot {
    return {
      stream_id: this.id,
      state: this.state,
      model: this.model,
      last_seq: this.log.lastSeq,
      usage: this.usage,
      created_at: this.createdAt.toISOString(),
    };
  }

  outcome(): StreamOutcome {
    const terminal = this.log.terminal?.event;
    if (terminal === undefined || !isTerminal(terminal)) throw new Error('stream has not ended');
    return { terminal, text: this.text };
  }

  /**
   * Subscribes a transport: a cursor that writes every event after `after`, then follows. A
   * `replay_unavailable` gap is reported through `sink.end`.
   */
  attach(sink: CursorSink, after = 0): Cursor {
    const cursor = new Cursor(this.log, sink, after, {
      maxLagEvents: this.config.maxLagEvents,
      onClose: this.onCursorClose,
    });
    this.cursors.add(cursor);
    this.clearGrace();
    cursor.start();
    return cursor;
  }

  /**
   * Aborts the upstream at once and appends `cancelled` with the usage so far. Idempotent: a
   * finished stream is left as it is.
   */
  cancel(reason: CancelReason): void {
    if (this.log.ended) return;
    this.cancelReason = reason;
    const event: CancelledEvent = { type: 'cancelled', reason, usage: this.meter.estimate() };
    this.finish(event);
  }

  /** Releases every timer and subscriber; the registry calls it when it forgets the stream. */
  dispose(): void {
    if (!this.log.ended) this.cancel('shutdown');
    this.clearTimers();
    if (this.retentionTimer !== undefined) clearTimeout(this.retentionTimer);
    this.retentionTimer = undefined;
    for (const cursor of [...this.cursors]) cursor.detach();
  }

  /** Runs the upstream into the log. Never throws: every ending becomes one terminal event. */
  run(upstream: Upstream): void {
    void this.pump(upstream).finally(this.resolveSettled);
  }

  private async pump(upstream: Upstream): Promise<void> {
    const signal = this.controller.signal;
    try {
      for await (const event of upstream.stream(this.upstreamRequest, signal)) {
        if (this.log.ended) break;
        switch (event.type) {
          case 'usage':
            this.meter.report(event.usage);
            break;
          case 'retry':
            this.log.append(event);
            break;
          case 'done':
            this.finish({
              type: 'done',
              stop_reason: event.stop_reason,
              usage: this.meter.final(),
            });
            break;
          case 'text':
          case 'thinking':
          case 'tool_use':
          case 'tool_input':
            this.countContent(event);
            this.log.append(event);
            break;
          default:
            // Upstreams are typed, but a JS one could still hand us something new: pass over it.
            break;
        }
      }
      if (!this.log.ended) {
        this.finish(
          this.errorEvent(new RelayError('upstream_error', 'upstream stream ended without message_stop')),
        );
      }
    } catch (err) {
      if (!this.log.ended) {
        if (signal.aborted) this.cancel(this.cancelReason ?? 'shutdown');
        else this.finish(this.errorEvent(toRelayError(err)));
      }
    }
  }

  private errorEvent(error: RelayError): ErrorEvent {
    const event: ErrorEvent = {
      type: 'error',
      code: error.code,
      message: error.message,
      retryable: error.retryable,
      usage: this.meter.estimate(),
    };
    if (error.retryAfterMs !== undefined) event.retry_after_ms = error.retryAfterMs;
    return event;
  }

  private countContent(event: ContentEvent): void {
    if (this.firstContentAt === undefined) this.firstContentAt = performance.now();
    this.meter.count(event);
    // Only a conversation keeps the reply; elsewhere the log already holds every delta.
    if (this.keepsText && event.type === 'text') this.text += event.text;
  }

  private finish(event: TerminalEvent): void {
    if (this.log.ended) return;
    this.clearTimers();
    // Abort before appending, so the upstream's socket is closing while clients read the receipt.
    // After `done` the upstream has finished on its own: no abort, so its connection can be reused.
    if (event.type !== 'done' && !this.controller.signal.aborted) this.controller.abort();
    this.log.append(event);
    this.retentionTimer = setTimeout(this.expire, this.config.retentionMs);
    this.retentionTimer.unref();
    this.onEndCb(this);
  }

  // Cursors still writing the tail keep their own reference to the log and finish normally.
  private readonly expire = (): void => {
    this.retentionTimer = undefined;
    this.onExpireCb(this);
  };

  /** Resolves once no cursor is attached (every subscriber finished or left). */
  drained(): Promise<void> {
    if (this.cursors.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private readonly onCursorClose = (cursor: Cursor, outcome: CursorOutcome | { kind: 'detached' }): void => {
    this.cursors.delete(cursor);
    if (this.cursors.size === 0) for (const resolve of this.drainWaiters.splice(0)) resolve();
    if (this.cursors.size > 0 || this.log.ended) return;
    // Cut cursors (slow, replay gone) count as gone clients: they are expected to resume.
    if (outcome.kind === 'terminal') return;
    if (this.policy === 'abort') this.cancel('disconnect');
    else this.startGrace();
  };

  private startGrace(): void {
    if (this.log.ended || this.graceTimer !== undefined) return;
    this.graceTimer = setTimeout(() => {
      this.graceTimer = undefined;
      if (this.cursors.size === 0) this.cancel('disconnect');
    }, this.config.graceMs);
    this.graceTimer.unref();
  }

  private clearGrace(): void {
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
  }

  private clearTimers(): void {
    this.clearGrace();
    if (this.durationTimer !== undefined) clearTimeout(this.durationTimer);
    this.durationTimer = undefined;
  }
}
