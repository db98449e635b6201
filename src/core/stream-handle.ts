/**
 * What any instance can do with a stream, wherever it is generated: read its state, attach a
 * cursor from a resume point, cancel it. Transports and metrics talk to this, never to the log
 * behind it, so the storage can change (in memory, or a replica of a log kept in Redis).
 */
import { RelayError } from './errors.js';
import type { CancelReason, TerminalEvent, Usage } from './events.js';
import { type AssembledMessage, assembleMessage } from './message.js';
import {
  Cursor,
  type CursorLimits,
  type CursorOutcome,
  type CursorSink,
  type ReaderTag,
  type StreamLog,
} from './stream-log.js';

export type StreamState = 'running' | 'done' | 'error' | 'cancelled';

export interface StreamSnapshot {
  stream_id: string;
  state: StreamState;
  model: string;
  last_seq: number;
  usage: Usage;
  created_at: string;
}

/** How the last reader on an instance went away (a cursor that wrote the terminal event is not a gone client). */
export type ReaderExit = CursorOutcome['kind'] | 'detached';

export interface StreamHandle {
  readonly id: string;
  /** Who may read, resume and cancel it. */
  readonly owner: string;
  readonly model: string;
  readonly state: StreamState;
  /** Highest seq this instance has seen. */
  readonly lastSeq: number;
  /** The stream's one terminal event (with its seq), once it has one. */
  readonly terminal: (TerminalEvent & { seq: number }) | undefined;
  /** Cursors attached on this instance. */
  readonly readerCount: number;
  /**
   * Checks a resume point: throws `invalid_request` past the last seq and `replay_unavailable` when
   * events after it were dropped; false when nothing is left to send, true when a cursor should follow.
   * A replica that has not caught up with `after` yet first waits briefly for the events to arrive.
   */
  resumeFrom(after: number): Promise<boolean>;
  /**
   * A cursor that writes every event after `after` into `sink`, then follows live; `reader` names
   * the transport for the metrics (resumes, replays, relay-added first-token time, cuts).
   */
  attach(sink: CursorSink, after?: number, reader?: ReaderTag): Cursor;
  /**
   * Aborts the generation (wherever it runs) with a `cancelled` terminal event; idempotent, a
   * finished stream stays as it is. Resolves once this instance has seen the terminal event (or
   * the store gave up waiting for it).
   */
  cancel(reason: CancelReason): Promise<void>;
  snapshot(): Promise<StreamSnapshot>;
  /**
   * The reply so far folded into the Message the API returns non-streaming (`content` exactly as
   * it would be), from the generation's own assembler wherever the store can reach it; otherwise
   * folded from this instance's log, which throws `replay_unavailable` once the log no longer
   * holds the stream's start.
   */
  message(): Promise<AssembledMessage>;
  /** Resolves once no cursor is attached on this instance. */
  drained(): Promise<void>;
  /** Detaches every cursor on this instance without telling their sinks (the store forgets the stream). */
  detachAll(): void;
}

/** The state a terminal event puts a stream in; `running` without one. */
export function stateOf(terminal: TerminalEvent | undefined): StreamState {
  if (terminal === undefined) return 'running';
  switch (terminal.type) {
    case 'done':
      return 'done';
    case 'error':
      return 'error';
    case 'cancelled':
      return 'cancelled';
    default:
      return assertTerminal(terminal);
  }
}

function assertTerminal(value: never): never {
  throw new RelayError('internal_error', `unknown terminal event ${JSON.stringify(value)}`);
}

/** What a handle asks of whoever runs the generation: a direct call in memory, a message over Redis. */
export interface StreamControl {
  cancel(reason: CancelReason): Promise<void> | void;
  /** Usage so far while the stream runs (an estimate until the upstream's final count). */
  usage(): Promise<Usage> | Usage;
  /**
   * A client knows of events past this instance's copy (it read them elsewhere): wait, bounded,
   * until the copy has them. Absent where the log is the generation's own.
   */
  catchUp?(after: number): Promise<void>;
  /** Presence: the number of readers on this instance changed; `exit` says how the last one left. */
  readers(count: number, exit?: ReaderExit): void;
  /**
   * The reply as the generation assembled it (it survives the log's bounds); undefined when the
   * store cannot reach it (a replica of a running stream), and the handle folds its log instead.
   */
  message?(): Promise<AssembledMessage | undefined> | AssembledMessage | undefined;
}

