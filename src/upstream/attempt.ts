/**
 * One upstream attempt: sends the request through the SDK, reads the body straight from the
 * socket (body-reader.ts), decodes its SSE (sse-decoder.ts), maps each event (sdk-events.ts) and
 * keeps the attempt's deadlines. It pushes content, usage and `done` events into a sink and
 * resolves to how it ended; what happens next (retry, fail) is the retry loop's business (anthropic.ts).
 *
 * - Deadlines: no content within `firstTokenTimeoutMs` of the attempt's start (slow headers
 *   included), or no upstream bytes for `idleTimeoutMs` once the response is streaming, aborts the
 *   HTTP request and fails the attempt with `upstream_timeout`. Any bytes count as life for the
 *   idle clock, pings included.
 * - A mid-stream `error` event is classified from its parsed type (retry-policy.ts), as the SDK's
 *   own `Stream` would read it, without building an SDK error for it.
 * - Abort (the stream's signal) ends the attempt quietly wherever it lands, as `aborted`.
 */
import { type default as Anthropic, APIConnectionTimeoutError } from '@anthropic-ai/sdk';
import { Deadline } from '../core/signals.js';
import type { UpstreamEvent, UpstreamSink } from '../core/upstream.js';
import { type BodyReader, readBody } from './body-reader.js';
import { NODE_BODY_ONLY } from './node-fetch.js';
import {
  type AttemptFailure,
  classifyFailure,
  errorEventFailure,
  type TimeoutKind,
  timeoutFailure,
  truncatedFailure,
} from './retry-policy.js';
import { mapRawEvent, newMapperState } from './sdk-events.js';
import { SseDecoder } from './sse-decoder.js';
import { textDeltaEvent } from './text-delta.js';

export interface AttemptDeadlines {
  /** No content event within this long of an attempt's start → upstream_timeout. 0 = none. */
  readonly firstTokenTimeoutMs: number;
  /** No upstream bytes for this long once streaming → upstream_timeout. 0 = none. */
  readonly idleTimeoutMs: number;
}

/** Where one attempt goes: an SDK client bound to a key and base URL, and the secrets to scrub. */
export interface AttemptTarget {
  readonly client: Anthropic;
  /** The client's base URL's host (and port), parsed once: attempt records name it. */
  readonly host: string;
  /** Scrubbed from every upstream message that reaches a client. */
  readonly secrets: readonly string[];
}

/** What an attempt has done so far, readable even when its consumer stopped it early. */
export interface AttemptProgress {
  /** performance.now() of the first content event, once there was one. */
  firstContentAt: number | undefined;
  /** The upstream's `request-id`, once its response headers arrived. */
  requestId?: string | undefined;
  /** `message_start`'s message id and model, once it arrived (for traces). */
  responseId?: string | undefined;
  responseModel?: string | undefined;
}

/** How an attempt ended. */
export type AttemptOutcome =
  | { readonly kind: 'done' }
  | { readonly kind: 'aborted' }
  | {
      readonly kind: 'failed';
      readonly failure: AttemptFailure;
      /** Whether a content event was yielded before the failure (then it is terminal). */
      readonly contentSent: boolean;
    };

/** How an attempt ended for its caller: an outcome, or what the sink threw (rethrown unchanged). */
export type AttemptEnding = { readonly outcome: AttemptOutcome } | { readonly thrown: unknown };

/**
 * Runs one attempt. Pushes content, usage and `done` (the last event of a finished attempt) into
 * `sink`, one array per body chunk (never empty), synchronously from the body's data event;
 * then calls `done` once with its outcome. An upstream failure is the `failed` outcome; what the
 * sink threw comes back unchanged as `thrown` (a bug on the consumer's side, not the upstream's).
 *
 * A callback, not a promise to await: an awaiting caller would stay suspended for as long as the
 * body flows, the body's listeners keeping its frame and its callers' alive (three async frames
 * and their promises, ~3 KB per open stream in a heap snapshot), and even a chain of `then`s
 * keeps a promise and a reaction per link. Only the attempt's object stays while the body flows.
 */
export function runAttempt(
  target: AttemptTarget,
  body: Anthropic.MessageCreateParamsStreaming,
  deadlines: AttemptDeadlines,
  signal: AbortSignal,
  sink: UpstreamSink,
  progress: AttemptProgress | undefined,
  /** Extra request headers (`anthropic-beta`), forwarded as the client sent them. */
  headers: Readonly<Record<string, string>> | undefined,
  done: (ending: AttemptEnding) => void,
): void {
  new Attempt(target, deadlines, signal, sink, progress, done).send(body, headers);
}

/**
 * One attempt's state. A class rather than closures around a call: its methods are shared, and
 * only the few callbacks handed to timers, the signal and the body exist per attempt.
 */
