/**
 * A known path with the wrong method answers 405 with `Allow`, not a misleading 404. Registered
 * after every real route so it only catches what they did not.
 */
import type { Env, Hono } from 'hono';
import { RelayError } from '../core/errors.js';
import { errorResponse } from './http-errors.js';

const ROUTES: readonly (readonly [string, string])[] = [
  ['/v1/streams', 'POST'],
  ['/v1/streams/:id/events', 'GET'],
  ['/v1/streams/:id/cancel', 'POST'],
  ['/v1/streams/:id', 'GET'],
  ['/v1/messages', 'POST'],
  ['/v1/messages/count_tokens', 'POST'],
  ['/v1/models', 'GET'],
  ['/v1/chat/completions', 'POST'],
  ['/v1/conversations/:id', 'GET, DELETE'],
  ['/v1/tickets', 'POST'],
  ['/chat/stream', 'POST'],
  ['/health', 'GET'],
  ['/metrics', 'GET'],
  ['/v1/ws', 'GET'],
];

export function registerMethodGuards<E extends Env>(app: Hono<E>): void {
  // Real upgrades never reach hono (the WebSocket server takes them on the `upgrade` event).
  app.get('/v1/ws', () =>
    errorResponse(
      new RelayError(
        'upgrade_required',
        'GET /v1/ws is the WebSocket endpoint: connect with a WebSocket client',
      ),
      { upgrade: 'websocket', connection: 'upgrade' },
    ),
  );
  for (const [path, allow] of ROUTES) {
    app.all(path, (c) =>
      errorResponse(
        new RelayError('method_not_allowed', `${c.req.method} is not allowed on ${path}; use ${allow}`),
        {
          allow,
        },
      ),
    );
  }
}
