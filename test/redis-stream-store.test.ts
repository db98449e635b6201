import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamRegistry } from '../src/core/streams.js';
import { RedisConnection } from '../src/redis/connection.js';
import { RedisStreamStore } from '../src/redis/redis-stream-store.js';
import { requireComponent } from './helpers/components.js';
import { type RedisServer, startRedisServer } from './helpers/redis-server.js';
import { ScriptedUpstream, textScript } from './helpers/scripted-upstream.js';
import { CONTRACT_CONFIG, CollectSink, describeStreamStore } from './stream-store.contract.js';

const REDIS = requireComponent('redis');

describe.skipIf(!REDIS)('Redis stream store', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer(REDIS!);
  });
  afterAll(async () => {
    await redis?.stop();
  });

  async function pair(config = CONTRACT_CONFIG) {
    const connections = [0, 1].map(() => new RedisConnection({ url: redis.url }));
    await Promise.all(connections.map((c) => c.connect()));
    const stores = connections.map(
      (connection) => new RedisStreamStore({ connection, config, heartbeatMs: 200, leaseMs: 1000 }),
    );
    await Promise.all(stores.map((s) => s.start()));
    return {
      connections,
      stores: [stores[0]!, stores[1]!] as const,
      close: async () => {
        await Promise.all(connections.map((c) => c.close()));
      },
    };
  }

  describeStreamStore('redis (two instances)', pair);

  it('a follower applies the batches the generating instance announces, without reading the log back for each', async () => {
    const { connections, stores, close } = await pair();
    const a = new StreamRegistry({
      // Paced, so each event is its own batch (its own event-loop turn on A).
      upstream: new ScriptedUpstream(() => textScript(40).flatMap((step) => [{ wait: 2 }, step])),
      config: CONTRACT_CONFIG,
      store: stores[0],
    });
    const b = new StreamRegistry({
      upstream: new ScriptedUpstream(() => []),
      config: CONTRACT_CONFIG,
      store: stores[1],
    });
    const reads: string[] = [];
    const follower = connections[1]!;
    const call = follower.call.bind(follower);
    follower.call = (args, timeoutMs) => {
      if (args[0] === 'XRANGE') reads.push(args[2]!);
      return call(args, timeoutMs);
    };
    try {
      const created = await a.create({ message: 'x' }, { owner: 'alice' });
      const handle = await b.open(created.id, 'alice');
      const sink = new CollectSink();
      handle.attach(sink, 0);
      await sink.finished;
      expect(sink.seqs).toEqual(Array.from({ length: 42 }, (_, i) => i + 1));
      // The first read catches up; later ones only when a batch did not follow on (or a
      // heartbeat's catch-up): far fewer than one per event.
      expect(reads.length).toBeLessThan(10);
    } finally {
      await a.shutdown(1000);
      await b.shutdown(1000);
      await close();
    }
  });
});
