/**
 * The relay as an Anthropic base URL: `POST /v1/messages` (streaming or not),
 * `POST /v1/messages/count_tokens`, `GET /v1/models` and `GET /v1/models/:id` answer exactly what
 * the upstream answered — status, Anthropic's event names and payloads, error bodies, `request-id`,
 * `retry-after`, `x-should-retry` — so any Anthropic SDK works unchanged with `baseURL` = the relay.
 *
 * Bytes are forwarded as they arrive, straight onto the Node response (no re-encoding, no extra
 * web-streams hop). The relay holds the upstream key: the client's `x-api-key` / `Authorization`
 * are never forwarded, only the API version and beta headers are; the relay's own secrets are
 * scrubbed from every header value and body byte that comes back (an upstream may echo the key),
 * and a streaming call gets the relay streams' first-token and idle deadlines. A client that
 * disconnects aborts the upstream request at once.
 */
import { once } from 'node:events';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Context } from 'hono';
import type { ApiCall, ApiPassthrough } from '../core/api-passthrough.js';
import { RelayError, shuttingDown } from '../core/errors.js';
import { checkRequestPolicy, type Lease, type Limiter } from '../core/limiter.js';
import type { PassthroughCalls } from '../core/passthrough-calls.js';
import type { Principal } from '../core/principal.js';
import type { SecretScrubber } from '../core/secret-scrubber.js';
import { sleep } from '../core/signals.js';
import { answerErrorsAs } from './error-answers.js';
import { readJsonBody } from './http-body.js';
import { type PassthroughDeadlineSettings, PassthroughDeadlines } from './passthrough-deadlines.js';
import { PassthroughUsage } from './passthrough-usage.js';
import type { RelayApp, RelayEnv } from './relay-env.js';
import type { RequestBudget } from './request-budget.js';

export interface AnthropicCompatDeps {
  /** Undefined when the relay runs on a test upstream with no API behind it. */
  readonly passthrough: ApiPassthrough | undefined;
  readonly bodyLimitBytes: number;
  /** `POST /v1/messages` calls in flight, so a drain can refuse, await and end them. */
  readonly calls?: PassthroughCalls | undefined;
  /** The relay's own secrets, removed from everything the upstream answers. */
  readonly scrubber: SecretScrubber;
  /** Deadlines for streaming calls (`"stream": true`), as for relay streams. */
  readonly deadlines: PassthroughDeadlineSettings;
  /** `/v1/messages` counts against the principal's limits like any stream. */
  readonly limiter: Limiter;
  /** What a request without `max_tokens` reserves (the upstream will refuse it anyway). */
  readonly defaultMaxTokens: number;
  readonly requestBudget?: RequestBudget;
}

type Ctx = Context<RelayEnv>;

/** Client headers the upstream sees: what selects the API's behaviour, never credentials. */
const FORWARDED_REQUEST_HEADERS = ['anthropic-version', 'anthropic-beta'] as const;

/**
 * Upstream response headers never copied: hop-by-hop ones (RFC 9110 §7.6.1), the body's length and
 * encoding (fetch has decoded it and Node re-chunks it), cookies, and the relay's own organization.
 */
const DROPPED_RESPONSE_HEADERS = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'content-length',
  'content-encoding',
  'set-cookie',
  'anthropic-organization-id',
]);

/** The paths whose errors are answered in Anthropic's shape (mounted before authentication). */
export const ANTHROPIC_COMPAT_PATHS = ['/v1/messages', '/v1/messages/*', '/v1/models', '/v1/models/*'];

/** Marks the compat paths' errors as Anthropic-shaped; mount before the authentication middleware. */
export function registerAnthropicErrorShape(app: RelayApp): void {
  for (const path of ANTHROPIC_COMPAT_PATHS) app.use(path, answerErrorsAs('anthropic'));
}

export function registerAnthropicCompatRoutes(app: RelayApp, deps: AnthropicCompatDeps): void {
  app.post('/v1/messages', (c) => forward(c, deps, 'POST', '/v1/messages', deps.calls));
  app.post('/v1/messages/count_tokens', (c) => forward(c, deps, 'POST', '/v1/messages/count_tokens'));
  app.get('/v1/models', (c) => forward(c, deps, 'GET', '/v1/models'));
  app.get('/v1/models/:id', (c) =>
    forward(c, deps, 'GET', `/v1/models/${encodeURIComponent(c.req.param('id'))}`),
  );
}

