/**
 * Browser tickets: short-lived credentials for `EventSource` and WebSocket, which cannot send an
 * `x-api-key` header. A ticket is an HS256 JWT (signed and checked with `jose`) naming the
 * principal, so any instance with the same secret can check it. On the WebSocket upgrade a ticket
 * is spent (single use); on `GET /v1/streams/:id/events` it is reusable until it expires, so
 * `EventSource` reconnects work. Where the secret comes from and where spent tickets are kept are
 * seams: this process (the default), or Redis shared by every instance (src/redis/redis-tickets.ts).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { RelayError } from '../core/errors.js';

const AUDIENCE = 'relay-ticket';
const ALGORITHM = 'HS256';

/** What a ticket carries: how to find its principal again (revocation applies to tickets too). */
export interface TicketSubject {
  readonly kind: 'key' | 'jwt' | 'anonymous';
  /** The key id, the JWT's sub, or "anonymous". */
  readonly name: string;
}

export interface IssuedTicket {
  readonly ticket: string;
  /** ISO 8601 */
  readonly expires_at: string;
}

/** The HMAC key tickets are signed and checked with. */
export interface TicketSecret {
  /** Throws `store_unavailable` when it lives in a store that cannot be reached. */
  get(): Promise<Uint8Array>;
}

/** Where spent single-use tickets are remembered until they expire. */
export interface SpentTickets {
  /** Marks `jti` spent until `expiresMs`; false when it already was. */
  spend(jti: string, expiresMs: number, now: number): Promise<boolean>;
}

/** A fixed secret: RELAY_TICKET_SECRET, or a random one known to this process only. */
export function fixedTicketSecret(secret: string): TicketSecret {
  const key = secret === '' ? new Uint8Array(randomBytes(32)) : new TextEncoder().encode(secret);
  const got = Promise.resolve(key);
  return { get: () => got };
}

/** Spent tickets of this process (jti → expiry ms), forgotten once expired. */
export class MemorySpentTickets implements SpentTickets {
  private readonly spent = new Map<string, number>();

  spend(jti: string, expiresMs: number, now: number): Promise<boolean> {
    for (const [id, expires] of this.spent) if (expires <= now) this.spent.delete(id);
    if (this.spent.has(jti)) return Promise.resolve(false);
    this.spent.set(jti, expiresMs);
    return Promise.resolve(true);
  }
}

export class Tickets {
  private readonly secret: TicketSecret;
  private readonly spent: SpentTickets;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: {
    /** A string (empty: random, so tickets only work on this process) or a shared source. */
    secret: string | TicketSecret;
    ttlMs: number;
    spent?: SpentTickets;
    now?: () => number;
  }) {
    this.secret = typeof options.secret === 'string' ? fixedTicketSecret(options.secret) : options.secret;
    this.spent = options.spent ?? new MemorySpentTickets();
    this.ttlMs = options.ttlMs;
    this.now = options.now ?? Date.now;
  }

  async issue(subject: TicketSubject): Promise<IssuedTicket> {
    const secret = await this.secret.get();
    const expiresMs = this.now() + this.ttlMs;
    const ticket = await new SignJWT({ knd: subject.kind, exp_ms: expiresMs })
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setSubject(subject.name)
      .setAudience(AUDIENCE)
      .setJti(randomUUID())
      .setIssuedAt(Math.floor(this.now() / 1000))
      // jose's exp is whole seconds; `exp_ms` is the exact end, checked below.
      .setExpirationTime(Math.ceil(expiresMs / 1000))
      .sign(secret);
    return { ticket, expires_at: new Date(expiresMs).toISOString() };
  }

  /** Checks a ticket; with `spend`, it is refused if already spent and marked spent. */
  async verify(ticket: string, options: { spend: boolean }): Promise<TicketSubject> {
    const secret = await this.secret.get();
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(ticket, secret, {
        algorithms: [ALGORITHM],
        audience: AUDIENCE,
        requiredClaims: ['exp', 'jti', 'sub'],
        currentDate: new Date(this.now()),
      }));
    } catch {
      throw invalid('the ticket is invalid or has expired; get a new one from POST /v1/tickets');
    }
    const now = this.now();
    const expiresMs = payload.exp_ms;
    const kind = payload.knd;
    const jti = payload.jti as string;
    if (typeof expiresMs !== 'number' || expiresMs <= now) {
      throw invalid('the ticket has expired; get a new one from POST /v1/tickets');
    }
    if (kind !== 'key' && kind !== 'jwt' && kind !== 'anonymous') throw invalid('the ticket is invalid');
    if (options.spend && !(await this.spent.spend(jti, expiresMs, now))) {
      throw invalid('the ticket was already used; get a new one from POST /v1/tickets');
    }
    return { kind, name: payload.sub as string };
  }
}

function invalid(message: string): RelayError {
  return new RelayError('unauthorized', message);
}
