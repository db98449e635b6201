/**
 * The stream log is the buffer: an append-only, bounded, numbered list of relay events. Every
 * subscriber is a cursor into it that writes at the pace its socket accepts, so the upstream loop
 * never waits for a client and a slow client lags instead of growing a queue.
 */
import { type ErrorCode, RelayError } from './errors.js';
import { isContent, isTerminal, type RelayEvent, type RelayEventBody } from './events.js';
import { TokenEvent } from './token-event.js';

export interface LogEntry {
  readonly seq: number;
  /**
   * The event's type, without reaching into the event (a packed entry parses its event only on
   * demand). Every entry a log hands out has it; optional for entries built by hand.
   */
  readonly type?: RelayEvent['type'];
  readonly event: RelayEvent;
  /** The event serialised once, shared by every transport and every cursor. */
  readonly json: string;
}

/**
 * An entry read back from the log's strings (live or packed): its event is parsed only if a reader
 * asks (the SSE and WebSocket encoders need only `type` and `json`). Made per read and short-lived.
 */
class LazyEntry implements LogEntry {
  constructor(
    readonly seq: number,
    readonly type: RelayEvent['type'],
    readonly json: string,
  ) {}

  get event(): RelayEvent {
    return JSON.parse(this.json) as RelayEvent;
  }
}

/**
 * A finished log's events in one string: retained streams wait minutes for a resume that rarely
 * comes, and an object per event (plus its text twice: in the event and in its JSON) cost about
 * four times the events' serialised size. Entries are cut out of it again only when read.
 */
interface Packed {
  /** Every held event's JSON, back to back. */
  readonly text: string;
  /** End offset in `text` of each event's JSON. */
  readonly ends: Uint32Array;
  readonly types: readonly RelayEvent['type'][];
  /** Seq of the first held event. */
  readonly first: number;
}

export interface LogLimits {
  /** Most events kept; older ones are dropped (a resume from before them gets replay_unavailable). */
  readonly maxEvents: number;
  /** Most bytes of serialised events kept. */
  readonly maxBytes: number;
}

export class StreamLog {
  private readonly limits: LogLimits;
  /**
   * Each held event's JSON and type, oldest first from `head` (seqs run on to `last`). No object
   * per event: every event object a live log kept survived the young generation's collections
   * while its stream ran, and copying and promoting them was most of the relay's GC per token.
   */
  private jsons: string[] = [];
  private types: RelayEvent['type'][] = [];
  /** Index in `jsons`/`types` of the oldest held event; compacted lazily to avoid O(n) shifts. */
  private head = 0;
  private bytes = 0;
  private last = 0;
  private terminalEntry: LogEntry | undefined;
  /** Set once the log has ended; `jsons` and `types` are then empty. */
  private packed: Packed | undefined;
  /**
   * Replaced, never mutated, on (un)subscribe: an append iterates the array it started with while
   * a listener unsubscribes (a cursor that ends). Usually one or two; a Set cost 150 B per log.
   */
  private listeners: readonly (() => void)[] = NO_LISTENERS;
  /** Told once, right before the log first drops events from its start (see `beforeTrim`). */
  private trimListener: (() => void) | undefined;
  /**
   * Seq and monotonic ms (performance.now) of the first content event this log got: one timestamp
   * per stream, from which a cursor measures the time the relay added before a client saw it.
   */
  private firstContent: { readonly seq: number; readonly at: number } | undefined;

  constructor(limits: LogLimits) {
    this.limits = limits;
  }

  /** Highest seq appended so far (0 before the first event). */
  get lastSeq(): number {
    return this.last;
  }

  /** Lowest seq still held. */
  get firstSeq(): number {
    if (this.packed !== undefined) return this.packed.first;
    return this.last - (this.jsons.length - this.head) + 1;
  }

  get terminal(): LogEntry | undefined {
    return this.terminalEntry;
  }

  get ended(): boolean {
    return this.terminalEntry !== undefined;
  }

  /** The first content event's seq and arrival (performance.now), once there is one. */
  get firstContentArrival(): { readonly seq: number; readonly at: number } | undefined {
    return this.firstContent;
  }

  get size(): { events: number; bytes: number } {
    const events = this.packed === undefined ? this.jsons.length - this.head : this.packed.ends.length;
    return { events, bytes: this.bytes };
  }

