import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer } from '../src/server.js';
import { startTestRelay } from './helpers/relay.js';
import { parseSse, readSse, relayEvents, streamSse } from './helpers/sse.js';

let relay: RelayServer;
beforeAll(async () => {
  relay = await startTestRelay({ graceMs: 5000, ssePingMs: 20 });
});
afterAll(async () => {
  await relay.close();
});

let n = 0;
/** A unique prompt so a test can find its own upstream request at the simulator. */
function prompt(directives = ''): string {
  return `sse test ${++n} ${process.pid}${directives ? ` [[sim ${directives}]]` : ''}`;
}

function post(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${relay.url}/v1/streams`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function detached(
  body: unknown,
): Promise<{ stream_id: string; events_url: string; cancel_url: string }> {
  const res = await post(body, { accept: 'application/json' });
  expect(res.status).toBe(201);
  return res.json() as Promise<{ stream_id: string; events_url: string; cancel_url: string }>;
}

function seqs(events: { seq: number }[]): number[] {
  return events.map((e) => e.seq);
}
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('POST /v1/streams (fetch clients)', () => {
  it('answers SSE at once with the right headers, a comment first, then start … done', async () => {
    const res = await post({ message: prompt('tokens=12') });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(res.headers.get('x-accel-buffering')).toBe('no');
    expect(res.headers.get('content-encoding')).toBeNull();
    const id = res.headers.get('x-stream-id');
    expect(id).toMatch(/^str_/);
    const text = await res.text();
    expect(text.startsWith(':')).toBe(true);
    const { frames } = parseSse(text);
    const events = relayEvents(frames);
    expect(events[0]).toMatchObject({ type: 'start', stream_id: id, seq: 1 });
    expect(events.at(-1)).toMatchObject({
      type: 'done',
      stop_reason: 'end_turn',
      usage: { estimated: false },
    });
    expect(seqs(events)).toEqual(range(1, events.length));
    expect(events.filter((e) => e.type === 'text')).toHaveLength(12);
    for (const f of frames) expect(f.id).toBe(String(JSON.parse(f.data).seq));
    expect(frames.every((f) => f.event === JSON.parse(f.data).type)).toBe(true);
    const usage = events.at(-1)!.usage as { output_tokens: number };
    expect(usage.output_tokens).toBe(12);
  });

  it('relays multi-byte text intact', async () => {
    const { frames } = await readSse(await post({ message: prompt('tokens=60') }));
    const text = relayEvents(frames)
      .filter((e) => e.type === 'text')
      .map((e) => e.text)
      .join('');
    expect(text).toMatch(/[^\u0000-\u007f]/);
    expect(text).not.toContain('\ufffd');
  });

  it('sends ": ping" comments while the upstream is quiet', async () => {
    const { comments } = await readSse(await post({ message: prompt('ttft=150 tokens=2') }));
    expect(comments).toContain(': ping');
  });

  it('relays tool use and thinking blocks as their own events', async () => {
    const { frames } = await readSse(await post({ message: prompt('tool=get_weather thinking=1 tokens=5') }));
    const events = relayEvents(frames);
    const types = new Set(events.map((e) => e.type));
    expect(types).toEqual(
      new Set(['start', 'thinking', 'signature', 'text', 'tool_use', 'tool_input', 'done']),
    );
    expect(events.find((e) => e.type === 'tool_use')).toMatchObject({ name: 'get_weather' });
    const json = events
      .filter((e) => e.type === 'tool_input')
      .map((e) => e.partial_json)
      .join('');
    expect(() => JSON.parse(json)).not.toThrow();
    expect(events.at(-1)).toMatchObject({ stop_reason: 'tool_use' });
  });

  it('relays a recorded fixture to the right events', async () => {
    const { frames } = await readSse(await post({ message: prompt('fixture=basic_response') }));
    const events = relayEvents(frames);
    expect(events.filter((e) => e.type === 'text').map((e) => e.text)).toEqual(['Hello', ' there', '!']);
    expect(events.at(-1)).toMatchObject({
      type: 'done',
      stop_reason: 'end_turn',
      usage: { input_tokens: 11, output_tokens: 6, estimated: false },
    });
  });
});

describe('detached streams, resume and EventSource', () => {
  it('Accept: application/json answers 201 with the URLs, and the events URL replays the whole stream', async () => {
    const body = await detached({ message: prompt('tokens=10') });
    expect(body.events_url).toBe(`/v1/streams/${body.stream_id}/events`);
    expect(body.cancel_url).toBe(`/v1/streams/${body.stream_id}/cancel`);
    const { frames } = await readSse(await fetch(relay.url + body.events_url));
    const events = relayEvents(frames);
    expect(events[0]).toMatchObject({ type: 'start', stream_id: body.stream_id });
    expect(events.at(-1)?.type).toBe('done');
    expect(seqs(events)).toEqual(range(1, events.length));
  });

  it('resumes from random drop points with every seq exactly once (Last-Event-ID and ?after)', async () => {
    const body = await detached({ message: prompt('tokens=30') });
    const full = relayEvents((await readSse(await fetch(relay.url + body.events_url))).frames);
    const last = full.length;
    const points = [0, 1, 2, Math.floor(last / 2), last - 2, last - 1, 1 + ((n * 7) % (last - 1))];
    for (const [i, after] of points.entries()) {
      const res =
        i % 2 === 0
          ? await fetch(relay.url + body.events_url, { headers: { 'last-event-id': String(after) } })
          : await fetch(`${relay.url}${body.events_url}?after=${after}`);
      const events = relayEvents((await readSse(res)).frames);
      expect(seqs(events)).toEqual(range(after + 1, last));
      expect(events).toEqual(full.slice(after));
    }
  });

  it('answers 204 when nothing is left after the terminal event, so EventSource stops', async () => {
    const body = await detached({ message: prompt('tokens=3') });
    const all = relayEvents((await readSse(await fetch(relay.url + body.events_url))).frames);
    const res = await fetch(relay.url + body.events_url, {
      headers: { 'last-event-id': String(all.length) },
    });
    expect(res.status).toBe(204);
  });

  it('the eventsource npm client consumes a detached stream to the end and stops reconnecting', async () => {
    const body = await detached({ message: prompt('tokens=15 tps=500') });
    const received: { type: string; seq: number }[] = [];
    let errors = 0;
    await new Promise<void>((resolve, reject) => {
      const es = new EventSource(relay.url + body.events_url);
      const timer = setTimeout(() => {
        es.close();
        reject(new Error('EventSource did not finish'));
      }, 10_000);
      for (const type of ['start', 'text', 'done', 'error', 'cancelled']) {
        // EventSource's own connection `error` shares the name of the relay's `error` event: only
        // the relay's carries data.
        es.addEventListener(type, (ev) => {
          const data = (ev as MessageEvent).data as string | undefined;
          if (data !== undefined) received.push(JSON.parse(data));
        });
      }
      // After the server ends the stream EventSource reconnects with Last-Event-ID, gets 204 and closes.
      es.onerror = () => {
        errors++;
        if (es.readyState === EventSource.CLOSED) {
          clearTimeout(timer);
          resolve();
        }
      };
    });
    expect(received.at(-1)?.type).toBe('done');
    expect(seqs(received)).toEqual(range(1, received.length));
    expect(errors).toBeGreaterThanOrEqual(1);
  });

  it('a client that drops mid-stream (grace) resumes later and gets every event once', async () => {
    const res = await post({ message: prompt('tokens=40 tps=400') });
    const id = res.headers.get('x-stream-id')!;
    const first: { seq: number; type: string }[] = [];
    await streamSse(res, (frame) => {
      if (frame.event) first.push(JSON.parse(frame.data));
      return first.length >= 5;
    });
    const lastSeen = first.at(-1)!.seq;
    const rest = relayEvents(
      (
        await readSse(
          await fetch(`${relay.url}/v1/streams/${id}/events`, {
            headers: { 'last-event-id': String(lastSeen) },
          }),
        )
      ).frames,
    );
    const all = [...first, ...rest];
    expect(all.at(-1)?.type).toBe('done');
    expect(seqs(all)).toEqual(range(1, all.length));
  });

  it('404s an unknown stream id with the JSON error shape', async () => {
    for (const path of ['/v1/streams/str_nope/events', '/v1/streams/str_nope']) {
      const res = await fetch(relay.url + path);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: 'not_found' } });
    }
    const res = await fetch(`${relay.url}/v1/streams/str_nope/cancel`, { method: 'POST' });
    expect(res.status).toBe(404);
  });

  it('rejects a resume point that is not a number or beyond the stream', async () => {
    const body = await detached({ message: prompt('tokens=2') });
    const bad = await fetch(`${relay.url}${body.events_url}?after=abc`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'invalid_request' } });
    const beyond = await fetch(`${relay.url}${body.events_url}?after=99999`);
    expect(beyond.status).toBe(400);
  });
});

describe('cancel and disconnect', () => {
  it('the cancel route aborts the upstream at once, is idempotent, and answers the usage receipt', async () => {
    const p = prompt('tokens=400 tps=100');
    const res = await post({ message: p });
    const id = res.headers.get('x-stream-id')!;
    const events: { type: string; seq: number; usage?: unknown }[] = [];
    const reading = streamSse(res, (frame) => {
      if (frame.event) events.push(JSON.parse(frame.data));
      return undefined;
    });
    const record = await relay.simulated!.records.waitFor((r) => r.prompt?.includes(p) === true);
    for (let i = 0; i < 500 && events.filter((e) => e.type === 'text').length < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const cancel = await fetch(`${relay.url}/v1/streams/${id}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(200);
    const snapshot = (await cancel.json()) as {
      state: string;
      usage: { output_tokens: number; estimated: boolean };
    };
    expect(snapshot.state).toBe('cancelled');
    expect(snapshot.usage.estimated).toBe(true);
    expect(snapshot.usage.output_tokens).toBeGreaterThanOrEqual(3);
    const again = await fetch(`${relay.url}/v1/streams/${id}/cancel`, { method: 'POST' });
    expect(await again.json()).toEqual(snapshot);
    await reading;
    expect(events.filter((e) => e.type === 'cancelled')).toEqual([
      expect.objectContaining({ reason: 'client', usage: snapshot.usage }),
    ]);
    const ended = await relay.simulated!.records.waitForEnd(record.id);
    expect(ended.clientClosedAt).not.toBeNull();
    expect(ended.tokensSent).toBeLessThan(400);
    const state = await (await fetch(`${relay.url}/v1/streams/${id}`)).json();
    expect(state).toMatchObject({ stream_id: id, state: 'cancelled', last_seq: events.at(-1)!.seq });
  });

  it('on_disconnect=abort closes the upstream socket when the client goes away', async () => {
    const p = prompt('tokens=400 tps=100');
    const res = await post({ message: p, on_disconnect: 'abort' });
    const id = res.headers.get('x-stream-id')!;
    let seen = 0;
    await streamSse(res, (frame) => {
      if (frame.event === 'text') seen++;
      return seen >= 2;
    });
    const record = await relay.simulated!.records.waitFor((r) => r.prompt?.includes(p) === true);
    const ended = await relay.simulated!.records.waitForEnd(record.id);
    expect(ended.clientClosedAt).not.toBeNull();
    const state = (await (await fetch(`${relay.url}/v1/streams/${id}`)).json()) as Record<string, unknown>;
    expect(state).toMatchObject({ state: 'cancelled' });
    const tail = relayEvents(
      (await readSse(await fetch(`${relay.url}/v1/streams/${id}/events?after=0`))).frames,
    );
    expect(tail.at(-1)).toMatchObject({ type: 'cancelled', reason: 'disconnect' });
  });

  it('on_disconnect=grace cancels after the grace period when nobody resumes', async () => {
    const quick = await startTestRelay({ graceMs: 30 });
    try {
      const p = prompt('tokens=400 tps=100');
      const res = await fetch(`${quick.url}/v1/streams`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: p }),
      });
      const id = res.headers.get('x-stream-id')!;
      await streamSse(res, (frame) => frame.event === 'text');
      const record = await quick.simulated!.records.waitFor((r) => r.prompt?.includes(p) === true);
      const ended = await quick.simulated!.records.waitForEnd(record.id);
      expect(ended.clientClosedAt).not.toBeNull();
      const state = (await (await fetch(`${quick.url}/v1/streams/${id}`)).json()) as { state: string };
      expect(state.state).toBe('cancelled');
    } finally {
      await quick.close();
    }
  });
});

