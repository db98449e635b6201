/**
 * The upstream adapter: Anthropic's Messages API through the official SDK, turned into upstream
 * events, with the relay's own retries and deadlines.
 *
 * - Streams with `messages.create({stream: true})`, not `messages.stream()`: the latter copies a
 *   message snapshot on every event, which the relay never reads. bench/profile-sdk.ts measured
 *   it at 11-21 % more client CPU per token (6.5 vs 5.4 ms per 1000 tokens, Node 20, 2 cores).
 * - The SDK never retries (`maxRetries: 0`); see retry-policy.ts for what the relay retries,
 *   only while no content event has been yielded.
 * - Deadlines: no content within `firstTokenTimeoutMs` of an attempt's start (slow headers
 *   included), or no upstream event for `idleTimeoutMs` once the response is streaming, aborts
 *   the HTTP request and fails the attempt with `upstream_timeout`. Before content that counts as
 *   a retryable failure like any other transient one (a stuck upstream node is exactly what a new
 *   attempt can route around), within the same budget. The idle clock sees only the events the
 *   SDK yields, and the SDK drops `ping`: an upstream that only pings (a long server-tool call)
 *   for longer than the idle timeout is cut, so keep `idleTimeoutMs` above such pauses.
 * - Abort (the stream's signal) ends the iteration quietly, wherever it lands: in the request, the
 *   body or a backoff sleep.
 */
import Anthropic, { APIError } from '@anthropic-ai/sdk';
import type { UpstreamRequest } from '../core/request.js';
import { Deadline, linkAbort, sleep } from '../core/signals.js';
import type { Upstream, UpstreamEvent } from '../core/upstream.js';
import { createNodeFetch, type NodeFetch, takeNodeBody } from './node-fetch.js';
import {
  type AttemptFailure,
  classifyFailure,
  decideRetry,
  type RetryOptions,
  type TimeoutKind,
  timeoutFailure,
  truncatedFailure,
} from './retry-policy.js';
import { type MapperState, mapRawEvent, newMapperState } from './sdk-events.js';
import { SseDecoder, type SseMessage } from './sse-decoder.js';

export interface AnthropicUpstreamOptions {
  readonly apiKey: string;
  readonly baseURL?: string;
  /** No content event within this long of an attempt's start → upstream_timeout. 0 = none. */
  readonly firstTokenTimeoutMs: number;
  /** No upstream event for this long once streaming → upstream_timeout. 0 = none. */
  readonly idleTimeoutMs: number;
  readonly retry: RetryOptions;
  /** Jitter source, for tests; default Math.random. */
  readonly random?: () => number;
}

export class AnthropicUpstream implements Upstream {
  readonly client: Anthropic;
  private readonly options: AnthropicUpstreamOptions;
  private readonly secrets: readonly string[];
  private readonly random: () => number;
  private readonly http: NodeFetch;

  constructor(options: AnthropicUpstreamOptions) {
    this.options = options;
    this.secrets = [options.apiKey];
    this.random = options.random ?? Math.random;
    this.http = createNodeFetch();
    // The relay owns retries (it must not retry after content was sent), so the SDK never retries.
    this.client = new Anthropic({
      apiKey: options.apiKey,
      ...(options.baseURL ? { baseURL: options.baseURL } : {}),
      maxRetries: 0,
      fetch: this.http.fetch,
    });
  }

  /** Closes the pooled upstream connections. */
  close(): void {
    this.http.close();
  }

