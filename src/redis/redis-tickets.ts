/**
 * Tickets shared by every instance on one Redis.
 *
 * - Spent tickets: `SET <jti> NX PX <time left>`, so a WebSocket ticket is single use across all
 *   instances, and the key expires with the ticket.
 * - The secret, when RELAY_TICKET_SECRET is unset: the first instance to ask stores 32 random
 *   bytes with `SET NX GET` (Redis 7.0) and every instance uses whatever is there, so tickets minted
 *   on one verify on all. It is read again after every reconnect, offering the secret already known:
 *   a Redis that restarted without its data gets the instances' secret back from the first one to
 *   reconnect, and the others keep agreeing with it. Until the secret was read once, tickets are
 *   `store_unavailable`; spending one needs Redis every time (fail closed: never reusable).
 */
import { randomBytes } from 'node:crypto';
import type { SpentTickets, TicketSecret } from '../auth/tickets.js';
import { RelayError } from '../core/errors.js';
import type { RedisConnection } from './connection.js';
import { isTicketId, spentTicketKey, ticketSecretKey } from './keys.js';

export class RedisSpentTickets implements SpentTickets {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix = 'relay:',
  ) {}

  async spend(jti: string, expiresMs: number, now: number): Promise<boolean> {
    // The relay mints jti as a UUID; anything else was not minted here (and never reaches a key).
    if (!isTicketId(jti)) return false;
    const ttl = Math.max(1, Math.ceil(expiresMs - now));
    const set = await this.redis.call([
      'SET',
      spentTicketKey(this.prefix, jti),
      '1',
      'NX',
      'PX',
      String(ttl),
    ]);
    return set === 'OK';
  }
}

export class RedisTicketSecret implements TicketSecret {
  private loading: Promise<Uint8Array> | undefined;
  /** The secret last read: offered again after a reconnect, so a restarted Redis keeps it. */
  private known: string | undefined;
  private readonly stopReady: () => void;

  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix = 'relay:',
  ) {
    this.stopReady = redis.onReady(() => {
      this.loading = undefined;
    });
  }

  get(): Promise<Uint8Array> {
    if (this.loading === undefined) {
      const loading = this.load();
      this.loading = loading;
      // A failed read is not kept: the next ticket asks Redis again.
      loading.catch(() => {
        if (this.loading === loading) this.loading = undefined;
      });
    }
    return this.loading;
  }

  close(): void {
    this.stopReady();
  }

  private async load(): Promise<Uint8Array> {
    const offer = this.known ?? randomBytes(32).toString('base64url');
    const previous = await this.redis.call(['SET', ticketSecretKey(this.prefix), offer, 'NX', 'GET']);
    const secret = previous === null ? offer : previous;
    if (typeof secret !== 'string' || secret.length < 32) {
      throw new RelayError('internal_error', 'the ticket secret in Redis is unreadable');
    }
    this.known = secret;
    return new TextEncoder().encode(secret);
  }
}