class Attempt {
  private readonly target: AttemptTarget;
  private readonly deadlines: AttemptDeadlines;
  private readonly signal: AbortSignal;
  private readonly sink: UpstreamSink;
  private readonly progress: AttemptProgress | undefined;
  private readonly done: (ending: AttemptEnding) => void;
  private timedOut: TimeoutKind | undefined;
  /**
   * The body reader's `release`, once the answer is in. Only it is kept, not the reader: the
   * reader holds the answer's `Headers` (1.5 KB per open stream), read once for `request-id`.
   */
  private release: BodyReader['release'] | undefined;
  private readonly firstToken: Deadline;
  private readonly idle: Deadline;
  /** performance.now() of the last body chunk (a number field: stored in place, per chunk). */
  private lastEventAt = 0;
  private contentSent = false;
  private failed: AttemptFailure | undefined;
  private finished = false;
  /** The sink said it wants no more: the consumer ended the stream. */
  private stopped = false;
  private sinkError: { error: unknown } | undefined;
  private readonly state = newMapperState();
  private readonly decoder = new SseDecoder();
  /**
   * The sink reads its array synchronously and keeps nothing of it: a text delta goes out in this
   * one array, every chunk. (Emptying a shared array with `length = 0` dropped its backing store:
   * a new one, ~150 B, on the next push, per token.)
   */
  private readonly single: UpstreamEvent[] = [];

  constructor(
    target: AttemptTarget,
    deadlines: AttemptDeadlines,
    signal: AbortSignal,
    sink: UpstreamSink,
    progress: AttemptProgress | undefined,
    done: (ending: AttemptEnding) => void,
  ) {
    this.target = target;
    this.deadlines = deadlines;
    this.signal = signal;
    this.sink = sink;
    this.progress = progress;
    this.done = done;
    // No signal of our own per attempt (a linked controller cost each open stream ~1 KB more):
    // before the response the SDK's own timer, armed with the same first-token deadline, aborts
    // the request; once the body is streaming, a deadline drops the body, which ends the read.
    this.firstToken = new Deadline(deadlines.firstTokenTimeoutMs, () => this.expire('first_token'));
    // Re-arming a timer per event costs more than the event; instead the idle deadline, when it
    // fires, re-arms itself for what is left since the last event.
    this.idle = new Deadline(deadlines.idleTimeoutMs, () => {
      const idleMs = this.deadlines.idleTimeoutMs;
      const quiet = performance.now() - this.lastEventAt;
      if (quiet >= idleMs) this.expire('idle');
      else this.idle.reset(idleMs - quiet);
    });
  }

  /** Sends the request; the attempt ends in `done`, once. */
  send(
    body: Anthropic.MessageCreateParamsStreaming,
    headers: Readonly<Record<string, string>> | undefined,
  ): void {
    let answer: Promise<Response>;
    try {
      this.firstToken.reset();
      // The SDK builds, signs and sends the request and turns error statuses into APIErrors;
      // the body is read here, straight from the socket (see node-fetch.ts).
      const options: Anthropic.RequestOptions = { signal: this.signal, fetchOptions: NODE_BODY_ONLY };
      if (this.deadlines.firstTokenTimeoutMs > 0) options.timeout = this.deadlines.firstTokenTimeoutMs;
      if (headers !== undefined) options.headers = headers;
      answer = this.target.client.messages.create(body, options).asResponse();
    } catch (error) {
      answer = Promise.reject(error);
    }
    answer.then(this.onAnswer, this.failRead);
  }

  private expire(kind: TimeoutKind): void {
    this.timedOut ??= kind;
    this.release?.(false);
  }

  private deliver(batch: readonly UpstreamEvent[]): boolean {
    try {
      if (this.sink(batch)) return true;
      this.stopped = true;
    } catch (error) {
      this.sinkError = { error };
    }
    return false;
  }

  /** Content is on its way: the first-token deadline is met. */
  private contentArrived(): void {
    this.contentSent = true;
    this.firstToken.clear();
    if (this.progress !== undefined) this.progress.firstContentAt = performance.now();
  }

  /** One body chunk: its events leave together, in one call of the sink. False = stop reading. */
  private readonly onChunk = (chunk: Uint8Array): boolean => {
    this.lastEventAt = performance.now();
    // Most chunks are one text delta: read from the bytes (text-delta.ts), else the general path.
    const text = this.decoder.idle ? textDeltaEvent(chunk as Buffer) : undefined;
    if (text !== undefined) {
      // The API's empty openers carry nothing (as the mapper drops them).
      if (text.text === '') return true;
      if (!this.contentSent) this.contentArrived();
      this.single[0] = text;
      return this.deliver(this.single);
    }
    return this.decode(chunk);
  };

