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
import {
  pulledFrom,
  type Upstream,
  type UpstreamEvent,
  type UpstreamHints,
  type UpstreamSink,
} from '../core/upstream.js';
import {
  type AttemptDeadlines,
  type AttemptOutcome,
  type AttemptProgress,
  type AttemptTarget,
  runAttempt,
} from './attempt.js';
import { describeAttempt, hostOf } from './attempt-record.js';
import { createNodeFetch, type NodeFetch } from './node-fetch.js';
import { type AttemptReport, type Choice, disables, UpstreamPool } from './pool.js';
import { singleUpstream, type UpstreamSpec } from './pool-config.js';
import { type AttemptFailure, decideRetry, type RetryOptions } from './retry-policy.js';
import { sdkCredentials } from './target.js';

export interface AnthropicUpstreamOptions extends AttemptDeadlines {
  /** The upstreams to route across (see pool.ts). */
  readonly upstreams?: readonly UpstreamSpec[];
  /** Their health, shared with the passthrough; default a new pool over `upstreams`. */
  readonly pool?: UpstreamPool;
  /** Without `upstreams`: one key (and base URL), a pool of one called `anthropic`. */
  readonly apiKey?: string;
  readonly baseURL?: string;
  /** Cooldown of a new pool; default 5 s. */
  readonly cooldownMs?: number;
  readonly retry: RetryOptions;
  /** Jitter source, for tests; default Math.random. */
  readonly random?: () => number;
}

export class AnthropicUpstream implements Upstream {
  readonly pool: UpstreamPool;
  private readonly options: AnthropicUpstreamOptions;
  private readonly targets = new Map<string, AttemptTarget>();
  private readonly deadlines: AttemptDeadlines;
  private readonly random: () => number;
  private readonly http: NodeFetch;

  constructor(options: AnthropicUpstreamOptions) {
    this.options = options;
    this.random = options.random ?? Math.random;
    this.http = createNodeFetch();
    this.deadlines = {
      firstTokenTimeoutMs: options.firstTokenTimeoutMs,
      idleTimeoutMs: options.idleTimeoutMs,
    };
    const specs = options.upstreams ?? singleUpstream(options.apiKey ?? '', options.baseURL);
    this.pool = options.pool ?? new UpstreamPool(specs, { cooldownMs: options.cooldownMs ?? 5000 });
    // Every key is scrubbed from every upstream message, whichever upstream sent it.
    const secrets = specs.map((s) => s.apiKey);
    for (const spec of specs) {
      // The relay owns retries (it must not retry after content was sent), so the SDK never retries.
      const client = new Anthropic({
        ...sdkCredentials(spec.apiKey),
        baseURL: spec.baseUrl,
        maxRetries: 0,
        fetch: this.http.fetch,
        // The SDK's own spans would go to the global tracer provider, which the relay never sets
        // (its spans use a provider of its own, src/tracing): a no-op span per start, ~0.07 ms.
        openTelemetry: false,
      });
      this.targets.set(spec.name, { client, host: hostOf(client.baseURL), secrets });
    }
  }

  /** Closes the pooled upstream connections. */
  close(): void {
    this.http.close();
  }

  /**
   * Yields content, usage and `done` events; before any content, a `retry` event precedes each new
   * attempt (`attempt` = the number of the attempt that failed, so retries count from 1; `upstream`
   * = where the next one goes). Throws a RelayError on failure; returns quietly when `signal` aborts.
   */
  stream(req: UpstreamRequest, signal: AbortSignal, hints: UpstreamHints = {}): AsyncIterable<UpstreamEvent> {
    return pulledFrom((stop, sink) => this.push(req, stop, sink, hints), signal);
  }

