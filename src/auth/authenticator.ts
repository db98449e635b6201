/**
 * The relay's `authenticate()`: from a request (HTTP or WebSocket upgrade) to a principal, or a
 * refusal. In order: the Host and Origin checks, a `?ticket=` (WebSocket upgrade: spent; SSE events:
 * reusable), then a credential from `x-api-key`, `Authorization: Bearer` or the WebSocket
 * subprotocol `relay.bearer.<key>` — a relay key (by its SHA-256) or, when configured, a JWT.
 */
import type { IncomingMessage } from 'node:http';
import { RelayError } from '../core/errors.js';
import { ANONYMOUS, type Principal } from '../core/principal.js';
import type { Authenticate } from '../transports/authenticate.js';
import type { HostPolicy, OriginPolicy } from '../transports/origin-policy.js';
import type { JwtVerifier } from './jwt.js';
import type { KeyStore } from './key-store.js';
import type { TicketSubject, Tickets } from './tickets.js';

export const BEARER_SUBPROTOCOL_PREFIX = 'relay.bearer.';

export interface AuthenticatorOptions {
  readonly keys: KeyStore;
  readonly jwt: JwtVerifier | undefined;
  readonly tickets: Tickets;
  /** True when no credential is needed (loopback default, or RELAY_AUTH=none). */
  readonly anonymous: boolean;
  readonly origins: OriginPolicy;
  readonly hosts: HostPolicy;
  /** The WebSocket endpoint's path: tickets are spent there. */
  readonly wsPath: string;
}

/** Routes that accept `?ticket=`: the WebSocket upgrade and the SSE events route. */
const EVENTS_PATH = /^\/v1\/streams\/[^/]+\/events$/;

export function createAuthenticator(options: AuthenticatorOptions): Authenticate {
  const { keys, jwt, tickets, anonymous } = options;

  const fromSubject = (subject: TicketSubject): Principal => {
    switch (subject.kind) {
      case 'key': {
        const entry = keys.byId(subject.name);
        if (entry === undefined) throw unauthorized('the key this ticket was issued for has been revoked');
        return { id: keyPrincipalId(entry.id), limits: entry.limits };
      }
      case 'jwt':
        return { id: jwtPrincipalId(subject.name), limits: keys.jwtLimits };
      case 'anonymous':
        if (!anonymous) throw unauthorized('this ticket was issued without credentials; send a key');
        return ANONYMOUS;
      default:
        throw unauthorized('the ticket is invalid');
    }
  };

  return async (req: IncomingMessage): Promise<Principal> => {
    const host = req.headers.host;
    if (anonymous && !options.hosts.allows(host)) {
      throw new RelayError(
        'forbidden',
        `Host "${String(host).slice(0, 200)}" is not this relay's; add it to RELAY_ALLOWED_HOSTS (DNS-rebinding guard)`,
      );
    }
    const origin = req.headers.origin;
    if (!options.origins.allows(origin, host)) {
      throw new RelayError(
        'forbidden',
        `origin ${String(origin).slice(0, 200)} is not allowed; add it to RELAY_ALLOWED_ORIGINS`,
      );
    }
    // A ticket only comes in the query: a request without one is not parsed as a URL at all.
    const url = req.url?.includes('?') === true ? new URL(req.url, 'http://relay') : undefined;
    const ticket = url === undefined ? null : url.searchParams.get('ticket');
    if (url !== undefined && ticket !== null) {
      const isWs = url.pathname === options.wsPath;
      if (!isWs && !(req.method === 'GET' && EVENTS_PATH.test(url.pathname))) {
        throw unauthorized('?ticket= is accepted only on GET /v1/ws and GET /v1/streams/:id/events');
      }
      return fromSubject(await tickets.verify(ticket, { spend: isWs }));
    }
    const credential = credentialOf(req);
    // Anonymous mode ignores credentials: SDKs always send some apiKey.
    if (anonymous) return ANONYMOUS;
    if (credential === undefined) {
      throw unauthorized('send a relay key as x-api-key or Authorization: Bearer (or a ticket for browsers)');
    }
    const entry = keys.lookup(credential);
    if (entry?.keySha256 !== undefined) return { id: keyPrincipalId(entry.id), limits: entry.limits };
    if (jwt !== undefined && credential.split('.').length === 3) {
      return { id: jwtPrincipalId(await jwt.verify(credential)), limits: keys.jwtLimits };
    }
    throw unauthorized('the relay key is not valid (unknown or revoked)');
  };
}

/** What a ticket for this principal carries. */
export function ticketSubject(principal: Principal): TicketSubject {
  if (principal.id.startsWith('key:')) return { kind: 'key', name: principal.id.slice(4) };
  if (principal.id.startsWith('jwt:')) return { kind: 'jwt', name: principal.id.slice(4) };
  return { kind: 'anonymous', name: ANONYMOUS.id };
}

function keyPrincipalId(id: string): string {
  return `key:${id}`;
}

function jwtPrincipalId(sub: string): string {
  return `jwt:${sub}`;
}

/** `x-api-key`, then `Authorization: Bearer`, then the WebSocket subprotocol `relay.bearer.<key>`. */
function credentialOf(req: IncomingMessage): string | undefined {
  const apiKey = req.headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey !== '') return apiKey.trim();
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (m) return m[1];
  }
  const protocols = req.headers['sec-websocket-protocol'];
  if (typeof protocols === 'string') {
    for (const p of protocols.split(',')) {
      const name = p.trim();
      if (name.startsWith(BEARER_SUBPROTOCOL_PREFIX)) return name.slice(BEARER_SUBPROTOCOL_PREFIX.length);
    }
  }
  return undefined;
}

function unauthorized(message: string): RelayError {
  return new RelayError('unauthorized', message);
}
