/**
 * `POST /v1/tickets`: a short-lived credential for the authenticated principal, for browsers whose
 * `EventSource` and WebSocket cannot send headers (`?ticket=` on `GET /v1/ws` and
 * `GET /v1/streams/:id/events`). Answers `201 {ticket, expires_at}`.
 */
import type { Principal } from '../core/principal.js';
import type { RelayApp } from './relay-env.js';

export interface TicketRouteDeps {
  readonly issueTicket: (principal: Principal) => Promise<{ ticket: string; expires_at: string }>;
}

export function registerTicketRoutes(app: RelayApp, deps: TicketRouteDeps): void {
  app.post('/v1/tickets', async (c) =>
    c.json(await deps.issueTicket(c.var.principal), 201, { 'cache-control': 'no-store' }),
  );
}
