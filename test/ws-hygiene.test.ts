import { describe, expect, it } from 'vitest';
import { startTestRelay } from './helpers/relay.js';
import { ScriptedUpstream, textScript } from './helpers/scripted-upstream.js';
import { range, until, WsClient, wsUrl } from './helpers/ws.js';

/**
 * Active handles and requests by type, e.g. { Timeout: 2, TCPSocketWrap: 5 }. Only what keeps the
 * process alive: unref'd timers (grace, retention, heartbeat) show instead through the registry
 * emptying, which clears them.
 */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

const TIMERS = ['Timeout', 'Immediate'] as const;

describe('resource hygiene', () => {
  it('leaves no timer, listener or stream behind after a thousand streams on four sockets', async () => {
    // At the seam, so the only sockets are the WebSockets themselves (no upstream connection pool).
    const upstream = new ScriptedUpstream((req) =>
      textScript(1 + (String(req.messages[0]?.content).length % 7)),
    );
    const relay = await startTestRelay({ retentionMs: 200, wsMaxMessagesPerSecond: 5000 }, upstream);
    try {
      const baseline = resources();
      const logs: { listenerCount: number }[] = [];
      const stop = relay.registry.onEnd((g) => logs.push(g.log));

      const clients = await Promise.all(range(1, 4).map(() => WsClient.open(wsUrl(relay.url))));
      const ids = (
        await Promise.all(
          clients.map((client, c) =>
            Promise.all(range(1, 250).map((i) => client.start({ message: `hygiene ${c}-${i}` }))),
          ),
        )
      ).flat();
      expect(new Set(ids).size).toBe(1000);
      for (const [c, client] of clients.entries()) {
        for (const id of ids.slice(c * 250, (c + 1) * 250)) {
          const events = await client.untilTerminal(id);
          expect(events.map((e) => e.seq)).toEqual(range(1, events.length));
          expect(events.at(-1)?.type).toBe('done');
          const stream = await relay.registry.find(id);
          // Still retained: nothing subscribed to it any more.
          if (stream !== undefined) expect(stream.readerCount).toBe(0);
        }
      }
      stop();
      expect(logs).toHaveLength(1000);
      // Nothing subscribed to any log any more.
      expect(logs.every((l) => l.listenerCount === 0)).toBe(true);
      await Promise.all(clients.map((client) => client.close()));
      await until(() => relay.registry.size === 0, 10_000, 'every stream to expire');
      await until(
        () => TIMERS.every((type) => (resources()[type] ?? 0) <= (baseline[type] ?? 0)),
        5000,
        'timers back to the baseline',
      );
      const after = resources();
      for (const type of TIMERS) expect(after[type] ?? 0).toBeLessThanOrEqual(baseline[type] ?? 0);
      await until(
        () => (resources().TCPSocketWrap ?? 0) <= (baseline.TCPSocketWrap ?? 0),
        5000,
        'every socket closed',
      );
      expect(upstream.calls.every((call) => call.finished)).toBe(true);
    } finally {
      await relay.close();
    }
  });
});

describe('shutdown', () => {
  it('sends each running stream its cancelled event, then closes the socket with 1001', async () => {
    const relay = await startTestRelay();
    const client = await WsClient.open(wsUrl(relay.url));
    const ids = await Promise.all(
      range(1, 3).map((i) =>
        client.start({ message: `shutdown ${i} ${process.pid} [[sim tokens=400 tps=50]]` }),
      ),
    );
    await client.waitFor((m) => m.stream_id === ids[0] && m.type === 'text');
    await relay.close();
    const closed = await client.closed;
    expect(closed.code).toBe(1001);
    for (const id of ids) {
      const events = client.eventsOf(id);
      expect(events.map((e) => e.seq)).toEqual(range(1, events.length));
      expect(events.at(-1)).toMatchObject({ type: 'cancelled', reason: 'shutdown' });
    }
  });
});
