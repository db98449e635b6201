/**
 * SIGTERM / SIGINT / SIGHUP drain the relay as users run it (a child process): /ready flips, new
 * streams are refused with shutting_down on every route, running streams finish or are cancelled
 * (shutdown) at RELAY_DRAIN_MS, WebSockets close 1001 after their last terminal event, exit 0.
 */
import Anthropic from '@anthropic-ai/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { type RelayProcess, spawnRelay } from './helpers/relay-process.js';
import { type SseFrame, streamSse } from './helpers/sse.js';
import { isTerminalEvent, until, WsClient, wsUrl } from './helpers/ws.js';

const TERMINAL = new Set(['done', 'error', 'cancelled']);
const SHORT = '[[sim tokens=10 tps=10]]';
const LONG = '[[sim tokens=100000 tps=20]]';

let relay: RelayProcess | undefined;
const sockets: WsClient[] = [];
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.close()));
  await relay?.kill();
  relay = undefined;
});

interface SseStream {
  id: string;
  long: boolean;
  frames: SseFrame[];
  ended: Promise<void>;
}

async function openSse(url: string, message: string, long: boolean): Promise<SseStream> {
  const res = await fetch(`${url}/v1/streams`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message }),
  });
  expect(res.status).toBe(200);
  const frames: SseFrame[] = [];
  const ended = streamSse(res, (f) => {
    frames.push(f);
    return undefined;
  });
  return { id: res.headers.get('x-stream-id')!, long, frames, ended };
}

function events(frames: SseFrame[]): Record<string, unknown>[] {
  return frames.filter((f) => f.event !== undefined).map((f) => JSON.parse(f.data));
}

function terminals(list: readonly { type?: unknown }[]): { type?: unknown }[] {
  return list.filter((e) => TERMINAL.has(String(e.type)));
}

async function readyStatus(url: string): Promise<number> {
  return (await fetch(`${url}/ready`)).status;
}

