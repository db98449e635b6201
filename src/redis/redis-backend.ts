/**
 * Composition of the Redis-backed parts for `startRelay`: the connections, the stream store and
 * its readiness check, the shared limiter and the shared ticket state. Redis may be down at start:
 * the relay still starts, answers /ready 503 and refuses new streams with `store_unavailable`
 * until Redis answers.
 */
import type { StreamsConfig } from '../core/streams-config.js';
import type { Logger } from '../logger.js';
import type { CheckResult } from '../readiness.js';
import { RedisConnection } from './connection.js';
import { RedisLimiter } from './redis-limiter.js';
import { RedisStreamStore } from './redis-stream-store.js';
import { RedisSpentTickets, RedisTicketSecret } from './redis-tickets.js';

export interface RedisBackend {
  readonly connection: RedisConnection;
  readonly store: RedisStreamStore;
  /** Per-key limits shared by every instance. */
  readonly limiter: RedisLimiter;
  /** The readiness check: Redis answered the last heartbeat. */
  check(): CheckResult;
  /** Closes the connections (after the registry closed the store). */
  close(): Promise<void>;
}

/** The connections, not yet connected (nothing runs until `startRedisStore`). */
export function redisConnection(url: string, logger: Logger): RedisConnection {
  // Connection errors repeat on every reconnect attempt: say it at debug level, /ready says the rest.
  return new RedisConnection({ url, onError: (err) => logger.debug({ err }, 'redis connection error') });
}

/** Ticket state every instance shares: the spent set, and the secret when none is configured. */
export function redisTickets(connection: RedisConnection): {
  secret: RedisTicketSecret;
  spent: RedisSpentTickets;
} {
  return { secret: new RedisTicketSecret(connection), spent: new RedisSpentTickets(connection) };
}

export async function startRedisStore(
  connection: RedisConnection,
  settings: { readonly leaseMs: number },
  streams: StreamsConfig,
  logger: Logger,
): Promise<RedisBackend> {
  await connection.connect();
  const store = new RedisStreamStore({
    connection,
    config: streams,
    leaseMs: settings.leaseMs,
    heartbeatMs: Math.max(100, Math.floor(settings.leaseMs / 5)),
    onError: (err, context) => logger.warn({ err, context }, 'redis stream store'),
  });
  await store.start();
  // A concurrency slot lives one lease past its last refresh: a dead instance's slots free up on
  // the same clock as its streams' instance_lost.
  const limiter = new RedisLimiter({
    connection,
    slotTtlMs: settings.leaseMs,
    onError: (err, context) => logger.warn({ err, context }, 'redis limiter'),
  });
  return {
    connection,
    store,
    limiter,
    check: () =>
      store.available
        ? { ok: true, detail: `instance ${store.instance}` }
        : { ok: false, detail: 'Redis is unreachable' },
    close: async () => {
      limiter.close();
      await connection.close();
    },
  };
}
