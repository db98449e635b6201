/**
 * `POST /v1/chat/completions`: OpenAI's Chat Completions API in front of the relay core. Each
 * request is a relay stream that aborts on disconnect (so retries, limits, cancel on disconnect and
 * metrics apply as on every route); a streamed answer is encoded chunk by chunk from the stream's
 * log, a whole one is folded from it.
 *
 * A streamed answer opens (status and headers) with the first content event, not before: a request
 * the upstream refuses, or that fails before any content, still gets an HTTP error status (the SDK
 * raises BadRequestError, RateLimitError …) instead of a 200 with an error inside. Retries before
 * content happen while the client waits for the headers, as they would with OpenAI.
 */
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { assertNever, type RelayEvent } from '../../core/events.js';
import type { StreamHandle, StreamRegistry } from '../../core/streams.js';
import { ownedBy } from '../authenticate.js';
import { readJsonBody } from '../http-body.js';
import type { RelayApp } from '../relay-env.js';
import { addressKey } from '../remote-address.js';
import type { RequestBudget } from '../request-budget.js';
import { streamToSse } from '../sse-response.js';
import { type CompletionMeta, chatChunkEncoder } from './chunks.js';
import { CompletionFold } from './completion.js';
import { cancelledErrorResponse, fromErrorEvent, openaiErrorResponse } from './errors.js';
import { follow } from './follow.js';
import { type ChatCall, toChatCall } from './request.js';

export interface OpenAIChatDeps {
  readonly registry: StreamRegistry;
  readonly bodyLimitBytes: number;
  /** Request bytes held at once across the relay; a body past it is refused with `overloaded`. */
  readonly requestBudget?: RequestBudget;
  readonly pingMs: number;
  /** RELAY_DEFAULT_MAX_TOKENS: reasoning budgets are added on top of it when no limit is given. */
  readonly defaultMaxTokens: number;
}

/** Errors thrown here reach the app's onError, which answers them in OpenAI's shape (see index.ts). */
export function registerOpenAIChatRoute(app: RelayApp, deps: OpenAIChatDeps): void {
  app.post('/v1/chat/completions', async (c) => {
    const { incoming, outgoing } = c.env;
    const body = await readJsonBody(incoming, deps.bodyLimitBytes, deps.requestBudget);
    const call = toChatCall(body, { maxTokens: deps.defaultMaxTokens });
    const stream = await deps.registry.create(call.request, {
      ...ownedBy(c.var.principal),
      address: addressKey(incoming.socket.remoteAddress),
      transport: 'openai',
    });
    const meta: CompletionMeta = {
      id: `chatcmpl-${stream.id}`,
      model: stream.model,
      created: Math.floor(Date.now() / 1000),
    };
    return call.stream
      ? answerStreamed(stream, call, meta, outgoing, deps.pingMs)
      : answerWhole(stream, meta, outgoing);
  });
}

/** Content (or the end) decides how the answer opens; `start` and `retry` events do not. */
function opens(event: RelayEvent): boolean {
  return event.type !== 'start' && event.type !== 'retry';
}

async function answerStreamed(
  stream: StreamHandle,
  call: ChatCall,
  meta: CompletionMeta,
  res: HttpBindings['outgoing'],
  pingMs: number,
): Promise<Response> {
  const first = await follow(stream, res, opens);
  switch (first.kind) {
    case 'gone':
      return RESPONSE_ALREADY_SENT;
    case 'cut':
      return openaiErrorResponse(first.error);
    case 'reached':
      break;
    default:
      return assertNever(first, 'follow outcome');
  }
  const event = first.event;
  if (event.type === 'error') return openaiErrorResponse(fromErrorEvent(event));
  if (event.type === 'cancelled') return cancelledErrorResponse(event.reason);
  if (res.destroyed) {
    // The client left as the answer was about to open: the waiting cursor was its last reader.
    first.release();
    return RESPONSE_ALREADY_SENT;
  }
  // The SSE cursor replays from the start; only then may the waiting cursor go (the stream aborts
  // when its last subscriber leaves).
  streamToSse(res, stream, 0, {
    encode: chatChunkEncoder(meta, call.includeUsage),
    open: ':ok\n\n',
    pingMs,
    headers: { 'x-stream-id': stream.id },
  });
  first.release();
  return RESPONSE_ALREADY_SENT;
}

async function answerWhole(
  stream: StreamHandle,
  meta: CompletionMeta,
  res: HttpBindings['outgoing'],
): Promise<Response> {
  const fold = new CompletionFold(meta);
  const end = await follow(stream, res, (event) => fold.add(event));
  switch (end.kind) {
    case 'gone':
      return RESPONSE_ALREADY_SENT;
    case 'cut':
      return openaiErrorResponse(end.error);
    case 'reached':
      return fold.answer({ 'x-stream-id': stream.id });
    default:
      return assertNever(end, 'follow outcome');
  }
}