  /**
   * Yields content, usage and `done` events; before any content, a `retry` event precedes each new
   * attempt (`attempt` = the number of the attempt that failed, so retries count from 1). Throws a
   * RelayError on failure; returns quietly when `signal` aborts.
   */
  async *stream(req: UpstreamRequest, signal: AbortSignal): AsyncGenerator<UpstreamEvent, void, undefined> {
    // The request was validated at the edge; the SDK's types are stricter than our pass-through shape.
    const body = { ...req, stream: true } as unknown as Anthropic.MessageCreateParamsStreaming;
    const startedAt = performance.now();
    let contentSent = false;
    for (let attempt = 1; ; attempt++) {
      // One linked signal per attempt: the deadlines abort it (and so the HTTP request) without
      // touching the stream's own signal.
      const link = linkAbort(signal);
      let timedOut: TimeoutKind | undefined;
      const expire = (kind: TimeoutKind): void => {
        timedOut ??= kind;
        link.abort(new Error(`upstream ${kind} timeout`));
      };
      const firstToken = new Deadline(this.options.firstTokenTimeoutMs, () => expire('first_token'));
      // Re-arming a timer per event costs more than the event; instead the idle deadline, when it
      // fires, re-arms itself for what is left since the last event.
      const idleMs = this.options.idleTimeoutMs;
      let lastEventAt = 0;
      const idle: Deadline = new Deadline(idleMs, () => {
        const quiet = performance.now() - lastEventAt;
        if (quiet >= idleMs) expire('idle');
        else idle.reset(idleMs - quiet);
      });
      let failed: AttemptFailure | undefined;
      let reader: BodyReader | undefined;
      let finished = false;
      try {
        if (!contentSent) firstToken.reset();
        // The SDK builds, signs and sends the request and turns error statuses into APIErrors;
        // the body is read here, straight from the socket (see node-fetch.ts).
        reader = bodyChunks(await this.client.messages.create(body, { signal: link.signal }).asResponse());
        lastEventAt = performance.now();
        idle.reset();
        const state = newMapperState();
        const decoder = new SseDecoder();
        for await (const chunk of reader.chunks) {
          // Any bytes count as life for the idle clock, pings included.
          lastEventAt = performance.now();
          for (const message of decoder.push(chunk)) {
            const event = toUpstreamEvent(message, state, reader.headers);
            if (event === undefined) continue;
            if (event.type === 'done') {
              finished = true;
              yield event;
              return;
            }
            // Besides usage and done, the mapper yields only content events.
            if (!contentSent && event.type !== 'usage') {
              contentSent = true;
              firstToken.clear();
            }
            yield event;
          }
        }
        if (signal.aborted) return;
        if (timedOut === undefined) failed = truncatedFailure();
      } catch (err) {
        if (signal.aborted) return;
        if (timedOut === undefined) failed = classifyFailure(err, this.secrets);
      } finally {
        reader?.release(finished);
        firstToken.clear();
        idle.clear();
        link.dispose();
      }
      if (timedOut !== undefined) {
        const ms = timedOut === 'first_token' ? this.options.firstTokenTimeoutMs : idleMs;
        failed = timeoutFailure(timedOut, ms);
      }
      if (failed === undefined) return;
      // After content a retry would repeat output the client already has: the failure is terminal.
      if (contentSent) throw failed.error;
      const decision = decideRetry(
        failed,
        attempt,
        performance.now() - startedAt,
        this.options.retry,
        this.random,
      );
      if (decision.kind === 'fail') throw decision.error;
      yield { type: 'retry', attempt, delay_ms: decision.delayMs, reason: failed.reason };
      if (!(await sleep(decision.delayMs, signal))) return;
    }
  }
}

interface BodyReader {
  readonly chunks: AsyncIterable<Uint8Array>;
  /** The response's headers (for the APIError of an `error` event). */
  readonly headers: Headers;
  release(finished: boolean): void;
}

/**
 * The response body's chunks: the Node stream when node-fetch kept it aside, else the web body.
 * Only the body and the headers are kept; the Response wrapper is not needed once read.
 * `release(finished)`: after `message_stop` only the body's terminator is left, so the body is
 * drained and its keep-alive socket goes back to the pool; otherwise (a consumer that stopped
 * early, a failure) it is destroyed, which closes the upstream request at once.
 */
function bodyChunks(response: Response): BodyReader {
  const node = takeNodeBody(response);
  const headers = response.headers;
  if (node !== undefined) {
    return {
      headers,
      chunks: node.iterator({ destroyOnReturn: false }),
      release: (finished) => {
        if (node.readableEnded || node.destroyed) return;
        if (finished) node.resume();
        else node.destroy();
      },
    };
  }
  // Node's web ReadableStream is async-iterable; the DOM typings do not say so.
  return {
    headers,
    chunks: (response.body as AsyncIterable<Uint8Array> | null) ?? EMPTY_BODY,
    release: () => {},
  };
}

const EMPTY_BODY: AsyncIterable<Uint8Array> = {
  async *[Symbol.asyncIterator]() {},
};

/**
 * One SSE message of an Anthropic stream → an upstream event, as the SDK's own `Stream` reads it:
 * `ping` and unnamed messages are passed over, an `error` message throws the APIError the SDK
 * would throw, anything else is a JSON event for the mapper.
 */
function toUpstreamEvent(
  message: SseMessage,
  state: MapperState,
  headers: Headers,
): UpstreamEvent | undefined {
  switch (message.event) {
    case null:
    case 'ping':
      return undefined;
    case 'error': {
      const parsed = parseJson(message.data) as { error?: { type?: string } } | undefined;
      const type = parsed?.error?.type;
      throw new APIError(undefined, parsed ?? message.data, undefined, headers, type as APIError['type']);
    }
    default: {
      if (message.data === '') return undefined;
      return mapRawEvent(JSON.parse(message.data) as Anthropic.RawMessageStreamEvent, state);
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