  /**
   * Numbers and stores an event. The log takes ownership of `body` (it gains its `seq`). Nothing is
   * appended after a terminal event: the first terminal wins, later ones return undefined.
   */
  append(body: RelayEventBody): LogEntry | undefined {
    if (this.terminalEntry !== undefined) return undefined;
    const event = body as RelayEvent;
    const seq = ++this.last;
    event.seq = seq;
    const json = (body instanceof TokenEvent ? body.json(seq) : undefined) ?? JSON.stringify(event);
    // Both are ropes until flattened: Node 20's JSON.stringify joins its growing buffer's parts (32,
    // 64, … chars), and a token event's JSON is a concatenation on every runtime; a held rope was up
    // to five heap objects. Reading a character flattens it in place (one object after the next GC);
    // the check keeps the read from being optimised away, and cost ~60 ns where a regular-expression
    // test cost ~170.
    if (json.charCodeAt(0) !== OPEN_BRACE) throw new Error('an event did not serialise to a JSON object');
    this.jsons.push(json);
    this.types.push(event.type);
    this.bytes += json.length;
    // Handed back (and kept only when terminal); the log itself holds the JSON alone.
    const entry: LogEntry = { seq, type: event.type, event, json };
    if (isTerminal(body)) {
      this.terminalEntry = entry;
      this.evict();
      // Nothing is dropped from an ended log; the listener's owner (a generation) may go.
      this.trimListener = undefined;
      this.pack();
    } else {
      if (this.firstContent === undefined && isContent(body))
        this.firstContent = { seq: entry.seq, at: performance.now() };
      this.evict();
    }
    const listeners = this.listeners;
    for (let i = 0; i < listeners.length; i++) listeners[i]!();
    return entry;
  }

  /** Replaces the ended log's strings by one string (see Packed); the terminal entry stays whole. */
  private pack(): void {
    const count = this.jsons.length - this.head;
    const ends = new Uint32Array(count);
    const parts = this.head === 0 ? this.jsons : this.jsons.slice(this.head);
    let end = 0;
    for (let i = 0; i < count; i++) {
      end += parts[i]!.length;
      ends[i] = end;
    }
    // A copy sized exactly: the live array carries its growth slack.
    const types = this.types.slice(this.head);
    // `join` builds one flat string in one copy; `+=` made a rope node per event (~20 B each,
    // garbage once flattened) and the flattening copy besides.
    this.packed = { text: parts.join(''), ends, types, first: this.firstSeq };
    this.jsons = [];
    this.types = [];
    this.head = 0;
  }

  private readPacked(packed: Packed, after: number, limit: BatchLimits | undefined): readonly LogEntry[] {
    const count = packed.ends.length;
    const from = after + 1 - packed.first;
    let to = count;
    if (limit !== undefined) {
      to = Math.min(count, from + Math.max(1, limit.maxEvents));
      let bytes = 0;
      for (let i = from; i < to; i++) {
        bytes += packed.ends[i]! - (i === 0 ? 0 : packed.ends[i - 1]!);
        if (bytes > limit.maxBytes && i > from) {
          to = i;
          break;
        }
      }
    }
    const out: LogEntry[] = [];
    for (let i = from; i < to; i++) {
      const seq = packed.first + i;
      if (seq === this.terminalEntry?.seq) out.push(this.terminalEntry);
      else {
        const start = i === 0 ? 0 : packed.ends[i - 1]!;
        out.push(new LazyEntry(seq, packed.types[i]!, packed.text.slice(start, packed.ends[i]!)));
      }
    }
    return out;
  }

  /**
   * Entries with seq > `after`, oldest first; at most `limit`'s events and bytes when given (but
   * always at least one). Throws `replay_unavailable` when some of them were already dropped by
   * the bounds.
   */
  readAfter(after: number, limit?: BatchLimits): readonly LogEntry[] {
    if (after >= this.last) return EMPTY;
    const first = this.firstSeq;
    if (after + 1 < first) {
      throw new RelayError(
        'replay_unavailable',
        `events ${after + 1}..${first - 1} are no longer held; the oldest available seq is ${first}`,
      );
    }
    if (this.packed !== undefined) return this.readPacked(this.packed, after, limit);
    const jsons = this.jsons;
    const from = this.head + (after + 1 - first);
    let to = jsons.length;
    if (limit !== undefined) {
      const end = Math.min(to, from + Math.max(1, limit.maxEvents));
      to = from + 1;
      let bytes = jsons[from]!.length;
      while (to < end) {
        bytes += jsons[to]!.length;
        if (bytes > limit.maxBytes) break;
        to++;
      }
    }
    // Seq of jsons[i] is first + (i - head): the held events are numbered without gaps.
    const out: LogEntry[] = new Array(to - from);
    for (let i = from; i < to; i++)
      out[i - from] = new LazyEntry(first + i - this.head, this.types[i]!, jsons[i]!);
    return out;
  }

