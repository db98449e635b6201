/**
 * `GET /v1/conversations/:id` (the kept history) and `DELETE /v1/conversations/:id` (204), owned by
 * the principal like streams: another client's conversation answers 404.
 */
import type { Conversations } from '../core/conversations.js';
import type { RelayApp } from './relay-env.js';

export interface ConversationRouteDeps {
  readonly conversations: Conversations;
}

export function registerConversationRoutes(app: RelayApp, deps: ConversationRouteDeps): void {
  const { conversations } = deps;

  app.get('/v1/conversations/:id', async (c) =>
    c.json(await conversations.get(c.req.param('id'), c.var.principal.id)),
  );

  app.delete('/v1/conversations/:id', async (c) => {
    await conversations.delete(c.req.param('id'), c.var.principal.id);
    return c.body(null, 204);
  });
}