async function forward(
  c: Ctx,
  deps: AnthropicCompatDeps,
  method: ApiCall['method'],
  path: string,
  calls?: PassthroughCalls,
): Promise<Response> {
  const { incoming, outgoing } = c.env;
  const controller = new AbortController();
  // `close` before our end means the client left: the upstream request must stop now.
  const onClose = (): void => controller.abort();
  outgoing.once('close', onClose);
  // A drain's deadline: before the answer began, abort it and answer shutting_down; once it
  // streams, `pipe` ends it at the next event boundary.
  const stop = new AbortController();
  let piping = false;
  let release: (() => void) | undefined;
  let deadlines: PassthroughDeadlines | undefined;
  let lease: Lease | undefined;
  const usage = new PassthroughUsage();
  try {
    release = calls?.open(() => {
      stop.abort();
      if (!piping) controller.abort();
    });
    const body =
      method === 'POST' ? await readObjectBody(incoming, deps.bodyLimitBytes, deps.requestBudget) : undefined;
    if (path === '/v1/messages' && body !== undefined) lease = await admit(c.var.principal, body, deps);
    const call: ApiCall = {
      method,
      path,
      query: c.req.query(),
      headers: forwardedHeaders(incoming.headers),
      stream: body?.stream === true,
      ...(body === undefined ? {} : { body }),
    };
    if (deps.passthrough === undefined) {
      throw new RelayError(
        'not_found',
        'this relay runs on a test upstream without an Anthropic API behind it',
      );
    }
    if (call.stream) deadlines = new PassthroughDeadlines(deps.deadlines, () => controller.abort());
    const answer = await deps.passthrough.send(call, controller.signal);
    if (stop.signal.aborted) {
      await answer.body?.cancel().catch(() => {});
      throw shuttingDown();
    }
    piping = true;
    const guards = { scrubber: deps.scrubber, deadlines };
    const observe = (chunk: Uint8Array): void => usage.observe(chunk);
    if (await pipe(answer, outgoing, controller.signal, stop.signal, guards, observe)) controller.abort();
    return RESPONSE_ALREADY_SENT;
  } catch (err) {
    // The drain's deadline came before the answer began: it is refused like a new call.
    if (stop.signal.aborted && !outgoing.headersSent) throw shuttingDown();
    // A deadline before the answer began: the relay answers 504 (Anthropic's timeout_error) itself.
    if (deadlines?.expired !== undefined && !outgoing.headersSent) {
      throw new RelayError('upstream_timeout', deadlines.describe());
    }
    // Once the answer has begun (or the client left) nothing can be said any more: cut the socket.
    // Before that, the error is an answer, given by the app's onError in Anthropic's shape.
    if (controller.signal.aborted || outgoing.headersSent) {
      outgoing.destroy();
      return RESPONSE_ALREADY_SENT;
    }
    throw err;
  } finally {
    deadlines?.dispose();
    outgoing.off('close', onClose);
    release?.();
    lease?.settle(usage.total);
  }
}

/** The principal's limits for one `/v1/messages` call: checked and taken before the upstream is called. */
function admit(
  principal: Principal,
  body: Record<string, unknown>,
  deps: AnthropicCompatDeps,
): Promise<Lease> {
  const maxTokens = typeof body.max_tokens === 'number' ? body.max_tokens : deps.defaultMaxTokens;
  const model = typeof body.model === 'string' ? body.model : '';
  checkRequestPolicy(principal.limits, model, maxTokens);
  return deps.limiter.acquire(principal.id, principal.limits, maxTokens);
}

async function readObjectBody(
  incoming: HttpBindings['incoming'],
  limitBytes: number,
  budget: RequestBudget | undefined,
): Promise<Record<string, unknown>> {
  const body = await readJsonBody(incoming, limitBytes, budget);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new RelayError('invalid_request', 'the request body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

function forwardedHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = headers[name];
    if (typeof value === 'string' && value !== '') out[name] = value;
  }
  return out;
}

/** Anthropic's `error` event that ends a stream cut by the drain: SDK clients raise it as an APIError. */
const SHUTDOWN_EVENT = `event: error\ndata: ${JSON.stringify({
  type: 'error',
  error: { type: 'overloaded_error', message: 'the relay is shutting down; retry on another instance' },
})}\n\n`;

/** How long a drain waits for the upstream to finish the event it is in before cutting the socket. */
const STOP_MID_EVENT_MS = 1000;

/**
 * Writes the upstream's answer onto the client's response as the bytes arrive, with backpressure.
 * When `stop` aborts (the drain's deadline) an event stream ends at the next event boundary with
 * Anthropic's `error` event; returns true then, so the caller aborts the upstream request. Every
 * header value and body byte is scrubbed of the relay's secrets on the way; a streaming call's
 * deadlines watch the bytes.
 */
