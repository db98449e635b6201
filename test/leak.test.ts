import { describe, expect, it } from 'vitest';
import { startTestRelay } from './helpers/relay.js';
import { readSse } from './helpers/sse.js';

function timers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'Immediate').length;
}

// A thousand real streams take ~14 s on a quiet 2-core machine and twice that beside other suites;
// the bound is generous because the test asserts what is left behind, not how fast.
const THOUSAND_STREAMS_MS = 60_000;

describe('resource hygiene over HTTP', () => {
  it(
    'a thousand SSE streams leave no timers, listeners or registry entries behind',
    async () => {
      const relay = await startTestRelay({ retentionMs: 1 });
      try {
        const baseline = timers();
        const logs: { listenerCount: number }[] = [];
        const stop = relay.registry.onEnd((s) => logs.push(s.log));
        let done = 0;
        for (let batch = 0; batch < 20; batch++) {
          await Promise.all(
            Array.from({ length: 50 }, async (_, i) => {
              const res = await fetch(`${relay.url}/v1/streams`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({
                  message: `leak ${batch}-${i} [[sim tokens=3]]`,
                  on_disconnect: i % 2 ? 'abort' : 'grace',
                }),
              });
              const { frames } = await readSse(res);
              if (frames.at(-1)?.event === 'done') done++;
            }),
          );
        }
        stop();
        expect(done).toBe(1000);
        for (let i = 0; i < 500 && relay.registry.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
        expect(relay.registry.size).toBe(0);
        expect(logs).toHaveLength(1000);
        expect(logs.every((l) => l.listenerCount === 0)).toBe(true);
        // Let keep-alive sockets and their timers settle, then compare with the start.
        await new Promise((r) => setTimeout(r, 50));
        expect(timers()).toBeLessThanOrEqual(baseline + 2);
        expect(relay.server.listenerCount('request')).toBe(1);
      } finally {
        await relay.close();
      }
    },
    THOUSAND_STREAMS_MS,
  );
});
