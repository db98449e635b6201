/**
 * The Redis Limiter on a real redis-server: the Limiter contract on two instances (two connections),
 * slots of a dead instance freed by expiry while a live one's are kept by its refresh, keys that
 * expire, and Redis unreachable answered with store_unavailable (fail closed) for limited keys.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisConnection } from '../src/redis/connection.js';
import { RedisLimiter } from '../src/redis/redis-limiter.js';
import { requireComponent } from './helpers/components.js';
import { freePort, type RedisServer, startRedisServer } from './helpers/redis-server.js';
import { admittedWithin, describeLimiter, refusal } from './limiter.contract.js';

const REDIS = requireComponent('redis');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!REDIS)('Redis limiter', () => {
  let redis: RedisServer;
  let admin: RedisConnection;
  beforeAll(async () => {
    redis = await startRedisServer(REDIS!);
    admin = new RedisConnection({ url: redis.url });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.close();
    await redis?.stop();
  });

  async function pair(slotTtlMs = 5000, refreshMs?: number) {
    const connections = [0, 1].map(() => new RedisConnection({ url: redis.url }));
    await Promise.all(connections.map((c) => c.connect()));
    const limiters = connections.map(
      (connection) =>
        new RedisLimiter({ connection, slotTtlMs, ...(refreshMs === undefined ? {} : { refreshMs }) }),
    );
    return {
      connections,
      limiters: [limiters[0]!, limiters[1]!] as const,
      close: async () => {
        for (const l of limiters) l.close();
        await Promise.all(connections.map((c) => c.close()));
      },
    };
  }

  describeLimiter('redis (two instances)', () => pair());

  it("frees a dead instance's slots once they expire, while a live instance's slots outlive the ttl", async () => {
    const principal = `key:${randomUUID()}`;
    const limits = { concurrentStreams: 1 };
    const live = await pair(300, 50);
    const dead = await pair(300, 50);
    try {
      // Held on a live instance for more than three ttls: its refresh keeps it.
      const held = await live.limiters[0].acquire(principal, limits, 1);
      await sleep(1000);
      expect((await refusal(live.limiters[1].acquire(principal, limits, 1))).code).toBe('quota_exceeded');
      held.settle(1);
      await admittedWithin(live.limiters[1], principal, limits, 1).then((l) => l.settle(1));

      // Held by an instance that then dies (no settle, no refresh: its connection is gone).
      await dead.limiters[0].acquire(principal, limits, 1);
      dead.limiters[0].close();
      await dead.connections[0]!.close();
      expect((await refusal(dead.limiters[1].acquire(principal, limits, 1))).code).toBe('quota_exceeded');
      const next = await admittedWithin(dead.limiters[1], principal, limits, 1, 5000);
      next.settle(1);
      expect(dead.limiters[1].heldSlots).toBe(0);
    } finally {
      await live.close();
      await dead.close();
    }
  });

  it('leaves no limiter key without an expiry, and stops refreshing once nothing is held', async () => {
    const { limiters, close } = await pair();
    try {
      const leases = [];
      for (let i = 0; i < 20; i++) {
        leases.push(
          await limiters[i % 2]!.acquire(
            `key:${randomUUID()}`,
            { concurrentStreams: 3, requestsPerMinute: 10, tokensPerMinute: 1000 },
            100,
          ),
        );
      }
      expect(limiters[0].heldSlots + limiters[1].heldSlots).toBe(20);
      for (const lease of leases) lease.settle(10);
      expect(limiters[0].heldSlots + limiters[1].heldSlots).toBe(0);
      await sleep(100);
      const keys = (await admin.call(['KEYS', 'relay:limit:*'])) as string[];
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) expect(Number(await admin.call(['PTTL', key]))).toBeGreaterThan(0);
    } finally {
      await close();
    }
  });

  it('fails closed when Redis is unreachable: store_unavailable (503) for a limited key, never admitted', async () => {
    const nowhere = new RedisConnection({ url: `redis://127.0.0.1:${await freePort()}` });
    await nowhere.connect(200);
    const limiter = new RedisLimiter({ connection: nowhere, slotTtlMs: 1000 });
    try {
      for (const limits of [{ concurrentStreams: 5 }, { requestsPerMinute: 5 }, { tokensPerMinute: 5000 }]) {
        const err = await refusal(limiter.acquire('key:k', limits, 10));
        expect(err.code).toBe('store_unavailable');
        expect(err.status).toBe(503);
        expect(err.retryable).toBe(true);
      }
      // A key without rate or concurrency limits has nothing to count: it is admitted.
      (await limiter.acquire('key:k', { maxTokens: 10 }, 10)).settle(0);
      expect(limiter.heldSlots).toBe(0);
    } finally {
      limiter.close();
      await nowhere.close();
    }
  });
});
