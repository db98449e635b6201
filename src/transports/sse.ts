/**
 * The SSE transport: DESIGN.md's `/v1/streams` routes, an adapter of the core's registry and cursors.
 */
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { RelayError } from '../core/errors.js';
import { parseAnthropicBeta, parseStreamRequest } from '../core/request.js';
import { mintConversation, type StreamRegistry } from '../core/streams.js';
import { ownedBy } from './authenticate.js';
import { readJsonBody } from './http-body.js';
import type { RelayApp } from './relay-env.js';
import { addressKey } from './remote-address.js';
import type { RequestBudget } from './request-budget.js';
import { streamToSse } from './sse-response.js';
import { sseFrames } from './wire.js';

export interface SseDeps {
  readonly registry: StreamRegistry;
  readonly bodyLimitBytes: number;
  /** Request bytes held at once across the relay; a body past it is refused with `overloaded`. */
  readonly requestBudget?: RequestBudget;
  readonly pingMs: number;
}

export function registerSseRoutes(app: RelayApp, deps: SseDeps): void {
  const { registry } = deps;
  const sse = { encode: sseFrames, pingMs: deps.pingMs, reader: registry.reader('sse') };

  app.post('/v1/streams', async (c) => {
    const { incoming, outgoing } = c.env;
    // Minted here (not only in the registry) so this answer can name the new conversation.
    const req = mintConversation(
      parseStreamRequest(await readJsonBody(incoming, deps.bodyLimitBytes, deps.requestBudget)),
    );
    const betas = parseAnthropicBeta(c.req.header('anthropic-beta'));
    const stream = await registry.create(req, {
      ...ownedBy(c.var.principal),
      transport: 'sse',
      ...(betas === undefined ? {} : { betas }),
      address: addressKey(c.env.incoming.socket.remoteAddress),
    });
    const conversationId = req.conversation_id;
    const conversation = conversationId === undefined ? {} : { conversation_id: conversationId };
    if (wantsJson(c.req.header('accept'))) {
      const base = `/v1/streams/${stream.id}`;
      return c.json(
        {
          stream_id: stream.id,
          events_url: `${base}/events`,
          cancel_url: `${base}/cancel`,
          ...conversation,
        },
        201,
        { location: base },
      );
    }
    streamToSse(outgoing, stream, 0, {
      ...sse,
      headers: {
        'x-stream-id': stream.id,
        ...(conversationId === undefined ? {} : { 'x-conversation-id': conversationId }),
      },
    });
    return RESPONSE_ALREADY_SENT;
  });

  app.get('/v1/streams/:id/events', async (c) => {
    const stream = await registry.open(c.req.param('id'), c.var.principal.id);
    // EventSource sends Last-Event-ID on reconnect; it must win over the `?after` of the first URL.
    const after = parseAfter(c.req.header('last-event-id') ?? c.req.query('after'));
    // Nothing left after the terminal event: 204 tells EventSource to stop reconnecting.
    if (!(await stream.resumeFrom(after))) return c.body(null, 204);
    streamToSse(c.env.outgoing, stream, after, { ...sse, headers: { 'x-stream-id': stream.id } });
    return RESPONSE_ALREADY_SENT;
  });

  app.post('/v1/streams/:id/cancel', async (c) => {
    const stream = await registry.open(c.req.param('id'), c.var.principal.id);
    await stream.cancel('client');
    return c.json(await stream.snapshot());
  });

  app.get('/v1/streams/:id', async (c) => {
    const stream = await registry.open(c.req.param('id'), c.var.principal.id);
    const snapshot = await stream.snapshot();
    if (!includesMessage(c.req.query('include'))) return c.json(snapshot);
    return c.json({ ...snapshot, message: await stream.message() });
  });
}

/** `?include=message` (a comma-separated list, like the API's own `include` parameters). */
function includesMessage(include: string | undefined): boolean {
  if (include === undefined) return false;
  const parts = include.split(',').map((p) => p.trim());
  const unknown = parts.filter((p) => p !== 'message');
  if (unknown.length > 0) {
    throw new RelayError(
      'invalid_request',
      `include: unknown value(s) ${unknown.join(', ')}; the only one is "message"`,
    );
  }
  return true;
}

function wantsJson(accept: string | undefined): boolean {
  return accept?.includes('application/json') === true && !accept.includes('text/event-stream');
}

function parseAfter(value: string | undefined): number {
  if (value === undefined || value === '') return 0;
  if (!/^\d{1,15}$/.test(value)) {
    throw new RelayError(
      'invalid_request',
      `Last-Event-ID / after must be a whole number of events, not "${value.slice(0, 40)}"`,
    );
  }
  return Number(value);
}
