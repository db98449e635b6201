/**
 * The seam of the Anthropic-compatible endpoint (`POST /v1/messages` and friends): one API call
 * forwarded as it is, answered with the upstream's own response. The SDK-backed implementation is
 * src/upstream/passthrough.ts; tests may put a fake here.
 */

/** One Anthropic API call as the relay forwards it. */
export interface ApiCall {
  readonly method: 'GET' | 'POST';
  /** The API path, e.g. `/v1/messages` (the upstream's base URL is the implementation's business). */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** The client's JSON body, already checked to be an object. */
  readonly body?: Readonly<Record<string, unknown>>;
  /** Client headers the upstream may see (API version, betas). Never credentials. */
  readonly headers: Readonly<Record<string, string>>;
  /** Whether the body asked for `stream: true` (the answer is SSE). */
  readonly stream: boolean;
}

/**
 * Sends calls upstream with the relay's own credentials. Resolves with the upstream's response
 * whatever its status (an error keeps Anthropic's status, headers and JSON body); rejects with a
 * RelayError only when there is no response at all (unreachable, timed out), or when `signal`
 * aborted.
 */
export interface ApiPassthrough {
  send(call: ApiCall, signal: AbortSignal): Promise<Response>;
}