export interface StreamMeta {
  readonly id: string;
  readonly owner: string;
  readonly model: string;
  /** ISO 8601. */
  readonly createdAt: string;
}

/**
 * A handle over a log this instance holds (the generation's own log, or a local replica of it):
 * cursors read the log, presence and cancels go to the control.
 */
export class LogHandle implements StreamHandle {
  readonly id: string;
  readonly owner: string;
  readonly model: string;
  private readonly createdAt: string;
  private readonly log: StreamLog;
  private readonly control: StreamControl;
  private readonly limits: CursorLimits;
  /** Usually one; replaced, not grown (a pushed-to array reserves 17 slots, a Set as much). */
  private cursors: readonly Cursor[] = [];
  private readonly drainWaiters: (() => void)[] = [];

  constructor(meta: StreamMeta, log: StreamLog, control: StreamControl, limits: CursorLimits) {
    this.id = meta.id;
    this.owner = meta.owner;
    this.model = meta.model;
    this.createdAt = meta.createdAt;
    this.log = log;
    this.control = control;
    this.limits = limits;
  }

  get state(): StreamState {
    return stateOf(this.terminal);
  }

  get lastSeq(): number {
    return this.log.lastSeq;
  }

  get terminal(): (TerminalEvent & { seq: number }) | undefined {
    return this.log.terminal?.event as (TerminalEvent & { seq: number }) | undefined;
  }

  get readerCount(): number {
    return this.cursors.length;
  }

  async resumeFrom(after: number): Promise<boolean> {
    if (after > this.log.lastSeq && !this.log.ended) await this.control.catchUp?.(after);
    return this.log.resumeFrom(after);
  }

  attach(sink: CursorSink, after = 0, reader?: ReaderTag): Cursor {
    const cursor = new Cursor(this.log, sink, after, this.limits, reader, this.onCursorClose);
    const cursors: Cursor[] = new Array(this.cursors.length + 1);
    for (let i = 0; i < this.cursors.length; i++) cursors[i] = this.cursors[i]!;
    cursors[this.cursors.length] = cursor;
    this.cursors = cursors;
    this.control.readers(this.cursors.length);
    cursor.start();
    return cursor;
  }

  async cancel(reason: CancelReason): Promise<void> {
    if (this.log.ended) return;
    await this.control.cancel(reason);
  }

  async snapshot(): Promise<StreamSnapshot> {
    const terminal = this.terminal;
    return {
      stream_id: this.id,
      state: stateOf(terminal),
      model: this.model,
      last_seq: this.log.lastSeq,
      usage: terminal?.usage ?? (await this.control.usage()),
      created_at: this.createdAt,
    };
  }

  async message(): Promise<AssembledMessage> {
    const assembled = await this.control.message?.();
    if (assembled !== undefined) return assembled;
    const terminal = this.terminal;
    const usage = terminal?.usage ?? (await this.control.usage());
    return assembleMessage(
      this.model,
      this.log.readAfter(0).map((entry) => entry.event),
      terminal,
      usage,
    );
  }

  drained(): Promise<void> {
    if (this.cursors.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  detachAll(): void {
    for (const cursor of [...this.cursors]) cursor.detach();
  }

  private readonly onCursorClose = (cursor: Cursor, outcome: CursorOutcome | { kind: 'detached' }): void => {
    this.cursors = this.cursors.filter((c) => c !== cursor);
    if (this.cursors.length === 0) for (const resolve of this.drainWaiters.splice(0)) resolve();
    this.control.readers(this.cursors.length, outcome.kind);
  };
}