  /**
   * Checks a resume point for any transport: throws `invalid_request` past the last seq and
   * `replay_unavailable` when events after it were dropped; returns false when nothing is left to
   * send (the stream ended and the client has everything), true when a cursor should follow.
   */
  resumeFrom(after: number): boolean {
    const last = this.last;
    if (after > last)
      throw new RelayError('invalid_request', `after=${after} is beyond this stream's last seq ${last}`);
    if (this.ended && after === last) return false;
    if (after + 1 < this.firstSeq) this.readAfter(after);
    return true;
  }

  /** Calls `listener` after every append; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.listen(listener);
    return () => this.unlisten(listener);
  }

  /** `subscribe` without the unsubscribe closure: undone by `unlisten` with the same function. */
  listen(listener: () => void): void {
    if (this.listeners.includes(listener)) return;
    // Sized exactly: a spread or push would reserve 17 slots (150 B) for the usual one or two.
    const next: (() => void)[] = new Array(this.listeners.length + 1);
    for (let i = 0; i < this.listeners.length; i++) next[i] = this.listeners[i]!;
    next[this.listeners.length] = listener;
    this.listeners = next;
  }

  unlisten(listener: () => void): void {
    if (this.listeners.includes(listener)) this.listeners = this.listeners.filter((l) => l !== listener);
  }

  /**
   * Calls `listener` once, right before the bounds first drop events from the log's start (the
   * newest event is already in): whoever folds the whole stream from the log can take it over then.
   */
  beforeTrim(listener: () => void): void {
    this.trimListener = listener;
  }

  get listenerCount(): number {
    return this.listeners.length;
  }

  /**
   * For a replica of a log kept elsewhere: the next append gets `seq`, and everything held before
   * it counts as dropped (cursors behind it get `replay_unavailable` or `slow_consumer`, as if the
   * bounds had evicted it). Used when the source's own bounds dropped events the replica never saw.
   */
  skipTo(seq: number): void {
    if (this.terminalEntry !== undefined || seq <= this.last + 1) return;
    this.jsons = [];
    this.types = [];
    this.head = 0;
    this.bytes = 0;
    this.last = seq - 1;
  }

  private evict(): void {
    // Always keep the newest entry so a finished stream can answer with its terminal event.
    while (
      this.jsons.length - this.head > 1 &&
      (this.jsons.length - this.head > this.limits.maxEvents || this.bytes > this.limits.maxBytes)
    ) {
      if (this.trimListener !== undefined) {
        const listener = this.trimListener;
        this.trimListener = undefined;
        listener();
      }
      this.bytes -= this.jsons[this.head++]!.length;
    }
    if (this.head > 1024 && this.head * 2 > this.jsons.length) {
      this.jsons = this.jsons.slice(this.head);
      this.types = this.types.slice(this.head);
      this.head = 0;
    }
  }
}

const EMPTY: readonly LogEntry[] = Object.freeze([]);
const OPEN_BRACE = 0x7b;
const NO_LISTENERS: readonly (() => void)[] = Object.freeze([]);

/** How much one cursor write may carry (a replay is written batch by batch, each on drain). */
export interface BatchLimits {
  readonly maxEvents: number;
  /** Serialised bytes (JSON characters); a single larger event still goes alone. */
  readonly maxBytes: number;
}

/** Where a cursor writes: a transport's socket. */
export interface CursorSink {
  /**
   * False while the socket's buffer is over its high-water mark, so that a `'drain'` will follow
   * (a new cursor on a busy socket waits instead of adding its replay to the queue).
   */
  ready(): boolean;
  /** Writes a batch in one go; returns false when the socket's buffer is over its high-water mark. */
  write(entries: readonly LogEntry[]): boolean;
  /** Calls `onDrain` once when the buffer has drained; returns a function that cancels the wait. */
  waitDrain(onDrain: () => void): () => void;
  /** The cursor is finished: it wrote the terminal event, or it was cut (slow, replay gone). */
  end(outcome: CursorOutcome): void;
}

export type CursorOutcome = { kind: 'terminal' } | { kind: 'cut'; error: RelayError };

/** What bounds a cursor: how far behind the live edge it may fall, and how much one write carries. */
export interface CursorLimits {
  /**
   * Events a blocked cursor may fall behind the live edge before it is cut as a slow consumer. Lag
   * counts only events appended after the cursor started: a replay backlog is not lag.
   */
  readonly maxLagEvents: number;
  /** Most events and bytes per write. */
  readonly batch: BatchLimits;
}

