import { afterAll, beforeAll, describe } from 'vitest';
import { RedisConnection } from '../src/redis/connection.js';
import { RedisConversationStore } from '../src/redis/redis-conversation-store.js';
import { describeConversationStore } from './conversation-store.contract.js';
import { requireComponent } from './helpers/components.js';
import { type RedisServer, startRedisServer } from './helpers/redis-server.js';

const REDIS = requireComponent('redis');

describe.skipIf(!REDIS)('Redis conversation store', () => {
  let redis: RedisServer;
  let connection: RedisConnection;
  let n = 0;
  beforeAll(async () => {
    redis = await startRedisServer(REDIS!);
    connection = new RedisConnection({ url: redis.url });
    await connection.connect();
  });
  afterAll(async () => {
    await connection?.close();
    await redis?.stop();
  });

  // Real time: a remote store's clock is Redis's own; each test gets its own key prefix.
  describeConversationStore('redis', async ({ ttlMs }) => ({
    store: new RedisConversationStore({ connection, ttlMs, prefix: `t${++n}:` }),
    now: () => Date.now(),
    advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  }));
});
