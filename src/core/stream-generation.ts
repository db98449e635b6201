/**
 * One generation: the upstream loop, its usage, its timers and the log it appends to. It lives on
 * the one instance that runs the upstream request; readers anywhere reach it through a
 * StreamHandle (stream-handle.ts) and tell it about presence and cancels. The registry
 * (streams.ts) creates generations; the store (stream-store.ts) makes them readable.
 */
import { RelayError, toRelayError } from './errors.js';
import {
  assertNever,
  type CancelledEvent,
  type CancelReason,
  type ContentEvent,
  type DoneEvent,
  type ErrorEvent,
  type TerminalEvent,
  type Usage,
} from './events.js';
import { Latch } from './latch.js';
import { type AssembledMessage, assemble, type ContentBlock, type MessageAssembler } from './message.js';
import type { DisconnectPolicy, StreamRequest, UpstreamRequest } from './request.js';
import { type ReaderExit, type StreamState, stateOf } from './stream-handle.js';
import { StreamLog } from './stream-log.js';
import type { StreamsConfig } from './streams-config.js';
import type { AttemptRecord, Upstream, UpstreamDone, UpstreamEvent, UpstreamHints } from './upstream.js';
import { UsageMeter } from './usage.js';

/** How a finished stream's turn is kept in its conversation (see conversations). */
export interface StreamOutcome {
  readonly terminal: TerminalEvent;
  /**
   * The assistant's content blocks as the API would have returned them; when cancelled, the blocks
   * that were complete plus a partial text block.
   */
  readonly content: ContentBlock[];
}

export interface GenerationInit {
  id: string;
  owner: string;
  request: StreamRequest;
  upstreamRequest: UpstreamRequest;
  config: StreamsConfig;
  /** Told once, right after the terminal event is appended. */
  onEnd: (generation: StreamGeneration) => void;
  /**
   * Told once how the reply ended, BEFORE the terminal event is appended: the terminal waits for
   * the returned promise (at most `KEEP_TURN_WAIT_MS`), so a client that has seen `done` finds the
   * turn kept and can send the next one at once, on any instance. Only conversations set it.
   */
  keepTurn?: (generation: StreamGeneration, outcome: StreamOutcome) => Promise<void> | void;
  /** The transport that started it (`sse`, `ws`, `classic`, …), for metrics and logs. */
  transport?: string;
  /** Metrics, logs and traces listen here; called on the hot path, so keep them cheap. */
  hooks?: GenerationHooks;
}

/** What observers hear while a generation runs (its end is `onEnd`). */
export interface GenerationHooks {
  /** Between two content events, in ms. */
  contentGap?(generation: StreamGeneration, ms: number): void;
  /** An upstream attempt ended. */
  attempt?(generation: StreamGeneration, record: AttemptRecord): void;
  /** The upstream request closed this long (ms) after a cancel. */
  upstreamClosed?(generation: StreamGeneration, msAfterCancel: number): void;
}

/**
 * Longest a terminal event waits for its conversation turn to be kept. The store has deadlines
 * of its own (Redis: 2 s per call); this only guarantees the stream ends even if it hangs.
 */
export const KEEP_TURN_WAIT_MS = 10_000;

/** One generation: its upstream loop, usage and timers, appending to its log. */
export class StreamGeneration {
  readonly id: string;
  readonly owner: string;
  readonly request: StreamRequest;
  readonly upstreamRequest: UpstreamRequest;
  readonly model: string;
  /** The log this generation appends to; the store hands it to readers (or ships it elsewhere). */
  readonly log: StreamLog;
  readonly createdAt = new Date();
  /** Monotonic ms (performance.now) at creation and at the first content event: time to first token. */
  readonly startedAt = performance.now();
  firstContentAt: number | undefined;
  /** Monotonic ms of the latest content event (for inter-token gaps) and of the terminal event. */
  lastContentAt: number | undefined;
  endedAt: number | undefined;
  readonly transport: string;
  /** Every upstream attempt so far, in order. */
  readonly attempts: AttemptRecord[] = [];
  /** `retry` events: attempts that failed before content and were tried again. */
  retries = 0;
  readonly policy: DisconnectPolicy;
  /** Fires when the upstream loop has fully unwound (the HTTP request is closed). */
  private readonly settledLatch = new Latch();
  /** Fires right after the terminal event is appended. */
  private readonly endedLatch = new Latch();
  /** What was thrown when the stream ended with `internal_error` (a bug; logged by the server). */
  internalError: unknown;

