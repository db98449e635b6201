/** Every HTTP error answer is `{"error": {"code", "message"}}` with the code's status. */
import type { Context } from 'hono';
import { RelayError, toRelayError } from '../core/errors.js';

export function errorResponse(err: unknown, headers?: Record<string, string>): Response {
  const error = toRelayError(err);
  const h: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', ...headers };
  if (error.retryAfterMs !== undefined) h['retry-after'] = String(Math.ceil(error.retryAfterMs / 1000));
  return new Response(JSON.stringify(error.toBody()), { status: error.status, headers: h });
}

/** hono's notFound handler: unknown routes get the same JSON shape as every other error. */
export function notFound(c: Context): Response {
  return errorResponse(
    new RelayError('not_found', `no route ${c.req.method} ${c.req.path}; see the README for the routes`),
  );
}
