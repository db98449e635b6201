/**
 * The Anthropic-compatible endpoint's upstream: each call goes through the official SDK (so the
 * relay's key, the base URL and the API version are handled in one place) and comes back as the
 * upstream's raw Response, body unread, so the transport forwards the bytes as they arrive.
 *
 * The SDK throws on an error status; its APIError still carries the status, the headers and the
 * parsed JSON body, from which the same answer is rebuilt. The SDK never retries here: the client's
 * own SDK does, through the relay, guided by the `retry-after` and `x-should-retry` it passes on.
 *
 * Calls are routed by the upstream pool like the relay's own streams. Until the response's
 * headers are handed to the transport (nothing has reached the client yet) a transient failure or
 * a refused key moves the call to another upstream, each upstream at most once, without waiting:
 * the client's SDK owns backoff. When every upstream failed, the last answer is the client's.
 */
import Anthropic from '@anthropic-ai/sdk';
import type { ApiCall, ApiPassthrough } from '../core/api-passthrough.js';
import { RelayError } from '../core/errors.js';
import { disables, UpstreamPool } from './pool.js';
import { singleUpstream, type UpstreamSpec } from './pool-config.js';
import { classifyFailure } from './retry-policy.js';
import { sdkCredentials } from './target.js';

export interface SdkPassthroughOptions {
  /** The upstreams to route across; without them, `apiKey` (and `baseURL`) make a pool of one. */
  readonly upstreams?: readonly UpstreamSpec[];
  /** Their health, shared with the stream adapter; default a new pool over `upstreams`. */
  readonly pool?: UpstreamPool;
  readonly apiKey?: string;
  readonly baseURL?: string;
  /** Deadline for the upstream's response headers (the SDK's `timeout`); the body has none. */
  readonly timeoutMs?: number;
}

export class SdkPassthrough implements ApiPassthrough {
  readonly pool: UpstreamPool;
  private readonly clients = new Map<string, Anthropic>();
  private readonly secrets: readonly string[];

  constructor(options: SdkPassthroughOptions) {
    const specs = options.upstreams ?? singleUpstream(options.apiKey ?? '', options.baseURL);
    this.pool = options.pool ?? new UpstreamPool(specs, { cooldownMs: 5000 });
    this.secrets = specs.map((s) => s.apiKey);
    for (const spec of specs) {
      this.clients.set(
        spec.name,
        new Anthropic({
          ...sdkCredentials(spec.apiKey),
          baseURL: spec.baseUrl,
          maxRetries: 0,
          ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
        }),
      );
    }
  }

  async send(call: ApiCall, signal: AbortSignal): Promise<Response> {
    const model = typeof call.body?.model === 'string' ? call.body.model : undefined;
    const tried = new Set<string>();
    let last: Response | RelayError | undefined;
    for (;;) {
      const choice = this.pool.choose(model, { tried });
      if (!choice.ok || tried.has(choice.name)) {
        if (last instanceof Response) return last;
        throw (
          last ??
          (choice.ok ? new RelayError('upstream_error', 'no upstream answered') : choice.failure.error)
        );
      }
      const name = choice.name;
      tried.add(name);
      const lease = this.pool.begin(name);
      const startedAt = performance.now();
      try {
        const response = await this.request(name, call, signal);
        lease.end({ kind: 'ok', latencyMs: performance.now() - startedAt });
        return response;
      } catch (err) {
        if (signal.aborted) {
          lease.end({ kind: 'neutral' });
          throw new RelayError('upstream_error', 'the request was aborted', { cause: err });
        }
        const failure = classifyFailure(err, this.secrets);
        lease.end({ kind: 'failed', failure });
        last = toResponseOrRelayError(err);
        if (!failure.retry && !disables(failure)) {
          if (last instanceof Response) return last;
          throw last;
        }
      }
    }
  }

  private request(name: string, call: ApiCall, signal: AbortSignal): Promise<Response> {
    const client = this.clients.get(name);
    if (client === undefined)
      throw new RangeError(`the pool chose "${name}", which this passthrough does not know`);
    const options = {
      query: call.query,
      headers: call.headers,
      signal,
      stream: call.stream,
      maxRetries: 0,
      ...(call.body === undefined ? {} : { body: call.body }),
    };
    const request = call.method === 'GET' ? client.get(call.path, options) : client.post(call.path, options);
    return request.asResponse();
  }
}

/** An APIError with a status becomes the upstream's answer again; anything else is a RelayError. */
function toResponseOrRelayError(err: unknown): Response | RelayError {
  if (err instanceof Anthropic.APIUserAbortError) {
    return new RelayError('upstream_error', 'the request was aborted', { cause: err });
  }
  if (err instanceof Anthropic.APIConnectionTimeoutError) {
    return new RelayError('upstream_timeout', 'the upstream API did not answer in time', { cause: err });
  }
  if (err instanceof Anthropic.APIConnectionError) {
    return new RelayError('upstream_error', 'the upstream API is not reachable', { cause: err });
  }
  // The Response constructor only takes 200-599; anything stranger is not an API answer.
  if (
    err instanceof Anthropic.APIError &&
    err.status !== undefined &&
    err.status >= 200 &&
    err.status <= 599 &&
    err.headers !== undefined
  ) {
    return rebuildErrorResponse(err.status, err.headers, err.error, err.message);
  }
  return new RelayError('upstream_error', 'the upstream request failed', { cause: err });
}

function rebuildErrorResponse(
  status: number,
  upstreamHeaders: Headers,
  body: unknown,
  message: string,
): Response {
  const headers = new Headers(upstreamHeaders);
  // The body is re-serialised below, so its original length and encoding no longer apply.
  headers.delete('content-length');
  headers.delete('content-encoding');
  headers.set('content-type', 'application/json');
  // A non-JSON error (an HTML page from a proxy) still reaches the client in Anthropic's shape.
  const json =
    body !== undefined && body !== null
      ? JSON.stringify(body)
      : JSON.stringify({
          type: 'error',
          error: { type: status >= 500 ? 'api_error' : 'invalid_request_error', message },
        });
  return new Response(json, { status, headers });
}
