/**
 * The drain's deadline ends a `/v1/messages` stream at an event boundary with Anthropic's `error`
 * event, whatever way the upstream's bytes are cut into chunks (a fake passthrough at the seam).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { testConfig } from '../src/config.js';
import type { ApiPassthrough } from '../src/core/api-passthrough.js';
import type { RelayServer } from '../src/server.js';
import { startRelay } from '../src/server.js';

const EVENT_A = 'event: message_start\ndata: {"type":"message_start"}\n\n';
const EVENT_B = 'event: content_block_delta\ndata: {"type":"content_block_delta","n":1}\n\n';
const EVENT_C = 'event: content_block_delta\ndata: {"type":"content_block_delta","n":2}\n\n';

/** A passthrough whose answer body the test writes chunk by chunk; records whether it was aborted. */
function fakePassthrough() {
  let push!: (chunk: string) => void;
  let end!: () => void;
  let signalSeen: AbortSignal | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      push = (chunk) => controller.enqueue(new TextEncoder().encode(chunk));
      end = () => controller.close();
    },
  });
  const passthrough: ApiPassthrough = {
    async send(_call, signal) {
      signalSeen = signal;
      return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
    },
  };
  return {
    passthrough,
    push: (c: string) => push(c),
    end: () => end(),
    aborted: () => signalSeen?.aborted === true,
  };
}

let relay: RelayServer | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
});

async function openCall(url: string): Promise<{ text: () => string; ended: Promise<void> }> {
  const res = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', max_tokens: 1, stream: true, messages: [] }),
  });
  expect(res.status).toBe(200);
  let text = '';
  const decoder = new TextDecoder();
  const reader = res.body!.getReader();
  const ended = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      text += decoder.decode(value, { stream: true });
    }
  })();
  return { text: () => text, ended };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error(`${what} not reached`);
}

describe('drain deadline on /v1/messages', () => {
  it('mid-event: lets the upstream finish the event, then sends the error event', async () => {
    const fake = fakePassthrough();
    relay = await startRelay(testConfig(), { passthrough: fake.passthrough });
    const call = await openCall(relay.url);
    fake.push(EVENT_A);
    fake.push(EVENT_B.slice(0, 20));
    await until(() => call.text().includes(EVENT_B.slice(0, 20)), 'first bytes');
    const drained = relay.drain(0);
    // The rest of B and the start of C arrive in one chunk: only B's end is forwarded.
    await new Promise((r) => setTimeout(r, 50));
    fake.push(EVENT_B.slice(20) + EVENT_C.slice(0, 10));
    await call.ended;
    await drained;
    expect(call.text()).toBe(
      `${EVENT_A}${EVENT_B}event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"the relay is shutting down; retry on another instance"}}\n\n`,
    );
    expect(fake.aborted()).toBe(true);
  });

  it('mid-event across chunks: a blank line split over two chunks is a boundary', async () => {
    const fake = fakePassthrough();
    relay = await startRelay(testConfig(), { passthrough: fake.passthrough });
    const call = await openCall(relay.url);
    fake.push(EVENT_A.slice(0, -1));
    await until(() => call.text().length > 0, 'first bytes');
    const drained = relay.drain(0);
    await new Promise((r) => setTimeout(r, 50));
    fake.push(`\n${EVENT_B}`);
    await call.ended;
    await drained;
    expect(call.text()).toMatch(new RegExp(`^${EVENT_A}event: error\ndata: `));
  });

  it('at a boundary: ends at once, even while the upstream is silent', async () => {
    const fake = fakePassthrough();
    relay = await startRelay(testConfig(), { passthrough: fake.passthrough });
    const call = await openCall(relay.url);
    fake.push(EVENT_A);
    await until(() => call.text() === EVENT_A, 'first event');
    await relay.drain(0);
    await call.ended;
    expect(call.text()).toMatch(
      /^event: message_start\n.*\n\nevent: error\ndata: .*overloaded_error.*\n\n$/s,
    );
    expect(fake.aborted()).toBe(true);
  });

  it('calls that end within the drain are waited for, untouched', async () => {
    const fake = fakePassthrough();
    relay = await startRelay(testConfig(), { passthrough: fake.passthrough });
    const call = await openCall(relay.url);
    fake.push(EVENT_A);
    await until(() => call.text() === EVENT_A, 'first event');
    const drained = relay.drain(60_000);
    const refused = await fetch(`${relay.url}/v1/messages`, { method: 'POST', body: '{}' });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: { type: 'overloaded_error' } });
    fake.push(EVENT_C);
    fake.end();
    await call.ended;
    // Nothing is left, so the drain ends long before its 60 s.
    await drained;
    expect(call.text()).toBe(EVENT_A + EVENT_C);
    expect(fake.aborted()).toBe(false);
  });
});
