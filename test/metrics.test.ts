import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer } from '../src/server.js';
import { startTestRelay } from './helpers/relay.js';
import { readSse } from './helpers/sse.js';

let relay: RelayServer;
beforeAll(async () => {
  relay = await startTestRelay();
});
afterAll(async () => {
  await relay.close();
});

describe('GET /metrics', () => {
  it('answers Prometheus text with stream outcomes and token counts', async () => {
    await readSse(
      await fetch(`${relay.url}/v1/streams`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'metrics [[sim tokens=5]]' }),
      }),
    );
    const res = await fetch(`${relay.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(/relay_streams_ended_total\{outcome="done",detail=""\} 1/);
    expect(text).toMatch(/relay_tokens_total\{direction="output"\} 5/);
    expect(text).toContain('relay_streams_running 0');
    expect(text).toContain('relay_time_to_first_token_seconds_count 1');
    expect(text).toContain('relay_ws_connections 0');
  });
});