/**
 * What cursors tell metrics about their readers, each call labelled with the transport that
 * attached the cursor. Called per cursor, never per event.
 */
export interface ReaderHooks {
  /**
   * A cursor started at resume point `after` (0 for a new reader); `replayed` events were already
   * in the log past it, so they are sent from the log rather than live.
   */
  attached?(transport: string, after: number, replayed: number): void;
  /**
   * The cursor handed its first content event to its socket `ms` after the log got it; only for a
   * cursor that was following when the first content arrived (a late reader's wait is not the relay's).
   */
  firstContent?(transport: string, ms: number): void;
  /** The cursor was cut: `slow_consumer` (fell behind) or `replay_unavailable` (asked too late). */
  cut?(transport: string, code: ErrorCode): void;
}

/** Who reads through a cursor, for its hooks: the transport's name and where to report. */
export interface ReaderTag {
  readonly transport: string;
  readonly hooks: ReaderHooks;
}

export interface CursorOptions extends CursorLimits {
  /** Who reads: reported to at start, first content and cut (absent: nobody listens). */
  readonly reader?: ReaderTag | undefined;
  /** Told once when the cursor stops for any reason (after `sink.end` when that was called). */
  readonly onClose?: CursorClose | undefined;
}

export type CursorClose = (cursor: Cursor, outcome: CursorOutcome | { kind: 'detached' }) => void;

/**
 * Cursors with appended events to write, flushed together once per turn of the event loop: one
 * `setImmediate` per turn for the process instead of one per cursor per event. A cursor with more
 * backlog than one batch queues itself again during the flush, so it goes on the next turn (the
 * queue is swapped before it is run) and other sockets get theirs first.
 */
let queued: (Cursor | undefined)[] = [];
let queuedCount = 0;
let spare: (Cursor | undefined)[] = [];
let flushScheduled = false;

function enqueue(cursor: Cursor): void {
  queued[queuedCount++] = cursor;
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(runQueue);
  }
}

function runQueue(): void {
  flushScheduled = false;
  const run = queued;
  const count = queuedCount;
  queued = spare;
  queuedCount = 0;
  let i = 0;
  try {
    for (; i < count; i++) run[i]!.flushQueued();
  } finally {
    // A sink that threw must not strand the cursors after it: they go on the next turn.
    for (i++; i < count; i++) enqueue(run[i]!);
    // Slots cleared, not `length = 0`: that dropped the array's storage, so every turn of the
    // event loop grew a new one; the two arrays keep the largest turn's size (a pointer a cursor).
    run.fill(undefined, 0, count);
    spare = run;
  }
}

/**
 * A subscriber's position in a log. It batches the events that are ready (up to `batch`) into one
 * write, writes the next batch on the next turn while the socket accepts more, waits for the
 * socket to drain when it does not, and never buffers anything of its own: whatever a client has
 * not read yet stays in the log, so a replay costs the socket at most one batch beyond its mark.
 */
export class Cursor {
  private readonly log: StreamLog;
  private readonly sink: CursorSink;
  /** Shared by every cursor of a store (a per-cursor copy with the reader in it cost 270 B). */
  private readonly limits: CursorLimits;
  private readonly reader: ReaderTag | undefined;
  private readonly onClose: CursorClose | undefined;
  private position: number;
  /** The log's last seq when the cursor started: events up to it are replay, not lag. */
  private liveFrom = 0;
  private closed = false;
  private started = false;
  /** True once this cursor has written something: a later gap means it lagged, not that it came late. */
  private wroteAny = false;
  /** Whether the first content event is still to be written (only tracked when a reader listens). */
  private awaitingContent: boolean;
  private cancelDrain: (() => void) | undefined;
  /** In the shared flush queue (see `enqueue`). */
  private queued = false;

  /** `reader` and `onClose`, when given, win over `options`' own (so `options` can be shared). */
  constructor(
    log: StreamLog,
    sink: CursorSink,
    after: number,
    options: CursorOptions,
    reader?: ReaderTag,
    onClose?: CursorClose,
  ) {
    this.log = log;
    this.sink = sink;
    this.limits = options;
    this.reader = reader ?? options.reader;
    this.onClose = onClose ?? options.onClose;
    this.position = after;
    this.awaitingContent = this.reader?.hooks.firstContent !== undefined;
  }