describe('drain on SIGTERM (relay as a child process)', () => {
  it('a hundred SSE and WebSocket streams: short ones done, long ones cancelled at the deadline, new ones refused, exit 0', async () => {
    const drainMs = 6000;
    relay = await spawnRelay({ RELAY_DRAIN_MS: String(drainMs) });
    const { url } = relay;
    expect(await readyStatus(url)).toBe(200);

    // 50 SSE streams (half short, half long) and 50 over five WebSockets: two with only short
    // streams, three mixed; one more connection stays idle.
    const sse = await Promise.all(
      Array.from({ length: 50 }, (_, i) => openSse(url, `sse ${i} ${i % 2 ? LONG : SHORT}`, i % 2 === 1)),
    );
    const ws: { client: WsClient; ids: Map<string, boolean> }[] = [];
    for (let c = 0; c < 5; c++) {
      const client = await WsClient.open(wsUrl(url));
      sockets.push(client);
      const ids = new Map<string, boolean>();
      for (let i = 0; i < 10; i++) {
        const long = c >= 2 && i % 2 === 1;
        ids.set(await client.start({ message: `ws ${c}-${i} ${long ? LONG : SHORT}` }), long);
      }
      ws.push({ client, ids });
    }
    const idle = await WsClient.open(wsUrl(url));
    sockets.push(idle);
    // Every stream has content flowing before the signal.
    await until(
      () =>
        sse.every((s) => events(s.frames).some((e) => e.type === 'text')) &&
        ws.every(({ client, ids }) =>
          [...ids.keys()].every((id) => client.eventsOf(id).some((m) => m.type === 'text')),
        ),
      20_000,
      'first tokens on every stream',
    );
    const longWsIds = ws.flatMap(({ ids }) => [...ids].filter(([, long]) => long).map(([id]) => id));
    const longTerminalsSoFar = (): number =>
      ws.reduce(
        (n, { client }) =>
          n + client.messages.filter((m) => isTerminalEvent(m) && longWsIds.includes(m.stream_id!)).length,
        0,
      );
    let longEndedWhenIdleClosed = -1;
    void idle.closed.then(() => {
      longEndedWhenIdleClosed = longTerminalsSoFar();
    });

    const signalledAt = performance.now();
    relay.child.kill('SIGTERM');
    // /ready flips and every route refuses new streams with shutting_down, in its own shape.
    let ready = 200;
    for (let i = 0; i < 100 && ready === 200; i++) {
      ready = await readyStatus(url);
      if (ready === 200) await new Promise((r) => setTimeout(r, 10));
    }
    expect(ready).toBe(503);
    const readyBody = (await (await fetch(`${url}/ready`)).json()) as { not_ready: string[] };
    expect(readyBody.not_ready).toContain('draining');

    const refused = await fetch(`${url}/v1/streams`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'too late' }),
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toMatchObject({ error: { code: 'shutting_down' } });

    const classic = await fetch(`${url}/chat/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'too late' }),
    });
    expect(classic.status).toBe(503);
    expect(await classic.json()).toMatchObject({ error: { code: 'shutting_down' } });

    const messages = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({
        model: 'claude-sim',
        max_tokens: 10,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    });
    expect(messages.status).toBe(503);
    expect(messages.headers.get('x-should-retry')).toBe('true');
    expect(messages.headers.get('retry-after')).toBe('1');
    expect(await messages.json()).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });

    // A new WebSocket is accepted: its start is refused (then it closes, idle), a resume works.
    const late = await WsClient.open(wsUrl(url));
    sockets.push(late);
    late.send({ type: 'start', ref: 'late', request: { message: 'too late' } });
    expect(await late.waitFor((m) => m.ref === 'late')).toMatchObject({
      type: 'error',
      code: 'shutting_down',
      retryable: true,
      retry_after_ms: 1000,
    });
    expect((await late.closed).code).toBe(1001);

    const longSse = sse.filter((s) => s.long);
    const resumer = await WsClient.open(wsUrl(url));
    sockets.push(resumer);
    const resumed = longSse[0]!.id;
    resumer.send({ type: 'resume', stream_id: resumed, after: 0 });
    await resumer.waitFor((m) => m.stream_id === resumed && m.type === 'text');

    // State and cancel still work.
    const cancelled = longSse[1]!;
    const state = await fetch(`${url}/v1/streams/${cancelled.id}`);
    expect(state.status).toBe(200);
    expect(await state.json()).toMatchObject({ state: 'running' });
    const cancel = await fetch(`${url}/v1/streams/${cancelled.id}/cancel`, { method: 'POST' });
    expect(await cancel.json()).toMatchObject({ state: 'cancelled' });

    await Promise.all(sse.map((s) => s.ended));
    const exit = await relay.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - signalledAt).toBeLessThan(drainMs + 2000 + 1000);
    expect(relay.stdout()).toContain('relay stopped');

    for (const s of sse) {
      const ends = terminals(events(s.frames));
      expect(ends).toHaveLength(1);
      if (s === cancelled) expect(ends[0]).toMatchObject({ type: 'cancelled', reason: 'client' });
      else if (s.long) {
        expect(ends[0]).toMatchObject({ type: 'cancelled', reason: 'shutdown', usage: { estimated: true } });
        expect((ends[0] as { usage: { output_tokens: number } }).usage.output_tokens).toBeGreaterThan(0);
      } else expect(ends[0]).toMatchObject({ type: 'done' });
    }
    for (const { client, ids } of ws) {
      const close = await client.closed;
      expect(close.code).toBe(1001);
      for (const [id, long] of ids) {
        const ends = client.eventsOf(id).filter(isTerminalEvent);
        expect(ends).toHaveLength(1);
        expect(ends[0]).toMatchObject(long ? { type: 'cancelled', reason: 'shutdown' } : { type: 'done' });
      }
    }
    // The resumed stream ended on the new connection too, then it closed with 1001.
    expect(resumer.eventsOf(resumed).filter(isTerminalEvent)).toEqual([
      expect.objectContaining({ type: 'cancelled', reason: 'shutdown' }),
    ]);
    expect((await resumer.closed).code).toBe(1001);
    // The idle connection closed at once, before any long stream ended.
    expect((await idle.closed).code).toBe(1001);
    expect(longEndedWhenIdleClosed).toBe(0);
  }, 60_000);

  it('SIGHUP drains like SIGTERM, and a second signal cancels everything now, exit 0', async () => {
    relay = await spawnRelay({ RELAY_DRAIN_MS: '60000' });
    const { url } = relay;
    const streams = await Promise.all(
      Array.from({ length: 10 }, (_, i) => openSse(url, `hup ${i} ${LONG}`, true)),
    );
    const client = await WsClient.open(wsUrl(url));
    sockets.push(client);
    const wsId = await client.start({ message: `hup ws ${LONG}` });
    await until(
      () => streams.every((s) => events(s.frames).some((e) => e.type === 'text')),
      20_000,
      'tokens',
    );
    relay.child.kill('SIGHUP');
    await until(() => relay!.stdout().includes('relay draining (SIGHUP)'), 5000, 'drain start');
    expect(await readyStatus(url)).toBe(503);
    relay.child.kill('SIGTERM');
    const exit = await relay.exited;
    expect(exit.code).toBe(0);
    await Promise.all(streams.map((s) => s.ended));
    for (const s of streams) {
      expect(terminals(events(s.frames))).toEqual([
        expect.objectContaining({ type: 'cancelled', reason: 'shutdown' }),
      ]);
    }
    expect(client.eventsOf(wsId).filter(isTerminalEvent)).toEqual([
      expect.objectContaining({ type: 'cancelled', reason: 'shutdown' }),
    ]);
    expect((await client.closed).code).toBe(1001);
  }, 60_000);
});

describe('drain with /v1/messages streams (official Anthropic SDK)', () => {
  it('ends each open stream at an event boundary with an error event; short ones complete', async () => {
    relay = await spawnRelay({ RELAY_DRAIN_MS: '3000' });
    const client = new Anthropic({ apiKey: 'client-key', baseURL: relay.url, maxRetries: 0 });
    const open = (prompt: string) =>
      client.messages.stream({
        model: 'claude-sim',
        max_tokens: 100000,
        messages: [{ role: 'user', content: prompt }],
      });
    const longs = Array.from({ length: 5 }, (_, i) => open(`long ${i} ${LONG}`));
    const short = open(`short ${SHORT}`);
    const texts = longs.map(() => ({ n: 0 }));
    longs.forEach((s, i) => {
      s.on('text', () => texts[i]!.n++);
    });
    let shortTexts = 0;
    short.on('text', () => shortTexts++);
    await until(() => texts.every((t) => t.n > 0) && shortTexts > 0, 20_000, 'tokens on every stream');
    relay.child.kill('SIGTERM');

    const outcomes = await Promise.all(
      longs.map((s) =>
        s.finalMessage().then(
          () => undefined,
          (err: unknown) => err,
        ),
      ),
    );
    for (const err of outcomes) {
      // Anthropic's own error event, not a cut connection ("terminated") or a JSON parse failure.
      expect(err).toBeInstanceOf(Anthropic.APIError);
      expect(err).not.toBeInstanceOf(Anthropic.APIConnectionError);
      expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
        type: 'error',
        error: { type: 'overloaded_error' },
      });
    }
    const final = await short.finalMessage();
    expect(final.stop_reason).toBe('end_turn');
    const exit = await relay.exited;
    expect(exit.code).toBe(0);
  }, 60_000);
});
