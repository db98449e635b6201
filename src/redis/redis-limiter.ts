/**
 * The Limiter for several instances on one Redis: a principal's limits hold across all of them.
 *
 * - One script call admits or refuses a request atomically, on Redis's clock: a sorted set of
 *   concurrency slots, a sorted set of the requests in the sliding minute and a hash of the tokens
 *   each counts (its `max_tokens` reservation until settled). The three keys share the principal's
 *   hash tag and expire on their own (a minute after the last request; a slot ttl after the last
 *   refresh), so nothing is left behind.
 * - A slot is held by the instance that admitted the request: it expires `slotTtlMs` after the last
 *   refresh, and that instance refreshes its slots every `refreshMs`. So a slot is freed when its
 *   stream ends (settle), and also when its instance dies (nobody refreshes it): within one lease,
 *   the same bound as `instance_lost`.
 * - Redis unreachable: `acquire` fails closed with `store_unavailable` (503) for a principal that
 *   has limits; limits are never silently off. Principals without rate or concurrency limits never
 *   touch Redis. A settle that cannot reach Redis leaves the reservation counted (conservative)
 *   and its slot expires on its own. A Redis that restarts without its data forgets every window
 *   and slot (limits start afresh), as it forgets the streams.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { RelayError } from '../core/errors.js';
import { type Lease, type Limiter, NO_LEASE, refusals } from '../core/limiter.js';
import type { Limits } from '../core/principal.js';
import type { RedisConnection } from './connection.js';
import { type LimitKeys, limitKeys } from './keys.js';
import { LIMIT_ACQUIRE, LIMIT_REFRESH, LIMIT_SETTLE } from './scripts.js';

export interface RedisLimiterOptions {
  readonly connection: RedisConnection;
  /** Key prefix; default `relay:`. */
  readonly prefix?: string;
  /** How long a slot outlives its last refresh (the instance lease). */
  readonly slotTtlMs: number;
  /** How often this instance refreshes the slots it holds (default slotTtlMs / 5). */
  readonly refreshMs?: number;
  /** Told about settles and refreshes that failed (for the log). */
  readonly onError?: (err: unknown, context: string) => void;
}

const verdictSchema = z.tuple([z.number().int().min(0).max(3), z.number()]);

export class RedisLimiter implements Limiter {
  private readonly redis: RedisConnection;
  private readonly prefix: string;
  private readonly slotTtlMs: number;
  private readonly refreshMs: number;
  private readonly onError: (err: unknown, context: string) => void;
  /** Slots this instance holds, by principal: what the refresh keeps alive. */
  private readonly held = new Map<string, { keys: LimitKeys; ids: Set<string> }>();
  /**
   * Settles of this instance still on their way, by principal: the next acquire for that principal
   * waits for them, so a client that ends a stream and starts the next on the same instance finds
   * its slot free (a script sent before may still be re-sent after a NOSCRIPT).
   */
  private readonly settling = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private readonly stopReady: () => void;

  constructor(options: RedisLimiterOptions) {
    this.redis = options.connection;
    this.prefix = options.prefix ?? 'relay:';
    this.slotTtlMs = options.slotTtlMs;
    this.refreshMs = options.refreshMs ?? Math.max(100, Math.floor(options.slotTtlMs / 5));
    this.onError = options.onError ?? (() => {});
    // Scripts known to Redis before they are needed: a settle is then one EVALSHA, not an EVALSHA
    // refused with NOSCRIPT and an EVAL sent after whatever the instance wrote in between.
    this.stopReady = this.redis.onReady(() => void this.loadScripts());
    if (this.redis.isReady) void this.loadScripts();
  }

  /** Slots this instance holds (tests prove they are released). */
  get heldSlots(): number {
    let n = 0;
    for (const { ids } of this.held.values()) n += ids.size;
    return n;
  }

  async acquire(principalId: string, limits: Limits, reserveTokens: number): Promise<Lease> {
    const { concurrentStreams, requestsPerMinute, tokensPerMinute } = limits;
    if (concurrentStreams === undefined && requestsPerMinute === undefined && tokensPerMinute === undefined) {
      return NO_LEASE;
    }
    const keys = limitKeys(this.prefix, principalId);
    const id = randomBytes(12).toString('base64url');
    const settling = this.settling.get(principalId);
    if (settling !== undefined) await settling;
    const reply = await this.redis.script(
      LIMIT_ACQUIRE,
      [keys.slots, keys.window, keys.spend],
      [
        id,
        optional(concurrentStreams),
        optional(requestsPerMinute),
        optional(tokensPerMinute),
        String(reserveTokens),
        String(this.slotTtlMs),
      ],
    );
    const parsed = verdictSchema.safeParse(reply);
    if (!parsed.success) {
      throw new RelayError('internal_error', 'the limiter store (Redis) answered something unreadable');
    }
    const [verdict, retryAfterMs] = parsed.data;
    switch (verdict) {
      case 0:
        return this.hold(principalId, keys, id);
      case 1:
        throw refusals.concurrency(concurrentStreams ?? 0);
      case 2:
        throw refusals.requests(requestsPerMinute ?? 0, retryAfterMs);
      case 3:
        throw refusals.tokens(tokensPerMinute ?? 0, reserveTokens, retryAfterMs);
      default:
        throw new RelayError('internal_error', `the limiter store (Redis) answered verdict ${verdict}`);
    }
  }

  /** Stops refreshing (the slots then expire on their own within one ttl). */
  close(): void {
    this.stopRefreshing();
    this.held.clear();
    this.stopReady();
  }

  private stopRefreshing(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async loadScripts(): Promise<void> {
    try {
      await Promise.all(
        [LIMIT_ACQUIRE, LIMIT_SETTLE, LIMIT_REFRESH].map((s) =>
          this.redis.call(['SCRIPT', 'LOAD', s.source]),
        ),
      );
    } catch (err) {
      this.onError(err, 'limiter scripts');
    }
  }

  private hold(principalId: string, keys: LimitKeys, id: string): Lease {
    const entry = this.held.get(principalId) ?? { keys, ids: new Set<string>() };
    entry.ids.add(id);
    this.held.set(principalId, entry);
    if (this.timer === undefined) {
      this.timer = setInterval(() => void this.refresh(), this.refreshMs);
      this.timer.unref();
    }
    let settled = false;
    return {
      settle: (usedTokens: number) => {
        if (settled) return;
        settled = true;
        entry.ids.delete(id);
        if (entry.ids.size === 0 && this.held.get(principalId) === entry) this.held.delete(principalId);
        if (this.held.size === 0) this.stopRefreshing();
        const before = this.settling.get(principalId);
        const done: Promise<void> = this.redis
          .script(
            LIMIT_SETTLE,
            [keys.slots, keys.window, keys.spend],
            [id, String(Math.max(0, Math.floor(usedTokens)))],
          )
          .then(
            () => before,
            (err: unknown) => this.onError(err, 'limiter settle'),
          )
          .then(() => {
            if (this.settling.get(principalId) === done) this.settling.delete(principalId);
          });
        this.settling.set(principalId, done);
      },
    };
  }

  private async refresh(): Promise<void> {
    const work = [...this.held.values()].map(({ keys, ids }) =>
      this.redis.script(LIMIT_REFRESH, [keys.slots], [String(this.slotTtlMs), ...ids]),
    );
    for (const r of await Promise.allSettled(work)) {
      if (r.status === 'rejected') this.onError(r.reason, 'limiter refresh');
    }
  }
}

function optional(n: number | undefined): string {
  return n === undefined ? '' : String(n);
}