async function pipe(
  answer: Response,
  res: ServerResponse,
  signal: AbortSignal,
  stop: AbortSignal,
  guards: { readonly scrubber: SecretScrubber; readonly deadlines: PassthroughDeadlines | undefined },
  observe: (chunk: Uint8Array) => void,
): Promise<boolean> {
  const { scrubber, deadlines } = guards;
  const isSse = answer.headers.get('content-type')?.startsWith('text/event-stream') === true;
  res.writeHead(answer.status, responseHeaders(answer.headers, isSse, scrubber));
  // Headers now, not with the first chunk: a streaming client sees the answer begin at once.
  res.flushHeaders();
  if (answer.body === null) {
    res.end();
    return false;
  }
  deadlines?.streaming();
  const reader = answer.body.getReader();
  // Scrubbing holds back nothing after a line end, so an SSE frame is never delayed by it.
  const body = scrubber.body();
  // Only an event stream can be ended cleanly early; a JSON body is let through to its end.
  const stopping = isSse ? untilAborted(stop) : undefined;
  let giveUp: Promise<'give_up'> | undefined;
  const giveUpTimer = new AbortController();
  let pending: ReturnType<typeof reader.read> | undefined;
  let atFrameEnd = true;
  let endsWithNewline = true;
  try {
    for (;;) {
      pending ??= reader.read();
      let next: Awaited<typeof pending> | 'stop' | 'give_up';
      if (stopping === undefined) next = await pending;
      else if (!stop.aborted) next = await Promise.race([pending, stopping.promise]);
      else if (atFrameEnd) next = 'stop';
      else {
        // Mid-event: wait for the upstream to finish it, but not for ever.
        giveUp ??= sleep(STOP_MID_EVENT_MS, giveUpTimer.signal).then(() => 'give_up' as const);
        next = await Promise.race([pending, giveUp]);
      }
      if (next === 'give_up') throw new Error('the upstream did not finish its event during shutdown');
      if (next === 'stop') {
        if (!atFrameEnd) continue;
        res.end(SHUTDOWN_EVENT);
        await reader.cancel().catch(() => {});
        return true;
      }
      pending = undefined;
      const { value: raw, done } = next;
      if (done) break;
      if (raw.byteLength === 0) continue;
      deadlines?.chunk(raw);
      const value = body.push(raw);
      if (value.byteLength === 0) continue;
      observe(value);
      if (stop.aborted && isSse) {
        const cut = firstEventEnd(value, endsWithNewline);
        if (cut !== -1) {
          res.write(value.subarray(0, cut));
          res.end(SHUTDOWN_EVENT);
          await reader.cancel().catch(() => {});
          return true;
        }
      }
      atFrameEnd = endsWithBlankLine(value);
      endsWithNewline = value[value.byteLength - 1] === 0x0a;
      if (!res.write(value)) await once(res, 'drain', { signal });
    }
    res.end(body.end());
    return false;
  } catch (err) {
    if (signal.aborted && deadlines?.expired === undefined) throw err;
    // The upstream broke mid-body or went silent. Between SSE frames Anthropic's own `error` event
    // tells an SDK client what happened; inside a frame or a JSON body only a broken connection is
    // honest.
    if (isSse && atFrameEnd) {
      const error =
        deadlines?.expired === undefined
          ? { type: 'api_error', message: 'the upstream connection was lost' }
          : { type: 'timeout_error', message: deadlines.describe() };
      res.end(`event: error\ndata: ${JSON.stringify({ type: 'error', error })}\n\n`);
      return false;
    }
    throw err;
  } finally {
    stopping?.dispose();
    giveUpTimer.abort();
    reader.releaseLock();
  }
}

function endsWithBlankLine(chunk: Uint8Array): boolean {
  const n = chunk.byteLength;
  return n >= 2 && chunk[n - 1] === 0x0a && chunk[n - 2] === 0x0a;
}

/** The index just past the first blank line in `chunk` (an event's end), or -1. */
function firstEventEnd(chunk: Uint8Array, afterNewline: boolean): number {
  if (afterNewline && chunk[0] === 0x0a) return 1;
  for (let i = 1; i < chunk.byteLength; i++) {
    if (chunk[i] === 0x0a && chunk[i - 1] === 0x0a) return i + 1;
  }
  return -1;
}

/** A promise that resolves 'stop' when `signal` aborts, and the way to drop its listener. */
function untilAborted(signal: AbortSignal): { promise: Promise<'stop'>; dispose(): void } {
  let onAbort: (() => void) | undefined;
  const promise = new Promise<'stop'>((resolve) => {
    onAbort = () => resolve('stop');
    if (signal.aborted) resolve('stop');
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return {
    promise,
    dispose: () => {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    },
  };
}

function responseHeaders(headers: Headers, isSse: boolean, scrubber: SecretScrubber): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  // Headers named by `Connection` are hop-by-hop too.
  const named = new Set(
    (headers.get('connection') ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter((h) => h !== ''),
  );
  headers.forEach((value, name) => {
    if (DROPPED_RESPONSE_HEADERS.has(name) || named.has(name) || name.startsWith('proxy-')) return;
    out[name] = scrubber.scrub(value);
  });
  // Keeps a buffering proxy in front of the relay from holding the stream back.
  if (isSse) out['x-accel-buffering'] = 'no';
  return out;
}
