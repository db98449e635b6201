/**
 * Who the client is, decided once at the edge: the hono middleware for HTTP routes and the
 * WebSocket upgrade (before `handleUpgrade`) call the same `Authenticate` function. Streams and
 * conversations are owned by the principal's id.
 *
 * A client's `x-api-key` or bearer token is never forwarded upstream: the relay holds its own key.
 */
import type { IncomingMessage } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import type { RelayEnv } from './relay-env.js';

export interface Principal {
  /** Stable id: owns streams and conversations. */
  readonly id: string;
}

/** Decides the principal of a request (HTTP or WebSocket upgrade); throws `unauthorized`. */
export type Authenticate = (req: IncomingMessage) => Promise<Principal>;

export const ANONYMOUS: Principal = Object.freeze({ id: 'anonymous' });

/** Every client is the same anonymous principal (no keys configured). */
export const authenticateAnonymous: Authenticate = () => Promise.resolve(ANONYMOUS);

/** Sets `c.var.principal` for every route; a refusal is thrown to the app's `onError`. */
export function authenticateRequests(authenticate: Authenticate): MiddlewareHandler<RelayEnv> {
  return async (c, next) => {
    c.set('principal', await authenticate(c.env.incoming));
    await next();
  };
}