  private readonly config: StreamsConfig;
  private readonly controller = new AbortController();
  private readonly onEndCb: (generation: StreamGeneration) => void;
  private graceTimer: NodeJS.Timeout | undefined;
  private durationTimer: NodeJS.Timeout | undefined;
  private cancelReason: CancelReason | undefined;
  private readonly meter = new UsageMeter();
  /**
   * The reply assembled as events are appended (O(1) per event), kept only from the moment the
   * log is about to drop the stream's start: until then the log itself is the reply, folded when
   * a conversation or `?include=message` asks (most streams never drop anything, and an
   * assembler per open stream cost a string append per delta and the reply held twice).
   */
  private assembler: MessageAssembler | undefined;
  private readonly keepTurn: GenerationInit['keepTurn'];
  /**
   * The terminal event once the generation decided to end: set before the conversation turn is
   * kept and the event appended, so nothing else is appended or ends it twice meanwhile.
   */
  private ending: TerminalEvent | undefined;
  /** Readers anywhere; the disconnect policy runs only when it is zero. */
  private readerCount = 0;
  private readonly hooks: GenerationHooks | undefined;
  /** Monotonic ms of the first cancel, to time how fast the upstream request closes. */
  private cancelledAt: number | undefined;

  constructor(init: GenerationInit) {
    this.id = init.id;
    this.owner = init.owner;
    this.request = init.request;
    this.upstreamRequest = init.upstreamRequest;
    this.model = init.upstreamRequest.model;
    this.config = init.config;
    this.policy = init.request.on_disconnect ?? 'grace';
    this.onEndCb = init.onEnd;
    this.keepTurn = init.keepTurn;
    this.transport = init.transport ?? 'other';
    this.hooks = init.hooks;
    this.log = new StreamLog(init.config.log);
    this.log.beforeTrim(() => {
      this.assembler = this.fold();
    });
    const conversationId = init.request.conversation_id;
    this.log.append({
      type: 'start',
      stream_id: this.id,
      model: this.model,
      ...(conversationId === undefined ? {} : { conversation_id: conversationId }),
    });
    // Nobody is attached yet (a detached start waits for its EventSource): the grace clock runs.
    this.startGrace();
    if (init.config.maxDurationMs > 0) {
      this.durationTimer = setTimeout(() => this.cancel('timeout'), init.config.maxDurationMs);
      this.durationTimer.unref();
    }
  }

  /** Resolves when the upstream loop has fully unwound (the HTTP request is closed). */
  get settled(): Promise<void> {
    return this.settledLatch.wait();
  }

  /** Resolves right after the terminal event is appended. */
  get ended(): Promise<void> {
    return this.endedLatch.wait();
  }

  /** `fn` once the upstream loop has unwound, in a microtask (as `settled.then(fn)`, with no promise). */
  onSettled(fn: () => void): void {
    this.settledLatch.listen(fn);
  }

  /** `fn` once the terminal event is appended, in a microtask (as `ended.then(fn)`, with no promise). */
  onEnded(fn: () => void): void {
    this.endedLatch.listen(fn);
  }

  get state(): StreamState {
    return stateOf(this.terminal);
  }

  get terminal(): TerminalEvent | undefined {
    return this.log.terminal?.event as TerminalEvent | undefined;
  }

  get lastSeq(): number {
    return this.log.lastSeq;
  }

  /** Usage so far: the upstream's final count once `done` arrived, otherwise an estimate. */
  get usage(): Usage {
    return this.terminal?.usage ?? this.meter.estimate();
  }

