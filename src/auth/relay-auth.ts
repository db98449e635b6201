/**
 * Builds the relay's authentication from its settings, and decides the mode: keys / JWT when any
 * is configured; otherwise anonymous, which is allowed on a loopback host only, or anywhere with
 * an explicit RELAY_AUTH=none (with a warning at start).
 */
import type { Principal } from '../core/principal.js';
import type { Logger } from '../logger.js';
import type { Authenticate } from '../transports/authenticate.js';
import { HostPolicy, OriginPolicy } from '../transports/origin-policy.js';
import { createAuthenticator, ticketSubject } from './authenticator.js';
import { JwtVerifier } from './jwt.js';
import { KeyStore } from './key-store.js';
import { type IssuedTicket, type SpentTickets, type TicketSecret, Tickets } from './tickets.js';

export interface AuthSettings {
  readonly auth: 'auto' | 'none';
  readonly host: string;
  readonly keysFile: string;
  readonly apiKeys: readonly string[];
  readonly jwtSecret: string;
  readonly jwtPublicKey: string;
  readonly ticketTtlMs: number;
  readonly ticketSecret: string;
  readonly allowedOrigins: readonly string[];
  readonly allowedHosts: readonly string[];
}

export interface RelayAuth {
  readonly authenticate: Authenticate;
  readonly issueTicket: (principal: Principal) => Promise<IssuedTicket>;
  readonly origins: OriginPolicy;
  /** True when requests need no credential. */
  readonly anonymous: boolean;
  readonly keys: KeyStore;
  close(): void;
}

/** Throws (a message for the operator) when the relay must not start as configured. */
export function createRelayAuth(
  settings: AuthSettings,
  options: {
    wsPath: string;
    logger?: Logger;
    keysPollMs?: number;
    /**
     * Shared ticket state (Redis): spent tickets, and the secret used when RELAY_TICKET_SECRET is
     * unset. Default: this process only.
     */
    sharedTickets?: { secret: TicketSecret; spent: SpentTickets };
  },
): RelayAuth {
  const keys = new KeyStore({
    file: settings.keysFile,
    quickKeys: settings.apiKeys,
    logger: options.logger,
    ...(options.keysPollMs === undefined ? {} : { pollMs: options.keysPollMs }),
  });
  const jwt = JwtVerifier.fromSettings(settings.jwtSecret, settings.jwtPublicKey);
  const credentialsConfigured = keys.configured || jwt !== undefined;
  const anonymous = settings.auth === 'none' || !credentialsConfigured;
  if (anonymous && settings.auth !== 'none' && !isLoopback(settings.host)) {
    throw new Error(
      `refusing to serve anonymous clients on ${settings.host}: anyone who reaches it would spend the upstream key. ` +
        'Configure RELAY_KEYS_FILE, RELAY_API_KEYS or RELAY_JWT_SECRET/RELAY_JWT_PUBLIC_KEY, ' +
        'or set RELAY_AUTH=none to accept that explicitly',
    );
  }
  if (settings.auth === 'none' && !isLoopback(settings.host)) {
    options.logger?.warn(
      { host: settings.host },
      'RELAY_AUTH=none: every client that reaches this relay is anonymous and spends the upstream key',
    );
  }
  if (settings.auth === 'none' && credentialsConfigured) {
    options.logger?.warn('RELAY_AUTH=none: the configured keys and JWT settings are ignored');
  }
  const shared = options.sharedTickets;
  const tickets = new Tickets({
    // A configured secret wins; otherwise the shared one, so every instance checks every ticket.
    secret: settings.ticketSecret === '' && shared ? shared.secret : settings.ticketSecret,
    ttlMs: settings.ticketTtlMs,
    ...(shared ? { spent: shared.spent } : {}),
  });
  const origins = new OriginPolicy(settings.allowedOrigins);
  keys.watch();
  return {
    authenticate: createAuthenticator({
      keys,
      jwt,
      tickets,
      anonymous,
      origins,
      hosts: new HostPolicy(settings.host, settings.allowedHosts),
      wsPath: options.wsPath,
    }),
    issueTicket: (principal) => tickets.issue(ticketSubject(principal)),
    origins,
    anonymous,
    keys,
    close: () => keys.close(),
  };
}

export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
