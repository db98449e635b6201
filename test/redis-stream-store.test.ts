import { afterAll, beforeAll, describe } from 'vitest';
import { RedisConnection } from '../src/redis/connection.js';
import { RedisStreamStore } from '../src/redis/redis-stream-store.js';
import { requireComponent } from './helpers/components.js';
import { type RedisServer, startRedisServer } from './helpers/redis-server.js';
import { describeStreamStore } from './stream-store.contract.js';

const REDIS = requireComponent('redis');

describe.skipIf(!REDIS)('Redis stream store', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer(REDIS!);
  });
  afterAll(async () => {
    await redis?.stop();
  });

  describeStreamStore('redis (two instances)', async (config) => {
    const connections = [0, 1].map(() => new RedisConnection({ url: redis.url }));
    await Promise.all(connections.map((c) => c.connect()));
    const stores = connections.map(
      (connection) => new RedisStreamStore({ connection, config, heartbeatMs: 200, leaseMs: 1000 }),
    );
    await Promise.all(stores.map((s) => s.start()));
    return {
      stores: [stores[0]!, stores[1]!],
      close: async () => {
        await Promise.all(connections.map((c) => c.close()));
      },
    };
  });
});