  /** Seq of the last event this cursor wrote. */
  get seq(): number {
    return this.position;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Writes what is already in the log at once (replay), then follows live appends. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.liveFrom = Math.max(this.position, this.log.lastSeq);
    const reader = this.reader;
    reader?.hooks.attached?.(reader.transport, this.position, this.liveFrom - this.position);
    // Content already in the log when this reader came is a replay: no relay-added latency to measure.
    const first = this.log.firstContentArrival;
    if (first !== undefined && first.seq <= this.liveFrom) this.awaitingContent = false;
    this.log.listen(this.onAppend);
    this.flush();
  }

  /** Stops without telling the sink (the transport went away). */
  detach(): void {
    this.close({ kind: 'detached' });
  }

  private readonly onAppend = (): void => {
    if (this.closed) return;
    if (this.cancelDrain !== undefined) {
      if (this.log.lastSeq - Math.max(this.position, this.liveFrom) > this.limits.maxLagEvents) {
        this.cut(
          new RelayError(
            'slow_consumer',
            `client fell more than ${this.limits.maxLagEvents} events behind; resume after seq ${this.position}`,
          ),
        );
      }
      return;
    }
    if (!this.queued && this.beforeFirstContent()) {
      // The first token goes out as soon as the callback that brought it returns (with whatever
      // came in the same read), not at the end of the poll phase: in a start burst that phase also
      // runs every other new request, and the first tokens waited behind all of them.
      this.queued = true;
      // A closure made once per cursor, only then: a bound method kept per cursor would cost every open stream.
      queueMicrotask(() => this.flushQueued());
      return;
    }
    // Batch every event appended in this turn of the event loop into one socket write.
    this.flushSoon();
  };

  /** True until this cursor has written the stream's first content event. */
  private beforeFirstContent(): boolean {
    const first = this.log.firstContentArrival;
    return first === undefined || this.position < first.seq;
  }

  private flushSoon(): void {
    if (this.queued) return;
    this.queued = true;
    enqueue(this);
  }

  /** The shared queue's turn came (see `enqueue`), or the first content's microtask. */
  flushQueued(): void {
    this.queued = false;
    this.flush();
  }

  private readonly onDrain = (): void => {
    this.cancelDrain = undefined;
    this.flush();
  };

  private flush(): void {
    if (this.closed || this.cancelDrain !== undefined) return;
    if (!this.sink.ready()) {
      this.cancelDrain = this.sink.waitDrain(this.onDrain);
      return;
    }
    let batch: readonly LogEntry[];
    try {
      batch = this.log.readAfter(this.position, this.limits.batch);
    } catch (err) {
      const error = err as RelayError;
      // A cursor that was already reading lost events because it lagged; a fresh one asked too late.
      this.cut(
        this.wroteAny
          ? new RelayError('slow_consumer', `client fell behind the log; ${error.message}`)
          : error,
      );
      return;
    }
    if (batch.length === 0) return;
    const last = batch[batch.length - 1]!;
    this.position = last.seq;
    this.wroteAny = true;
    const ok = this.sink.write(batch);
    if (this.awaitingContent) this.reportFirstContent(last.seq);
    if (this.closed) return; // the sink may detach us synchronously (socket gone)
    if (this.log.terminal !== undefined && last.seq === this.log.terminal.seq) {
      this.sink.end({ kind: 'terminal' });
      this.close({ kind: 'terminal' });
      return;
    }
    if (!ok) this.cancelDrain = this.sink.waitDrain(this.onDrain);
    // More backlog than one batch: the next one on the next turn, so other sockets get theirs.
    else if (last.seq < this.log.lastSeq) this.flushSoon();
  }

  /** Once per cursor: the batch just written reached the first content event. */
  private reportFirstContent(lastWritten: number): void {
    const first = this.log.firstContentArrival;
    if (first === undefined || lastWritten < first.seq) return;
    this.awaitingContent = false;
    const reader = this.reader;
    reader?.hooks.firstContent?.(reader.transport, performance.now() - first.at);
  }

  private cut(error: RelayError): void {
    if (this.closed) return;
    const outcome: CursorOutcome = { kind: 'cut', error };
    const reader = this.reader;
    reader?.hooks.cut?.(reader.transport, error.code);
    this.release();
    this.sink.end(outcome);
    this.onClose?.(this, outcome);
  }

  private close(outcome: CursorOutcome | { kind: 'detached' }): void {
    if (this.closed) return;
    this.release();
    this.onClose?.(this, outcome);
  }

  private release(): void {
    this.closed = true;
    this.log.unlisten(this.onAppend);
    this.cancelDrain?.();
    this.cancelDrain = undefined;
    // A queued flush finds the cursor closed and does nothing.
  }
}
