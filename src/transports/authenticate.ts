/**
 * Who the client is, decided once at the edge: the hono middleware for HTTP routes and the
 * WebSocket upgrade (before `handleUpgrade`) call the same `Authenticate` function. Streams and
 * conversations are owned by the principal's id.
 *
 * A client's `x-api-key` or bearer token is never forwarded upstream: the relay holds its own key.
 */
import type { IncomingMessage } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import { ANONYMOUS, type Principal } from '../core/principal.js';
import type { RelayEnv } from './relay-env.js';

export type { Principal } from '../core/principal.js';

/** Decides the principal of a request (HTTP or WebSocket upgrade); throws `unauthorized`. */
export type Authenticate = (req: IncomingMessage) => Promise<Principal>;

/** Every client is the same anonymous principal (no keys configured). */
export const authenticateAnonymous: Authenticate = () => Promise.resolve(ANONYMOUS);

/**
 * Routes anyone may call: liveness and readiness (probes), metrics (behind its own token), and the
 * demo page's static files (the page then asks for a key).
 */
export function isPublicPath(path: string): boolean {
  return (
    path === '/health' || path === '/ready' || path === '/metrics' || path === '/' || path.startsWith('/web/')
  );
}

/** Sets `c.var.principal` for every route but the public ones; a refusal goes to the app's `onError`. */
export function authenticateRequests(authenticate: Authenticate): MiddlewareHandler<RelayEnv> {
  return async (c, next) => {
    c.set('principal', isPublicPath(c.req.path) ? ANONYMOUS : await authenticate(c.env.incoming));
    await next();
  };
}

/** The registry's create options for a stream the principal starts: it owns it, under its limits. */
export function ownedBy(principal: Principal): { owner: string; limits: Principal['limits'] } {
  return { owner: principal.id, limits: principal.limits };
}
