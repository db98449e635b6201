/**
 * CORS for allowed cross-origin pages: preflights answered here, and the response headers set on
 * Node's response object itself, so they reach SSE and passthrough answers too (those are written
 * to the socket directly, past hono's header handling). Refusing disallowed origins is
 * `authenticate()`'s job; this only grants.
 */
import type { MiddlewareHandler } from 'hono';
import { RelayError } from '../core/errors.js';
import type { OriginPolicy } from './origin-policy.js';
import type { RelayEnv } from './relay-env.js';

const ALLOW_HEADERS =
  'content-type, x-api-key, authorization, last-event-id, anthropic-version, anthropic-beta, accept';
const EXPOSE_HEADERS = 'x-stream-id, x-conversation-id, retry-after, location, request-id';
const ALLOW_METHODS = 'GET, POST, DELETE, OPTIONS';

export function cors(policy: OriginPolicy): MiddlewareHandler<RelayEnv> {
  return async (c, next) => {
    const origin = c.req.header('origin');
    if (origin === undefined) return next();
    const allowed = policy.allowsCrossOrigin(origin);
    if (c.req.method === 'OPTIONS' && c.req.header('access-control-request-method') !== undefined) {
      if (!allowed)
        throw new RelayError(
          'forbidden',
          `origin ${origin.slice(0, 200)} is not allowed (RELAY_ALLOWED_ORIGINS)`,
        );
      return c.body(null, 204, {
        'access-control-allow-origin': origin,
        'access-control-allow-methods': ALLOW_METHODS,
        'access-control-allow-headers': ALLOW_HEADERS,
        'access-control-max-age': '600',
        vary: 'origin',
      });
    }
    if (allowed) {
      const res = c.env.outgoing;
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('access-control-expose-headers', EXPOSE_HEADERS);
      res.setHeader('vary', 'origin');
    }
    return next();
  };
}