  /** How the reply ended: its terminal event (appended, or about to be) and its content. */
  outcome(): StreamOutcome {
    const terminal = this.ending;
    if (terminal === undefined) throw new Error('stream has not ended');
    const assembler = this.assembler ?? this.fold();
    return {
      terminal,
      content: terminal.type === 'done' ? assembler.content() : assembler.completeContent(),
    };
  }

  /** The reply so far as the non-streaming Message (complete once `done`), from the first event on. */
  message(): AssembledMessage {
    return (this.assembler ?? this.fold()).message(this.model, this.terminal, this.usage);
  }

  /** The reply folded from the log, which holds every event while no assembler is kept. */
  private fold(): MessageAssembler {
    return assemble(this.log.readAfter(0).map((entry) => entry.event));
  }

  /**
   * Presence: how many readers the stream has (on every instance). When the last one leaves
   * without having read the terminal event, the disconnect policy starts.
   */
  readers(count: number, exit?: ReaderExit): void {
    this.readerCount = count;
    if (count > 0) {
      this.clearGrace();
      return;
    }
    if (this.ending !== undefined || exit === undefined) return;
    // Cut cursors (slow, replay gone) count as gone clients: they are expected to resume.
    if (exit === 'terminal') return;
    if (this.policy === 'abort') this.cancel('disconnect');
    else this.startGrace();
  }

  /**
   * Aborts the upstream at once and appends `cancelled` with the usage so far. Idempotent: a
   * finished stream is left as it is.
   */
  cancel(reason: CancelReason): void {
    if (this.ending !== undefined) return;
    this.cancelReason = reason;
    this.cancelledAt = performance.now();
    const event: CancelledEvent = { type: 'cancelled', reason, usage: this.meter.estimate() };
    this.finish(event);
  }

  /**
   * Ends the generation with an error that did not come from the upstream (its store went away,
   * another instance already ended it): aborts the upstream and appends one `error`. Idempotent.
   */
  fail(error: RelayError): void {
    if (this.ending !== undefined) return;
    this.finish(this.errorEvent(error));
  }

  /**
   * Runs the upstream into the log; `settled` fires once the upstream is done. Never throws: every
   * ending becomes one terminal event. One pair of promise callbacks, no `await`: an awaiting
   * loop would stay suspended for the whole stream, its frame kept by the upstream's pending
   * promise (see attempt.ts), and a `then`/`then`/`finally` chain kept three promises and their
   * reactions per open stream. The `pull` path below awaits; only fakes use it.
   */
  run(upstream: Upstream): void {
    let running: Promise<void>;
    try {
      const conversation = this.request.conversation_id;
      const hints = {
        onAttempt: this.onAttempt,
        ...(conversation === undefined ? {} : { affinity: conversation }),
      };
      running =
        upstream.push === undefined
          ? this.pull(upstream, hints)
          : // Events arrive in the upstream socket's data callback and are logged there: no async step.
            upstream.push(this.upstreamRequest, this.controller.signal, this.takeAll, hints);
    } catch (err) {
      running = Promise.reject(err);
    }
    void running.then(this.upstreamReturned, this.upstreamThrew);
  }

  private readonly onAttempt = (record: AttemptRecord): void => {
    this.attempts.push(record);
    this.hooks?.attempt?.(this, record);
  };

  private readonly upstreamReturned = (): void => {
    try {
      this.upstreamEnded();
    } catch (err) {
      // A throw in `upstreamEnded` (a bug) ends the stream as any failure does.
      this.upstreamThrew(err);
      return;
    }
    this.unwound();
  };

  private readonly upstreamThrew = (err: unknown): void => {
    try {
      this.upstreamFailed(err);
    } finally {
      this.unwound();
    }
  };

  /** The upstream loop is over, however it ended. */
  private unwound(): void {
    if (this.cancelledAt !== undefined) {
      this.hooks?.upstreamClosed?.(this, performance.now() - this.cancelledAt);
    }
    this.settledLatch.fire();
  }

  /** `Upstream.stream()`, for an upstream without `push`. */
  private async pull(upstream: Upstream, hints: UpstreamHints): Promise<void> {
    for await (const event of upstream.stream(this.upstreamRequest, this.controller.signal, hints)) {
      if (!this.take(event)) break;
    }
  }

