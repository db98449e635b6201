/**
 * Composition of the Redis-backed store for `startRelay`: the connections, the stream store and its
 * readiness check. Redis may be down at start: the relay still starts, answers /ready 503 and
 * refuses new streams with `store_unavailable` until Redis answers.
 */
import type { StreamsConfig } from '../core/streams-config.js';
import type { Logger } from '../logger.js';
import type { CheckResult } from '../readiness.js';
import { RedisConnection } from './connection.js';
import { RedisStreamStore } from './redis-stream-store.js';

export interface RedisBackend {
  readonly connection: RedisConnection;
  readonly store: RedisStreamStore;
  /** The readiness check: Redis answered the last heartbeat. */
  check(): CheckResult;
  /** Closes the connections (after the registry closed the store). */
  close(): Promise<void>;
}

export async function startRedisStore(
  settings: { readonly url: string; readonly leaseMs: number },
  streams: StreamsConfig,
  logger: Logger,
): Promise<RedisBackend> {
  // Connection errors repeat on every reconnect attempt: say it at debug level, /ready says the rest.
  const connection = new RedisConnection({
    url: settings.url,
    onError: (err) => logger.debug({ err }, 'redis connection error'),
  });
  await connection.connect();
  const store = new RedisStreamStore({
    connection,
    config: streams,
    leaseMs: settings.leaseMs,
    heartbeatMs: Math.max(100, Math.floor(settings.leaseMs / 5)),
    onError: (err, context) => logger.warn({ err, context }, 'redis stream store'),
  });
  await store.start();
  return {
    connection,
    store,
    check: () =>
      store.available
        ? { ok: true, detail: `instance ${store.instance}` }
        : { ok: false, detail: 'Redis is unreachable' },
    close: () => connection.close(),
  };
}