  /** The general path: SSE messages, parsed and mapped (sdk-events.ts). */
  private decode(chunk: Uint8Array): boolean {
    const batch: UpstreamEvent[] = [];
    try {
      for (const message of this.decoder.push(chunk)) {
        let event: UpstreamEvent | undefined;
        switch (message.event) {
          // As the SDK's Stream reads it: pings and unnamed messages carry nothing.
          case null:
          case 'ping':
            continue;
          case 'error':
            this.failed = errorEventFailure(message.data, this.target.secrets);
            // The events before it in this read still go out; the attempt has failed either way.
            if (batch.length > 0) this.deliver(batch);
            return false;
          default:
            if (message.data === '') continue;
            event = mapRawEvent(JSON.parse(message.data) as Anthropic.RawMessageStreamEvent, this.state);
        }
        if (event === undefined) continue;
        if (event.type === 'done') {
          this.finished = true;
          batch.push(event);
          this.deliver(batch);
          return false;
        }
        // Besides usage and done, the mapper yields only content events.
        if (!this.contentSent && event.type !== 'usage') this.contentArrived();
        batch.push(event);
      }
    } catch (err) {
      // What the read held before the bad message still goes out first, as it did event by event.
      if (batch.length > 0 && !this.deliver(batch)) return false;
      throw err;
    }
    return batch.length === 0 || this.deliver(batch);
  }

  // Once the body is streaming, abort drops it here: the signal reaches the request only until
  // its headers (node-fetch.ts), and the SDK's link from this signal to its own is let go of
  // when the SDK's response object is collected, so without this a quiet upstream would stay
  // open after an abort until its next bytes.
  private readonly onAbort = (): void => this.release?.(false);

  /** The answer's headers are in: read its body; the attempt ends when the body is done. */
  private readonly onAnswer = (response: Response): void => {
    let read: Promise<void> | undefined;
    try {
      read = this.onResponse(response);
    } catch (error) {
      this.failRead(error);
      return;
    }
    if (read === undefined) this.endRead();
    else read.then(this.endRead, this.failRead);
  };

  /** Starts reading the body (the promise settles when the body is done). */
  private onResponse(response: Response): Promise<void> | undefined {
    const reader = readBody(response);
    this.release = reader.release;
    if (this.progress !== undefined) this.progress.requestId = reader.headers.get('request-id') ?? undefined;
    this.lastEventAt = performance.now();
    this.idle.reset();
    this.signal.addEventListener('abort', this.onAbort, { once: true });
    // A deadline that fired while the headers were on their way (the SDK's timer had not yet),
    // or an abort that came with them.
    if (this.timedOut === undefined && !this.signal.aborted) return reader.read(this.onChunk);
    return undefined;
  }

  /** How the attempt ended, once the request or its body settled; `thrown` = what it failed with. */
  private settle(thrown: { error: unknown } | undefined): AttemptOutcome {
    const { deadlines, signal } = this;
    try {
      if (thrown === undefined) {
        if (this.sinkError !== undefined) throw this.sinkError.error;
        if (this.finished) return { kind: 'done' };
        if (this.stopped || signal.aborted) return { kind: 'aborted' };
        if (this.failed === undefined && this.timedOut === undefined) this.failed = truncatedFailure();
      } else {
        const err = thrown.error;
        if (this.sinkError !== undefined && err === this.sinkError.error) throw err;
        if (signal.aborted) return { kind: 'aborted' };
        // The SDK's timer is the first-token deadline before the response (see the constructor).
        if (
          this.timedOut === undefined &&
          err instanceof APIConnectionTimeoutError &&
          deadlines.firstTokenTimeoutMs > 0
        ) {
          this.timedOut = 'first_token';
        }
        if (this.timedOut === undefined) this.failed = classifyFailure(err, this.target.secrets);
      }
    } finally {
      if (this.progress !== undefined) {
        this.progress.responseId = this.state.messageId;
        this.progress.responseModel = this.state.responseModel;
      }
      signal.removeEventListener('abort', this.onAbort);
      this.release?.(this.finished);
      this.firstToken.clear();
      this.idle.clear();
    }
    if (this.timedOut !== undefined) {
      this.failed = timeoutFailure(
        this.timedOut,
        this.timedOut === 'first_token' ? deadlines.firstTokenTimeoutMs : deadlines.idleTimeoutMs,
      );
    }
    return { kind: 'failed', failure: this.failed ?? truncatedFailure(), contentSent: this.contentSent };
  }

  /** Called once: the outcome, or what the sink threw. */
  private end(thrown: { error: unknown } | undefined): void {
    let ending: AttemptEnding;
    try {
      ending = { outcome: this.settle(thrown) };
    } catch (error) {
      ending = { thrown: error };
    }
    this.done(ending);
  }

  private readonly endRead = (): void => this.end(undefined);
  private readonly failRead = (error: unknown): void => this.end({ error });
}