  private upstreamEnded(): void {
    if (this.ending === undefined) {
      this.finish(
        this.errorEvent(new RelayError('upstream_error', 'upstream stream ended without message_stop')),
      );
    }
  }

  private upstreamFailed(err: unknown): void {
    if (this.ending !== undefined) return;
    if (this.controller.signal.aborted) this.cancel(this.cancelReason ?? 'shutdown');
    else {
      const error = toRelayError(err);
      // A bug, not an answer: kept (with its stack) for whoever logs ended streams.
      if (!(err instanceof RelayError)) this.internalError = err;
      this.finish(this.errorEvent(error));
    }
  }

  /** An upstream read's events, in order; false once the stream has ended (the rest are dropped). */
  private readonly takeAll = (events: readonly UpstreamEvent[]): boolean => {
    // Indexed: per read, an array iterator is one more object for the scavenger.
    for (let i = 0; i < events.length; i++) if (!this.take(events[i]!)) return false;
    return this.ending === undefined;
  };

  /** Takes one upstream event into the log (or the receipt); false once the stream has ended. */
  private take(event: UpstreamEvent): boolean {
    if (this.ending !== undefined) return false;
    switch (event.type) {
      case 'usage':
        this.meter.report(event.usage);
        break;
      case 'retry':
        this.retries++;
        this.log.append(event);
        break;
      case 'done':
        this.finish(doneEvent(event, this.meter.final()));
        break;
      case 'text':
      case 'thinking':
      case 'tool_use':
      case 'tool_input':
      case 'citation':
      case 'signature':
      case 'block':
      case 'delta':
        this.countContent(event);
        this.log.append(event);
        break;
      default:
        assertNever(event, 'upstream event');
    }
    return true;
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
    const now = performance.now();
    if (this.firstContentAt === undefined) this.firstContentAt = now;
    else this.hooks?.contentGap?.(this, now - (this.lastContentAt ?? now));
    this.lastContentAt = now;
    this.meter.count(event);
    // Before the append: an append that trims the log folds the assembler from it, this event included.
    this.assembler?.add(event);
  }

  private finish(event: TerminalEvent): void {
    if (this.ending !== undefined) return;
    this.ending = event;
    this.clearTimers();
    // Abort before appending, so the upstream's socket is closing while clients read the receipt.
    // After `done` the upstream has finished on its own: no abort, so its connection can be reused.
    if (event.type !== 'done' && !this.controller.signal.aborted) this.controller.abort();
    if (this.keepTurn === undefined) this.end(event);
    else void this.keepTurnThenEnd(this.keepTurn, event);
  }

  /** The conversation's turn is kept first, so whoever sees the terminal event sees it kept. */
  private async keepTurnThenEnd(keep: NonNullable<GenerationInit['keepTurn']>, event: TerminalEvent) {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.resolve().then(() => keep(this, this.outcome())),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, KEEP_TURN_WAIT_MS);
        }),
      ]);
    } catch {
      // The conversation reports its own store failures; the stream ends either way.
    } finally {
      clearTimeout(timer);
    }
    this.end(event);
  }

  private end(event: TerminalEvent): void {
    this.log.append(event);
    this.endedAt = performance.now();
    this.onEndCb(this);
    this.endedLatch.fire();
  }

  private startGrace(): void {
    if (this.ending !== undefined || this.graceTimer !== undefined) return;
    this.graceTimer = setTimeout(() => {
      this.graceTimer = undefined;
      if (this.readerCount === 0) this.cancel('disconnect');
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

/** The terminal `done` from the upstream's: its stop fields as they came, the final usage. */
function doneEvent(event: UpstreamDone, usage: Usage): DoneEvent {
  const done: DoneEvent = { type: 'done', stop_reason: event.stop_reason, usage };
  if (event.stop_details !== undefined) done.stop_details = event.stop_details;
  if (event.stop_sequence !== undefined) done.stop_sequence = event.stop_sequence;
  if (event.container !== undefined) done.container = event.container;
  return done;
}
