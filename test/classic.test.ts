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

function chat(body: unknown): Promise<Response> {
  return fetch(`${relay.url}/chat/stream`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('the classic tutorial contract', () => {
  it('GET /health answers {"status":"ok"}', async () => {
    const res = await fetch(`${relay.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{"status":"ok"}');
  });

  it('POST /chat/stream answers data: {"content": ...} frames and then data: [DONE], nothing else', async () => {
    const res = await chat({ message: 'classic hello [[sim tokens=8]]' });
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const raw = await res.text();
    // An opening comment (flushed before the first token), then exactly the tutorial's bytes.
    expect(raw.startsWith(':ok\n\n')).toBe(true);
    const body = raw.slice(':ok\n\n'.length);
    expect(body).toMatch(/^(data: \{"content": "(?:[^"\\]|\\.)*"\}\n\n){8}data: \[DONE\]\n\n$/);
    const { frames } = await readSse(new Response(raw));
    const contents = frames.slice(0, -1).map((f) => JSON.parse(f.data).content as string);
    expect(contents).toHaveLength(8);
    expect(frames.at(-1)?.data).toBe('[DONE]');
  });

  it('the same prompt gives the same text on /chat/stream as on /v1/streams', async () => {
    const message = 'classic parity 你好 [[sim tokens=20]]';
    const classic = (await readSse(await chat({ message }))).frames
      .filter((f) => f.data !== '[DONE]')
      .map((f) => JSON.parse(f.data).content)
      .join('');
    const res = await fetch(`${relay.url}/v1/streams`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message }),
    });
    const relayText = (await readSse(res)).frames
      .filter((f) => f.event === 'text')
      .map((f) => JSON.parse(f.data).text)
      .join('');
    expect(classic).toBe(relayText);
  });

  it('an upstream error mid-stream is a data: {"error": ...} frame', async () => {
    const raw = await (await chat({ message: 'classic failure [[sim error_after=3]]' })).text();
    const { frames } = await readSse(new Response(raw));
    expect(frames).toHaveLength(4);
    expect(Object.keys(JSON.parse(frames[3]!.data))).toEqual(['error']);
    expect(raw).not.toContain('[DONE]');
  });

  it('rejects a body without a message with a 400 JSON error', async () => {
    const res = await chat({ msg: 'typo' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'invalid_request' } });
  });

  it('aborts the upstream when a tutorial client goes away', async () => {
    const controller = new AbortController();
    const res = await fetch(`${relay.url}/chat/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'classic leave [[sim tokens=500 tps=100]]' }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    const record = await relay.simulated!.records.waitFor(
      (r) => r.prompt?.includes('classic leave') === true,
    );
    const ended = await relay.simulated!.records.waitForEnd(record.id);
    expect(ended.clientClosedAt).not.toBeNull();
  });
});
