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
 * keeps a promise and a reaction per link. Only the closures here stay while the body flows.
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
  let timedOut: TimeoutKind | undefined;
  /**
   * The body reader's `release`, once the answer is in. Only it is kept, not the reader: the
   * reader holds the answer's `Headers` (1.5 KB per open stream), read once for `request-id`.
   */
  let release: BodyReader['release'] | undefined;
  // No signal of our own per attempt (a linked controller cost each open stream ~1 KB more):
  // before the response the SDK's own timer, armed with the same first-token deadline, aborts
  // the request; once the body is streaming, a deadline drops the body, which ends the read.
  const expire = (kind: TimeoutKind): void => {
    timedOut ??= kind;
    release?.(false);
  };
  const firstToken = new Deadline(deadlines.firstTokenTimeoutMs, () => expire('first_token'));
  // Re-arming a timer per event costs more than the event; instead the idle deadline, when it
  // fires, re-arms itself for what is left since the last event.
  const idleMs = deadlines.idleTimeoutMs;
  let lastEventAt = 0;
  const idle: Deadline = new Deadline(idleMs, () => {
    const quiet = performance.now() - lastEventAt;
    if (quiet >= idleMs) expire('idle');
    else idle.reset(idleMs - quiet);
  });
  let contentSent = false;
  let failed: AttemptFailure | undefined;
  let finished = false;
  /** The sink said it wants no more: the consumer ended the stream. */
  let stopped = false;
  let sinkError: { error: unknown } | undefined;
  const state = newMapperState();
  const deliver = (batch: readonly UpstreamEvent[]): boolean => {
    try {
      if (sink(batch)) return true;
      stopped = true;
    } catch (error) {
      sinkError = { error };
    }
    return false;
  };
  /** Content is on its way: the first-token deadline is met. */
  const contentArrived = (): void => {
    contentSent = true;
    firstToken.clear();
    if (progress !== undefined) progress.firstContentAt = performance.now();
  };
  // The sink reads its array synchronously and keeps nothing of it: a text delta goes out in this
  // one array, every chunk. (Emptying a shared array with `length = 0` dropped its backing store:
  // a new one, ~150 B, on the next push, per token.)
  const single: UpstreamEvent[] = [];
  /** One body chunk: its events leave together, in one call of the sink. False = stop reading. */
  const onChunk = (chunk: Uint8Array): boolean => {
    lastEventAt = performance.now();
    // Most chunks are one text delta: read from the bytes (text-delta.ts), else the general path.
    const text = decoder.idle ? textDeltaEvent(chunk as Buffer) : undefined;
    if (text !== undefined) {
      // The API's empty openers carry nothing (as the mapper drops them).
      if (text.text === '') return true;
      if (!contentSent) contentArrived();
      single[0] = text;
      return deliver(single);
    }
    const batch: UpstreamEvent[] = [];
    try {
      for (const message of decoder.push(chunk)) {
        let event: UpstreamEvent | undefined;
        switch (message.event) {
          // As the SDK's Stream reads it: pings and unnamed messages carry nothing.
          case null:
          case 'ping':
            continue;
          case 'error':
            failed = errorEventFailure(message.data, target.secrets);
            // The events before it in this read still go out; the attempt has failed either way.
            if (batch.length > 0) deliver(batch);
            return false;
          default:
            if (message.data === '') continue;
            event = mapRawEvent(JSON.parse(message.data) as Anthropic.RawMessageStreamEvent, state);
        }
        if (event === undefined) continue;
        if (event.type === 'done') {
          finished = true;
          batch.push(event);
          deliver(batch);
          return false;
        }
        // Besides usage and done, the mapper yields only content events.
        if (!contentSent && event.type !== 'usage') contentArrived();
        batch.push(event);
      }
    } catch (err) {
      // What the read held before the bad message still goes out first, as it did event by event.
      if (batch.length > 0 && !deliver(batch)) return false;
      throw err;
    }
    return batch.length === 0 || deliver(batch);
  };
  const decoder = new SseDecoder();
  // Once the body is streaming, abort drops it here: the signal reaches the request only until
  // its headers (node-fetch.ts), and the SDK's link from this signal to its own is let go of
  // when the SDK's response object is collected, so without this a quiet upstream would stay
  // open after an abort until its next bytes.
  const onAbort = (): void => release?.(false);
  /** The answer's headers are in: read its body (the promise settles when the body is done). */
  const onResponse = (response: Response): Promise<void> | undefined => {
    const reader = readBody(response);
    release = reader.release;
    if (progress !== undefined) progress.requestId = reader.headers.get('request-id') ?? undefined;
    lastEventAt = performance.now();
    idle.reset();
    signal.addEventListener('abort', onAbort, { once: true });
    // A deadline that fired while the headers were on their way (the SDK's timer had not yet),
    // or an abort that came with them.
    if (timedOut === undefined && !signal.aborted) return reader.read(onChunk);
    return undefined;
  };
  /** How the attempt ended, once the request or its body settled; `thrown` = what it failed with. */
  const settle = (thrown: { error: unknown } | undefined): AttemptOutcome => {
    try {
      if (thrown === undefined) {
        if (sinkError !== undefined) throw sinkError.error;
        if (finished) return { kind: 'done' };
        if (stopped || signal.aborted) return { kind: 'aborted' };
        if (failed === undefined && timedOut === undefined) failed = truncatedFailure();
      } else {
        const err = thrown.error;
        if (sinkError !== undefined && err === sinkError.error) throw err;
        if (signal.aborted) return { kind: 'aborted' };
        // The SDK's timer is the first-token deadline before the response (see expire).
        if (
          timedOut === undefined &&
          err instanceof APIConnectionTimeoutError &&
          deadlines.firstTokenTimeoutMs > 0
        ) {
          timedOut = 'first_token';
        }
        if (timedOut === undefined) failed = classifyFailure(err, target.secrets);
      }
    } finally {
      if (progress !== undefined) {
        progress.responseId = state.messageId;
        progress.responseModel = state.responseModel;
      }
      signal.removeEventListener('abort', onAbort);
      release?.(finished);
      firstToken.clear();
      idle.clear();
    }
    if (timedOut !== undefined) {
      failed = timeoutFailure(timedOut, timedOut === 'first_token' ? deadlines.firstTokenTimeoutMs : idleMs);
    }
    return { kind: 'failed', failure: failed ?? truncatedFailure(), contentSent };
  };
  /** Called once: the outcome, or what the sink threw. */
  const end = (thrown: { error: unknown } | undefined): void => {
    let ending: AttemptEnding;
    try {
      ending = { outcome: settle(thrown) };
    } catch (error) {
      ending = { thrown: error };
    }
    done(ending);
  };
  const endRead = (): void => end(undefined);
  const failRead = (error: unknown): void => end({ error });
  let answer: Promise<Response>;
  try {
    firstToken.reset();
    // The SDK builds, signs and sends the request and turns error statuses into APIErrors;
    // the body is read here, straight from the socket (see node-fetch.ts).
    const options: Anthropic.RequestOptions = { signal };
    if (deadlines.firstTokenTimeoutMs > 0) options.timeout = deadlines.firstTokenTimeoutMs;
    if (headers !== undefined) options.headers = headers;
    answer = target.client.messages.create(body, options).asResponse();
  } catch (error) {
    answer = Promise.reject(error);
  }
  answer.then((response) => {
    let read: Promise<void> | undefined;
    try {
      read = onResponse(response);
    } catch (error) {
      failRead(error);
      return;
    }
    if (read === undefined) endRead();
    else read.then(endRead, failRead);
  }, failRead);
}
