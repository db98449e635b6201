/**
 * /metrics moves exactly as a scripted set of streams says: started/ended by transport, outcome
 * and code, tokens, first-token and gap histograms, upstream attempts, retries and errors, cancel
 * latency, drain state. The exposition text is parsed and its values asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer } from '../src/server.js';
import { type Sample, samples, scrape as scrapeRelay, value } from './helpers/metrics.js';
import { startTestRelay } from './helpers/relay.js';
import { readSse, streamSse } from './helpers/sse.js';
import { until, WsClient, wsUrl } from './helpers/ws.js';

const MODEL = 'claude-sim';
let relay: RelayServer;
beforeAll(async () => {
  relay = await startTestRelay();
});
afterAll(async () => {
  await relay.close();
});

function scrape(): Promise<Sample[]> {
  return scrapeRelay(relay.url);
}

function post(path: string, body: unknown, accept?: string): Promise<Response> {
  return fetch(`${relay.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(accept ? { accept } : {}) },
    body: JSON.stringify(body),
  });
}

describe('GET /metrics', () => {
  it('moves as a scripted set of streams says', async () => {
    const before = await scrape();
    expect(before.some((s) => s.name.startsWith('relay_process_process_'))).toBe(false);
    expect(value(before, 'relay_draining')).toBe(0);

    // SSE: two done (5 tokens each), one upstream error after 2 tokens, one retried then done.
    for (const p of ['a [[sim tokens=5]]', 'b [[sim tokens=5]]']) {
      await readSse(await post('/v1/streams', { model: MODEL, message: p }));
    }
    await readSse(await post('/v1/streams', { model: MODEL, message: 'c [[sim tokens=5 error_after=2]]' }));
    await readSse(
      await post('/v1/streams', { model: MODEL, message: 'd [[sim tokens=2 fail_first=1 status=529]]' }),
    );
    // WebSocket: one done with 3 tokens. Classic: one done with 4 tokens.
    const ws = await WsClient.open(wsUrl(relay.url));
    const wsId = await ws.start({ model: MODEL, message: 'e [[sim tokens=3]]' });
    await ws.untilTerminal(wsId);
    await ws.close();
    await (await post('/chat/stream', { model: MODEL, message: 'f [[sim tokens=4]]' })).text();
    // SSE: one cancelled by the client while it streams; it counts as active until then.
    const long = await post('/v1/streams', { model: MODEL, message: 'g [[sim tokens=100000 tps=50]]' });
    const longId = long.headers.get('x-stream-id')!;
    let sawText = false;
    const reading = streamSse(long, (f) => {
      if (f.event === 'text') sawText = true;
      return undefined;
    });
    await until(() => sawText, 5000, 'first token');
    const mid = await scrape();
    expect(value(mid, 'relay_streams_active', { transport: 'sse' })).toBe(1);
    await post(`/v1/streams/${longId}/cancel`, {});
    await reading;
    await relay.registry.settled(longId);

    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) =>
      value(after, name, labels) - value(before, name, labels);
    const who = { model: MODEL, principal: 'anonymous' };

    expect(delta('relay_streams_started_total', { transport: 'sse', ...who })).toBe(5);
    expect(delta('relay_streams_started_total', { transport: 'ws', ...who })).toBe(1);
    expect(delta('relay_streams_started_total', { transport: 'classic', ...who })).toBe(1);
    expect(delta('relay_streams_ended_total', { transport: 'sse', outcome: 'done', code: '', ...who })).toBe(
      3,
    );
    expect(
      delta('relay_streams_ended_total', { transport: 'sse', outcome: 'error', code: 'upstream_overloaded' }),
    ).toBe(1);
    expect(
      delta('relay_streams_ended_total', { transport: 'sse', outcome: 'cancelled', code: 'client' }),
    ).toBe(1);
    expect(delta('relay_streams_ended_total', { transport: 'ws', outcome: 'done' })).toBe(1);
    expect(delta('relay_streams_ended_total', { transport: 'classic', outcome: 'done' })).toBe(1);
    expect(value(after, 'relay_streams_active', { transport: 'sse' })).toBe(0);

    // Upstream's own counts for the five done streams: 5 + 5 + 2 + 3 + 4 output tokens; the
    // error and the cancel add at least one each (estimated).
    const outputs = delta('relay_tokens_total', { direction: 'output', ...who });
    expect(outputs).toBeGreaterThanOrEqual(19 + 2 + 1);
    expect(delta('relay_tokens_total', { direction: 'input', ...who })).toBeGreaterThan(0);

    // Attempts: 5 done, 2 failed (the 529 that was retried, the error event), 1 aborted (cancel).
    expect(delta('relay_stream_attempts_total', { outcome: 'done' })).toBe(5);
    expect(delta('relay_stream_attempts_total', { outcome: 'failed' })).toBe(2);
    expect(delta('relay_stream_attempts_total', { outcome: 'aborted' })).toBe(1);
    expect(delta('relay_upstream_errors_total', { status: '529', code: 'upstream_overloaded' })).toBe(1);
    expect(delta('relay_upstream_errors_total', { status: '', code: 'upstream_overloaded' })).toBe(1);
    expect(delta('relay_upstream_retries_total', { code: 'upstream_overloaded' })).toBe(1);

    // Histograms: a first token on each of the 7 streams, a gap between each two content events.
    expect(delta('relay_time_to_first_token_seconds_count', { transport: 'sse' })).toBe(5);
    expect(delta('relay_time_to_first_token_seconds_count', { transport: 'ws' })).toBe(1);
    expect(delta('relay_time_to_first_token_seconds_count', { transport: 'classic' })).toBe(1);
    expect(delta('relay_inter_token_gap_seconds_count', { transport: 'ws' })).toBe(2);
    expect(delta('relay_inter_token_gap_seconds_count', { transport: 'classic' })).toBe(3);
    expect(delta('relay_stream_duration_seconds_count', { transport: 'sse', outcome: 'done' })).toBe(3);
    expect(delta('relay_cancel_upstream_closed_seconds_count')).toBe(1);
    // Buckets reach from milliseconds to minutes.
    const buckets = after
      .filter((s) => s.name === 'relay_inter_token_gap_seconds_bucket')
      .map((s) => s.labels.le);
    expect(buckets).toContain('0.001');
    expect(buckets).toContain('30');
    // No stream id ever becomes a label.
    expect(after.some((s) => Object.values(s.labels).some((v) => v.startsWith('str_')))).toBe(false);
  });

  it('counts readers: relay-added first token for readers already following, resumes and replayed events', async () => {
    const before = await scrape();
    // Live readers: SSE, WebSocket, classic; each sees its first token as it arrives.
    const live = await post('/v1/streams', { model: MODEL, message: 'h [[sim tokens=5]]' });
    const liveId = live.headers.get('x-stream-id')!;
    await readSse(live);
    const ws = await WsClient.open(wsUrl(relay.url));
    const wsId = await ws.start({ model: MODEL, message: 'i [[sim tokens=3]]' });
    const wsEvents = await ws.untilTerminal(wsId);
    await (await post('/chat/stream', { model: MODEL, message: 'j [[sim tokens=4]]' })).text();
    const liveLast = (await (await fetch(`${relay.url}/v1/streams/${liveId}`)).json()).last_seq as number;

    // SSE resume after seq 3 of a finished stream: one resume, the rest replayed from the log.
    const resumed = await readSse(await fetch(`${relay.url}/v1/streams/${liveId}/events?after=3`));
    expect(resumed.frames.length).toBe(liveLast - 3);
    // A detached start read once it has ended: a late reader (no resume), its events replayed
    // except the start event every new reader gets from the log.
    const detached = (await (
      await post('/v1/streams', { model: MODEL, message: 'k [[sim tokens=2]]' }, 'application/json')
    ).json()) as { stream_id: string };
    await relay.registry.settled(detached.stream_id);
    const late = await readSse(await fetch(`${relay.url}/v1/streams/${detached.stream_id}/events`));
    // WebSocket resume after seq 2 on a new connection.
    const ws2 = await WsClient.open(wsUrl(relay.url));
    ws2.send({ type: 'resume', stream_id: wsId, after: 2 });
    await ws2.untilTerminal(wsId);
    await ws.close();
    await ws2.close();

    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) =>
      value(after, name, labels) - value(before, name, labels);
    // Only the three readers that were following when the first token came are timed.
    expect(delta('relay_added_time_to_first_token_seconds_count', { transport: 'sse' })).toBe(1);
    expect(delta('relay_added_time_to_first_token_seconds_count', { transport: 'ws' })).toBe(1);
    expect(delta('relay_added_time_to_first_token_seconds_count', { transport: 'classic' })).toBe(1);
    expect(delta('relay_resumes_total', { transport: 'sse' })).toBe(1);
    expect(delta('relay_resumes_total', { transport: 'ws' })).toBe(1);
    expect(delta('relay_resumes_total', { transport: 'classic' })).toBe(0);
    expect(delta('relay_replayed_events_total', { transport: 'sse' })).toBe(
      liveLast - 3 + (late.frames.length - 1),
    );
    expect(delta('relay_replayed_events_total', { transport: 'ws' })).toBe(wsEvents.length - 2);
    expect(delta('relay_replayed_events_total', { transport: 'classic' })).toBe(0);
    expect(delta('relay_slow_consumer_cuts_total')).toBe(0);
  });

  it('prints the per-stream series with their labels in the order they always had (tallied, not prom-client)', async () => {
    const other = await startTestRelay();
    try {
      await readSse(
        await fetch(`${other.url}/v1/streams`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: MODEL, message: 'h [[sim tokens=3]]' }),
        }),
      );
      const metrics = async () => (await fetch(`${other.url}/metrics`)).text();
      await expect.poll(metrics, { timeout: 5000 }).toContain('relay_streams_ended_total{');
      const text = await metrics();
      const who = `model="${MODEL}",principal="anonymous"`;
      // Dashboards and recording rules match on names and labels; the text stays as it was.
      expect(text).toContain(`\nrelay_streams_started_total{transport="sse",${who}} 1\n`);
      expect(text).toContain(
        `\nrelay_streams_ended_total{transport="sse",${who},outcome="done",code=""} 1\n`,
      );
      expect(text).toMatch(
        /\nrelay_tokens_total\{principal="anonymous",model="claude-sim",direction="output"\} 3\n/,
      );
      expect(text).toContain('\nrelay_stream_attempts_total{outcome="done"} 1\n');
      expect(text).toContain('\nrelay_time_to_first_token_seconds_count{transport="sse"} 1\n');
      expect(text).toContain('\nrelay_time_to_first_token_seconds_bucket{le="+Inf",transport="sse"} 1\n');
      expect(text).toContain('\nrelay_stream_duration_seconds_count{transport="sse",outcome="done"} 1\n');
      expect(text).toContain('# TYPE relay_streams_ended_total counter\n');
      expect(text).toContain('# TYPE relay_time_to_first_token_seconds histogram\n');
    } finally {
      await other.close();
    }
  });

  it('shows the drain', async () => {
    const other = await startTestRelay();
    try {
      other.registry.beginDrain();
      const text = await (await fetch(`${other.url}/metrics`)).text();
      expect(value(samples(text), 'relay_draining')).toBe(1);
    } finally {
      await other.close();
    }
  });
});
