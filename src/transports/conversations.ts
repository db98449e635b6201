/**
 * `GET /v1/conversations/:id` (the kept history) and `DELETE /v1/conversations/:id` (204), owned by
 * the client identity like streams: another client's conversation answers 404.
 */
import type { HttpBindings } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Conversations } from '../core/conversations.js';
import { clientIdentity } from './client-identity.js';
import { errorResponse } from './http-errors.js';

export interface ConversationRouteDeps {
  readonly conversations: Conversations;
}

export function registerConversationRoutes(
  app: Hono<{ Bindings: HttpBindings }>,
  deps: ConversationRouteDeps,
): void {
  const { conversations } = deps;

  app.get('/v1/conversations/:id', async (c) => {
    try {
      return c.json(await conversations.get(c.req.param('id'), clientIdentity(c.env.incoming.headers)));
    } catch (err) {
      return errorResponse(err);
    }
  });

  app.delete('/v1/conversations/:id', async (c) => {
    try {
      await conversations.delete(c.req.param('id'), clientIdentity(c.env.incoming.headers));
      return c.body(null, 204);
    } catch (err) {
      return errorResponse(err);
    }
  });
}
