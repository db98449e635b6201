/**
 * Tickets shared through a real redis-server: the secret every instance agrees on without
 * RELAY_TICKET_SECRET (kept across a Redis restart that lost its data), single use across
 * instances, and Redis unreachable answered with store_unavailable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SpentTickets, type TicketSecret, Tickets } from '../src/auth/tickets.js';
import { RelayError } from '../src/core/errors.js';
import { RedisConnection } from '../src/redis/connection.js';
import { RedisSpentTickets, RedisTicketSecret } from '../src/redis/redis-tickets.js';
import { requireComponent } from './helpers/components.js';
import { freePort, type RedisServer, startRedisServer } from './helpers/redis-server.js';

const REDIS = requireComponent('redis');
const subject = { kind: 'key', name: 'alice' } as const;

async function failure(p: Promise<unknown>): Promise<RelayError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RelayError);
  return err as RelayError;
}

describe.skipIf(!REDIS)('tickets shared through Redis', () => {
  let redis: RedisServer;
  const connections: RedisConnection[] = [];
  let one: Tickets;
  let two: Tickets;

  async function instance(): Promise<Tickets> {
    const connection = new RedisConnection({ url: redis.url });
    connections.push(connection);
    await connection.connect();
    const secret: TicketSecret = new RedisTicketSecret(connection);
    const spent: SpentTickets = new RedisSpentTickets(connection);
    return new Tickets({ secret, spent, ttlMs: 60_000 });
  }

  beforeAll(async () => {
    redis = await startRedisServer(REDIS!);
    one = await instance();
    two = await instance();
  });
  afterAll(async () => {
    await Promise.all(connections.map((c) => c.close()));
    await redis?.stop();
  });

  it('a ticket issued by one instance is checked by the other, and spent once across both', async () => {
    const { ticket } = await one.issue(subject);
    // Reusable reads (EventSource) on either.
    expect(await two.verify(ticket, { spend: false })).toEqual(subject);
    expect(await one.verify(ticket, { spend: false })).toEqual(subject);
    // Spent on two: one refuses it, and so does two.
    expect(await two.verify(ticket, { spend: true })).toEqual(subject);
    expect((await failure(one.verify(ticket, { spend: true }))).message).toContain('already used');
    expect((await failure(two.verify(ticket, { spend: true }))).code).toBe('unauthorized');
  });

  it('a ticket signed with another secret is refused', async () => {
    const stranger = new Tickets({ secret: 'x'.repeat(40), ttlMs: 60_000 });
    const { ticket } = await stranger.issue(subject);
    expect((await failure(one.verify(ticket, { spend: false }))).code).toBe('unauthorized');
  });

  it('spent keys expire with the ticket', async () => {
    const { ticket } = await one.issue(subject);
    await one.verify(ticket, { spend: true });
    const keys = (await connections[0]!.call(['KEYS', 'relay:ticket:*'])) as string[];
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      const ttl = Number(await connections[0]!.call(['PTTL', key]));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
    }
  });

  it('a Redis restart without its data keeps the shared secret: tickets issued before still verify everywhere', async () => {
    const { ticket } = await one.issue(subject);
    await redis.stop();
    await redis.restart();
    const deadline = Date.now() + 10_000;
    while (!connections.every((c) => c.isReady)) {
      if (Date.now() > deadline) throw new Error('connections did not come back within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    // A third instance that never saw the old Redis agrees as well.
    const three = await instance();
    for (const t of [two, one, three]) expect(await t.verify(ticket, { spend: false })).toEqual(subject);
    const fresh = await three.issue(subject);
    expect(await one.verify(fresh.ticket, { spend: true })).toEqual(subject);
  }, 30_000);

  it('Redis unreachable before the secret was read: issuing and checking are store_unavailable (503)', async () => {
    const nowhere = new RedisConnection({ url: `redis://127.0.0.1:${await freePort()}` });
    await nowhere.connect(200);
    try {
      const tickets = new Tickets({
        secret: new RedisTicketSecret(nowhere),
        spent: new RedisSpentTickets(nowhere),
        ttlMs: 60_000,
      });
      const err = await failure(tickets.issue(subject));
      expect(err.code).toBe('store_unavailable');
      expect(err.status).toBe(503);
      // With a configured secret, checking works but spending still needs Redis: never reusable.
      const configured = new Tickets({
        secret: 's'.repeat(40),
        spent: new RedisSpentTickets(nowhere),
        ttlMs: 60_000,
      });
      const { ticket } = await configured.issue(subject);
      expect(await configured.verify(ticket, { spend: false })).toEqual(subject);
      expect((await failure(configured.verify(ticket, { spend: true }))).code).toBe('store_unavailable');
    } finally {
      await nowhere.close();
    }
  });
});
