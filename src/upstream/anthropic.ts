/**
 * The upstream adapter: Anthropic's Messages API through the official SDK, turned into upstream
 * events. This file is the retry loop; one attempt (request, body, decoder, mapper, deadlines)
 * is attempt.ts.
 *
 * - Streams with `messages.create({stream: true})`, not `messages.stream()`: the latter copies a
 *   message snapshot on every event, which the relay never reads. bench/profile-sdk.ts measured
 *   it at 11-21 % more client CPU per token (6.5 vs 5.4 ms per 1000 tokens, Node 20, 2 cores).
 * - The SDK never retries (`maxRetries: 0`); see retry-policy.ts for what the relay retries,
 *   only while no content event has been yielded.
 * - A deadline that fires before content (see attempt.ts) counts as a retryable failure like any
 *   other transient one (a stuck upstream node is exactly what a new attempt can route around),
 *   within the same budget. The idle clock sees every byte, pings included: an upstream that only
 *   pings (a long server-tool call) is kept; one that sends nothing is cut.
 * - Abort (the stream's signal) ends the iteration quietly, wherever it lands: in the request, the
 *   body or a backoff sleep.
 */
import Anthropic from '@anthropic-ai/sdk';
import type { UpstreamRequest } from '../core/request.js';
import { sleep } from '../core/signals.js';
import type { Upstream, UpstreamEvent } from '../core/upstream.js';
import { type AttemptTarget, runAttempt } from './attempt.js';
import { createNodeFetch, type NodeFetch } from './node-fetch.js';
import { decideRetry, type RetryOptions } from './retry-policy.js';
import { sdkCredentials } from './target.js';

export interface AnthropicUpstreamOptions {
  /** The upstream key; '' sends no credential (a keyless compatible API, see target.ts). */
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
  private readonly target: AttemptTarget;
  private readonly random: () => number;
  private readonly http: NodeFetch;

  constructor(options: AnthropicUpstreamOptions) {
    this.options = options;
    this.random = options.random ?? Math.random;
    this.http = createNodeFetch();
    // The relay owns retries (it must not retry after content was sent), so the SDK never retries.
    this.client = new Anthropic({
      ...sdkCredentials(options.apiKey),
      ...(options.baseURL ? { baseURL: options.baseURL } : {}),
      maxRetries: 0,
      fetch: this.http.fetch,
    });
    this.target = { client: this.client, secrets: [options.apiKey] };
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
    const deadlines = {
      firstTokenTimeoutMs: this.options.firstTokenTimeoutMs,
      idleTimeoutMs: this.options.idleTimeoutMs,
    };
    for (let attempt = 1; ; attempt++) {
      const outcome = yield* runAttempt(this.target, body, deadlines, signal);
      if (outcome.kind !== 'failed') return;
      const failed = outcome.failure;
      // After content a retry would repeat output the client already has: the failure is terminal.
      if (outcome.contentSent) throw failed.error;
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
