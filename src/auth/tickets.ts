/**
 * Browser tickets: short-lived credentials for `EventSource` and WebSocket, which cannot send an
 * `x-api-key` header. A ticket is an HS256 JWT (signed and checked with `jose`) naming the
 * principal, so any instance with the same secret can check it. On the WebSocket upgrade a ticket
 * is spent (single use); on `GET /v1/streams/:id/events` it is reusable until it expires, so
 * `EventSource` reconnects work.
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

export class Tickets {
  private readonly secret: Uint8Array;
  private readonly ttlMs: number;
  private readonly now: () => number;
  /** Spent single-use tickets (jti → expiry ms), forgotten once expired. */
  private readonly spent = new Map<string, number>();

  constructor(options: { secret: string; ttlMs: number; now?: () => number }) {
    // No configured secret: a random one, so tickets only work on this process (say so in README).
    this.secret =
      options.secret === '' ? new Uint8Array(randomBytes(32)) : new TextEncoder().encode(options.secret);
    this.ttlMs = options.ttlMs;
    this.now = options.now ?? Date.now;
  }

  async issue(subject: TicketSubject): Promise<IssuedTicket> {
    const expiresMs = this.now() + this.ttlMs;
    const ticket = await new SignJWT({ knd: subject.kind, exp_ms: expiresMs })
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setSubject(subject.name)
      .setAudience(AUDIENCE)
      .setJti(randomUUID())
      .setIssuedAt(Math.floor(this.now() / 1000))
      // jose's exp is whole seconds; `exp_ms` is the exact end, checked below.
      .setExpirationTime(Math.ceil(expiresMs / 1000))
      .sign(this.secret);
    return { ticket, expires_at: new Date(expiresMs).toISOString() };
  }

  /** Checks a ticket; with `spend`, it is refused if already spent and marked spent. */
  async verify(ticket: string, options: { spend: boolean }): Promise<TicketSubject> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(ticket, this.secret, {
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
    if (options.spend) {
      this.forgetExpired(now);
      if (this.spent.has(jti))
        throw invalid('the ticket was already used; get a new one from POST /v1/tickets');
      this.spent.set(jti, expiresMs);
    }
    return { kind, name: payload.sub as string };
  }

  private forgetExpired(now: number): void {
    for (const [jti, expires] of this.spent) if (expires <= now) this.spent.delete(jti);
  }
}

function invalid(message: string): RelayError {
  return new RelayError('unauthorized', message);
}
