/**
 * The Anthropic-compatible endpoint's upstream: each call goes through the official SDK (so the
 * relay's key, the base URL and the API version are handled in one place) and comes back as the
 * upstream's raw Response, body unread, so the transport forwards the bytes as they arrive.
 *
 * The SDK throws on an error status; its APIError still carries the status, the headers and the
 * parsed JSON body, from which the same answer is rebuilt. The SDK never retries here: the client's
 * own SDK does, through the relay, guided by the `retry-after` and `x-should-retry` it passes on.
 */
import Anthropic from '@anthropic-ai/sdk';
import type { ApiCall, ApiPassthrough } from '../core/api-passthrough.js';
import { RelayError } from '../core/errors.js';
import { sdkCredentials } from './target.js';

export interface SdkPassthroughOptions {
  /** The upstream key; '' sends no credential (a keyless compatible API, see target.ts). */
  readonly apiKey: string;
  readonly baseURL?: string;
  /** Deadline for the upstream's response headers (the SDK's `timeout`); the body has none. */
  readonly timeoutMs?: number;
}

export class SdkPassthrough implements ApiPassthrough {
  private readonly client: Anthropic;

  constructor(options: SdkPassthroughOptions) {
    this.client = new Anthropic({
      ...sdkCredentials(options.apiKey),
      ...(options.baseURL ? { baseURL: options.baseURL } : {}),
      maxRetries: 0,
      ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
    });
  }

  async send(call: ApiCall, signal: AbortSignal): Promise<Response> {
    const options = {
      query: call.query,
      headers: call.headers,
      signal,
      stream: call.stream,
      maxRetries: 0,
      ...(call.body === undefined ? {} : { body: call.body }),
    };
    const request =
      call.method === 'GET' ? this.client.get(call.path, options) : this.client.post(call.path, options);
    try {
      return await request.asResponse();
    } catch (err) {
      const answer = toResponseOrRelayError(err);
      if (answer instanceof Response) return answer;
      throw answer;
    }
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
