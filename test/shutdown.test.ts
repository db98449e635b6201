import { describe, expect, it } from 'vitest';
import { startTestRelay } from './helpers/relay.js';
import { readSse, relayEvents } from './helpers/sse.js';

describe('shutdown', () => {
  it('every running stream gets one cancelled(shutdown) event before the server closes', async () => {
    const relay = await startTestRelay();
    const responses = await Promise.all(
      [1, 2, 3].map((i) =>
        fetch(`${relay.url}/v1/streams`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ message: `shutdown ${i} [[sim tokens=1000 tps=50]]` }),
        }),
      ),
    );
    const reading = responses.map((r) => readSse(r));
    await relay.simulated!.records.waitFor((r) => r.tokensSent > 0);
    await relay.close();
    for (const read of reading) {
      const events = relayEvents((await read).frames);
      const terminals = events.filter((e) => ['done', 'error', 'cancelled'].includes(e.type));
      expect(terminals).toEqual([expect.objectContaining({ type: 'cancelled', reason: 'shutdown' })]);
    }
  });
});