describe('bad input', () => {
  const cases: [string, string | unknown, number, string, RegExp][] = [
    ['invalid JSON', '{"message": ', 400, 'invalid_request', /not valid JSON/],
    ['empty body', '', 400, 'invalid_request', /empty/],
    ['wrong types', { message: 42 }, 400, 'invalid_request', /message/],
    [
      'unknown fields',
      { message: 'hi', frobnicate: true },
      400,
      'invalid_request',
      /unknown field\(s\) frobnicate/,
    ],
    ['no message or messages', { model: 'x' }, 400, 'invalid_request', /either "message"/],
    [
      'both message and messages',
      { message: 'a', messages: [{ role: 'user', content: 'b' }] },
      400,
      'invalid_request',
      /not both/,
    ],
    ['a bad role', { messages: [{ role: 'system', content: 'b' }] }, 400, 'invalid_request', /role/],
    [
      'a bad on_disconnect',
      { message: 'a', on_disconnect: 'never' },
      400,
      'invalid_request',
      /on_disconnect/,
    ],
  ];
  for (const [name, body, status, code, message] of cases) {
    it(`answers ${status} ${code} for ${name}`, async () => {
      const res = await post(body);
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toContain('application/json');
      const json = (await res.json()) as { error: { code: string; message: string } };
      expect(json.error.code).toBe(code);
      expect(json.error.message).toMatch(message);
    });
  }

  it('answers 413 payload_too_large naming the setting for a body over RELAY_BODY_LIMIT_BYTES', async () => {
    const small = await startTestRelay({ bodyLimitBytes: 1024 * 1024 });
    try {
      const res = await fetch(`${small.url}/v1/streams`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'x'.repeat(2 * 1024 * 1024) }),
      });
      expect(res.status).toBe(413);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('payload_too_large');
      expect(body.error.message).toContain('RELAY_BODY_LIMIT_BYTES');
    } finally {
      await small.close();
    }
  });

  it('answers 404 for unknown routes and 405 with Allow for wrong methods', async () => {
    const missing = await fetch(`${relay.url}/v2/nothing`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'not_found' } });
    const wrong = await fetch(`${relay.url}/v1/streams`, { method: 'GET' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect(await wrong.json()).toMatchObject({ error: { code: 'method_not_allowed' } });
  });

  it('answers 426 upgrade_required to plain HTTP on the WebSocket endpoint', async () => {
    const res = await fetch(`${relay.url}/v1/ws`);
    expect(res.status).toBe(426);
    expect(res.headers.get('upgrade')).toBe('websocket');
    expect(await res.json()).toMatchObject({ error: { code: 'upgrade_required' } });
  });

  it('a flood of bad requests does not disturb a running stream', async () => {
    const res = await post({ message: prompt('tokens=50 tps=500') });
    const reading = readSse(res);
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => post(i % 2 ? '{' : { nope: 1 }).then((r) => r.text())),
    );
    const events = relayEvents((await reading).frames);
    expect(events.at(-1)?.type).toBe('done');
    expect(seqs(events)).toEqual(range(1, events.length));
  });
});