  /**
   * `stream()`'s events pushed into `sink`, one array per body chunk (see Upstream.push).
   *
   * The retry loop is callbacks (attemptOn, retryAfter), not an awaiting loop: see runAttempt.
   */
  push(
    req: UpstreamRequest,
    signal: AbortSignal,
    sink: UpstreamSink,
    hints: UpstreamHints = {},
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // The request was validated at the edge; the SDK's types are stricter than our pass-through shape.
      const { betas, ...params } = req;
      const body = { ...params, stream: true } as unknown as Anthropic.MessageCreateParamsStreaming;
      // Beta features are opted into by header, forwarded unchanged (one comma-separated value).
      const headers = betas === undefined ? undefined : { 'anthropic-beta': betas.join(',') };
      const route = {
        tried: new Set<string>(),
        ...(hints.affinity === undefined ? {} : { affinity: hints.affinity }),
      };
      const loop: RetryLoop = {
        model: req.model,
        body,
        headers,
        signal,
        sink,
        hints,
        startedAt: performance.now(),
        route,
        resolve,
        reject,
      };
      this.attemptOn(loop, 1, this.pool.choose(req.model, route));
    });
  }

  /** Attempt number `attempt` where `choice` says, then the retry that may follow it. */
  private attemptOn(loop: RetryLoop, attempt: number, choice: Choice): void {
    try {
      if (!choice.ok) {
        if (!choice.failure.retry) throw choice.failure.error;
        this.retryAfter(loop, attempt, choice, choice.failure);
        return;
      }
      const { hints } = loop;
      const name = choice.name;
      loop.route.tried.add(name);
      const lease = this.pool.begin(name);
      const progress: AttemptProgress = { firstContentAt: undefined };
      const attemptStart = performance.now();
      const attemptStartedAt = Date.now();
      const target = this.targetOf(name);
      runAttempt(
        target,
        loop.body,
        this.deadlines,
        loop.signal,
        loop.sink,
        progress,
        loop.headers,
        (ending) => {
          try {
            // A sink that throws ends the attempt without an outcome: reported as aborted anyway.
            const outcome: AttemptOutcome = 'outcome' in ending ? ending.outcome : { kind: 'aborted' };
            // However the attempt ended, a consumer that stopped it early included.
            const at = progress.firstContentAt;
            if (at !== undefined && hints.affinity !== undefined) this.pool.remember(hints.affinity, name);
            const failure = outcome.kind === 'failed' ? outcome.failure : undefined;
            lease.end(
              reportOf(failure, outcome.kind === 'done', at === undefined ? undefined : at - attemptStart),
            );
            hints.onAttempt?.(
              describeAttempt(attempt, attemptStartedAt, name, target.host, outcome, progress),
            );
            if ('thrown' in ending) throw ending.thrown;
            if (outcome.kind !== 'failed') {
              loop.resolve();
              return;
            }
            // After content a retry would repeat output the client already has: the failure is terminal.
            if (outcome.contentSent) throw outcome.failure.error;
            this.retryAfter(loop, attempt, choice, outcome.failure);
          } catch (error) {
            loop.reject(error);
          }
        },
      );
    } catch (error) {
      loop.reject(error);
    }
  }

  /**
   * After attempt number `attempt` (on `from`) failed with `failed`: a retry event, a wait, the
   * next attempt; or the failure, thrown, when no retry is left.
   */
  private retryAfter(loop: RetryLoop, attempt: number, from: Choice, failed: AttemptFailure): void {
    const fromName = from.ok ? from.name : undefined;
    let choice = this.pool.choose(loop.model, loop.route);
    // Nowhere left to go (every upstream disabled): the failure that got us here is the answer.
    if (!choice.ok && !choice.failure.retry) throw failed.error;
    const failover = choice.ok && !loop.route.tried.has(choice.name);
    // A refused key disables its upstream; the stream moves on like after a 529 (unless that
    // upstream was the last one, which the pool keeps: then the refusal is the answer).
    const moves = choice.ok && fromName !== undefined && choice.name !== fromName;
    const failure = moves && disables(failed) ? { ...failed, retry: true } : failed;
    const decision = decideRetry(
      failure,
      attempt,
      performance.now() - loop.startedAt,
      this.options.retry,
      this.random,
      failover,
    );
    if (decision.kind === 'fail') throw decision.error;
    const retry: UpstreamEvent = {
      type: 'retry',
      attempt,
      delay_ms: decision.delayMs,
      reason: failed.reason,
      ...(choice.ok ? { upstream: choice.name } : {}),
    };
    if (!loop.sink([retry])) {
      loop.resolve();
      return;
    }
    sleep(decision.delayMs, loop.signal).then((slept) => {
      if (!slept) {
        loop.resolve();
        return;
      }
      // Waiting for capacity: ask again now that the wait is over.
      if (!choice.ok) choice = this.pool.choose(loop.model, loop.route);
      this.attemptOn(loop, attempt + 1, choice);
    }, loop.reject);
  }

  private targetOf(name: string): AttemptTarget {
    const target = this.targets.get(name);
    if (target === undefined)
      throw new RangeError(`the pool chose "${name}", which this adapter does not know`);
    return target;
  }
}

/** One `push`: what every attempt of it shares. */
interface RetryLoop {
  readonly model: string;
  readonly body: Anthropic.MessageCreateParamsStreaming;
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly signal: AbortSignal;
  readonly sink: UpstreamSink;
  readonly hints: UpstreamHints;
  readonly startedAt: number;
  /** Where the pool may send the next attempt; `tried` = the upstreams this push has tried. */
  readonly route: { readonly tried: Set<string>; readonly affinity?: string };
  /** Settle push's promise: finished, stopped or aborted; or failed. */
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** An attempt's ending as the pool's health sees it. */
function reportOf(
  failure: AttemptFailure | undefined,
  finished: boolean,
  latencyMs: number | undefined,
): AttemptReport {
  if (failure !== undefined) return { kind: 'failed', failure };
  if (latencyMs !== undefined) return { kind: 'ok', latencyMs };
  return finished ? { kind: 'ok' } : { kind: 'neutral' };
}
