/**
 * Every part of Claude's answer reaches every client: for each simulator directive (and each
 * recorded fixture), the relay events on SSE and on WebSocket are the same objects, and folding
 * them gives exactly the Message the non-streaming API returns for the same request (the
 * simulator answers both ways), including stop_details and the complete usage.
 */
import { randomUUID } from 'node:crypto';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RelayServer } from '../src/server.js';
import { startTestRelay } from './helpers/relay.js';
import { readSse, relayEvents } from './helpers/sse.js';
import { WsClient, wsUrl } from './helpers/ws.js';

type Ev = Record<string, unknown> & { type: string };

let relay: RelayServer;
let ws: WsClient;

beforeAll(async () => {
  relay = await startTestRelay();
  ws = await WsClient.open(wsUrl(relay.url));
  relay.simulated!.records.keepBodies(); // the tests read what the relay sent upstream
});
afterAll(async () => {
  await ws.close();
  await relay.close();
});

/** Events without the per-stream parts (`seq` stays: both transports number alike). */
function comparable(events: readonly Ev[]): Ev[] {
  return events.map((e) => {
    const { stream_id: _id, ref: _ref, ...rest } = e;
    return rest;
  });
}

async function overSse(request: Record<string, unknown>): Promise<{ id: string; events: Ev[] }> {
  const res = await fetch(`${relay.url}/v1/streams`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(request),
  });
  expect(res.status).toBe(200);
  const id = res.headers.get('x-stream-id')!;
  const { frames } = await readSse(res);
  return { id, events: relayEvents(frames) };
}

async function overWs(request: Record<string, unknown>): Promise<Ev[]> {
  const id = await ws.start(request);
  return (await ws.untilTerminal(id)) as Ev[];
}

/**
 * An independent fold of relay events into the API's `content` array, by the SDK's accumulation
 * rules, written here so the test does not trust the relay's own assembler.
 */
function assemble(events: readonly Ev[]): Record<string, unknown>[] {
  const blocks: Record<string, unknown>[] = [];
  const json: Record<number, string> = {};
  for (const e of events) {
    const i = e.index as number;
    switch (e.type) {
      case 'text':
        blocks[i] ??= { type: 'text', text: '' };
        blocks[i]!.text = `${blocks[i]!.text as string}${e.text as string}`;
        break;
      case 'thinking':
        blocks[i] ??= { type: 'thinking', thinking: '', signature: '' };
        blocks[i]!.thinking = `${blocks[i]!.thinking as string}${e.text as string}`;
        break;
      case 'signature':
        blocks[i] ??= { type: 'thinking', thinking: '', signature: '' };
        blocks[i]!.signature = e.signature;
        break;
      case 'citation':
        blocks[i] ??= { type: 'text', text: '' };
        blocks[i]!.citations = [...((blocks[i]!.citations as unknown[] | undefined) ?? []), e.citation];
        break;
      case 'tool_use': {
        const type = { client: 'tool_use', server: 'server_tool_use', mcp: 'mcp_tool_use' }[e.kind as string];
        blocks[i] = (e.block as Record<string, unknown> | undefined) ?? {
          type,
          id: e.id,
          name: e.name,
          input: {},
        };
        break;
      }
      case 'tool_input':
        json[i] = (json[i] ?? '') + (e.partial_json as string);
        break;
      case 'block':
        blocks[i] = { ...(e.block as Record<string, unknown>) };
        break;
    }
  }
  return blocks.map((b, i) => (json[i] ? { ...b, input: JSON.parse(json[i]!) } : b)).filter(Boolean);
}

/** The same request, answered non-streaming by the simulator (same body hash → same reply). */
async function nonStreaming(tag: string): Promise<Record<string, unknown>> {
  const record = await relay.simulated!.records.waitFor((r) => r.prompt?.includes(tag) === true);
  const body = { ...(record.body as Record<string, unknown>) };
  delete body.stream;
  const res = await fetch(`${relay.simulated!.url}/v1/messages`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-api-key': 'sim-key',
      'anthropic-version': '2023-06-01',
    },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

function withoutNulls(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null));
}

const DIRECTIVES: [string, string, Record<string, unknown>?][] = [
  ['plain text', 'tokens=8'],
  ['web search with citations', 'web_search=1 tokens=6'],
  ['web search paused (pause_turn)', 'web_search=1 pause_turn=1'],
  ['thinking with signature and an empty closing thinking block', 'thinking=1 empty_thinking=1 tokens=5'],
  ['redacted thinking', 'thinking=1 redacted_thinking=1 tokens=4'],
  ['a refusal with stop_details', 'refusal=cyber tokens=12'],
  ['a client tool call', 'tool=get_weather tokens=3'],
  ['a block type nobody knows', 'unknown_block=1 tokens=4'],
  ['full usage', 'usage=full web_search=1 thinking=1 tokens=5'],
  ['code execution in a container', 'code_execution=1 tokens=4'],
  ['a stop sequence', 'tokens=30', { stop_sequences: ['zzz-never', 'e'] }],
];

describe.each(DIRECTIVES)('%s', (_name, directives, extra) => {
  test('SSE and WebSocket carry the same events, and they assemble to the non-streaming Message', async () => {
    const tag = `t${randomUUID().slice(0, 12)}`;
    const request = { message: `${tag} tell me about relays [[sim ${directives}]]`, ...extra };
    const sse = await overSse(request);
    const wsEvents = await overWs(request);
    expect(comparable(wsEvents)).toEqual(comparable(sse.events));

    const whole = await nonStreaming(tag);
    const done = sse.events.at(-1)!;
    expect(done.type).toBe('done');
    expect(JSON.stringify(assemble(sse.events))).toBe(JSON.stringify(whole.content));
    expect(done.stop_reason).toBe(whole.stop_reason);
    expect(done.stop_details).toEqual(whole.stop_details ?? undefined);
    expect(done.stop_sequence).toBe(whole.stop_sequence ?? undefined);
    expect(done.container).toEqual(whole.container ?? undefined);
    const { estimated, ...usage } = done.usage as Record<string, unknown>;
    expect(estimated).toBe(false);
    expect(usage).toEqual(withoutNulls(whole.usage as Record<string, unknown>));

    // The relay's own assembly, for clients that want the next turn without folding events.
    const state = await fetch(`${relay.url}/v1/streams/${sse.id}?include=message`);
    const body = (await state.json()) as { message: Record<string, unknown> };
    expect(JSON.stringify(body.message.content)).toBe(JSON.stringify(whole.content));
    expect(body.message.stop_reason).toBe(whole.stop_reason);
    // The non-streaming Message's shape: stop_sequence always (null when none), container when used.
    expect(body.message.stop_sequence).toBe(whole.stop_sequence);
    expect(body.message.container).toEqual(whole.container);
  });
});

describe('stop_sequence and container reach done and the assembled message', () => {
  test('a stop sequence that ended the reply is named on done and in the message', async () => {
    const { id, events } = await overSse({
      message: 'x tell me about relays [[sim tokens=30]]',
      stop_sequences: ['e'],
    });
    expect(events.at(-1)).toMatchObject({ type: 'done', stop_reason: 'stop_sequence', stop_sequence: 'e' });
    const state = await fetch(`${relay.url}/v1/streams/${id}?include=message`);
    const { message } = (await state.json()) as { message: Record<string, unknown> };
    expect(message).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: 'e' });
  });

  test('a reply without one has no stop_sequence on done, and null in the message', async () => {
    const { id, events } = await overSse({ message: 'x [[sim tokens=3]]' });
    expect(events.at(-1)).not.toHaveProperty('stop_sequence');
    expect(events.at(-1)).not.toHaveProperty('container');
    const state = await fetch(`${relay.url}/v1/streams/${id}?include=message`);
    const { message } = (await state.json()) as { message: Record<string, unknown> };
    expect(message.stop_sequence).toBeNull();
    expect(message).not.toHaveProperty('container');
  });

  test('code execution: the container from message_delta is on done and in the message, over WebSocket too', async () => {
    const request = { message: 'x run it [[sim code_execution=1 tokens=3]]' };
    const { id, events } = await overSse(request);
    const container = events.at(-1)!.container as Record<string, unknown>;
    expect(container).toEqual({ id: expect.stringMatching(/^container_/), expires_at: expect.any(String) });
    expect(events.find((e) => e.type === 'block')).toMatchObject({
      block: {
        type: 'code_execution_tool_result',
        content: { type: 'code_execution_result', return_code: 0 },
      },
    });
    const wsEvents = await overWs(request);
    expect(wsEvents.at(-1)!.container).toEqual(container);
    const state = await fetch(`${relay.url}/v1/streams/${id}?include=message`);
    const { message } = (await state.json()) as { message: Record<string, unknown> };
    expect(message.container).toEqual(container);
  });
});

describe('what the relay does not know yet is carried, never dropped', () => {
  test('an unknown block type arrives as a block event and an unknown delta type as a delta event', async () => {
    const { events } = await overSse({ message: 'x [[sim unknown_block=1 unknown_delta=1 tokens=3]]' });
    const block = events.find((e) => e.type === 'block');
    expect(block).toMatchObject({ index: 0, block: { type: 'sim_hologram', shape: 'cube' } });
    const delta = events.find((e) => e.type === 'delta');
    expect(delta).toMatchObject({ index: 1, delta: { type: 'sim_sparkle_delta', sparkles: 3 } });
    expect(events.at(-1)?.type).toBe('done');
  });

  test('web search: server tool_use (kind server), its result block, then citations on the text', async () => {
    const { events } = await overSse({ message: 'search [[sim web_search=1 tokens=4]]' });
    const types = events.map((e) => e.type);
    expect(events.find((e) => e.type === 'tool_use')).toMatchObject({ kind: 'server', name: 'web_search' });
    expect(events.find((e) => e.type === 'block')).toMatchObject({
      block: { type: 'web_search_tool_result' },
    });
    expect(types.indexOf('citation')).toBeGreaterThan(types.indexOf('block'));
    expect(events.filter((e) => e.type === 'citation')).toHaveLength(2);
    const done = events.at(-1)!;
    expect(done).toMatchObject({ type: 'done', stop_reason: 'end_turn' });
  });

  test('a refusal ends with stop_reason refusal and its stop_details', async () => {
    const { events } = await overSse({ message: 'x [[sim refusal=bio tokens=9]]' });
    expect(events.at(-1)).toMatchObject({
      type: 'done',
      stop_reason: 'refusal',
      stop_details: { type: 'refusal', category: 'bio', explanation: null },
    });
  });
});

const FIXTURES = [
  'anthropic-docs-basic_text',
  'anthropic-docs-tool_use',
  'basic_response',
  'tool_use_response',
  'stream-a-refusal',
  'stream-a-toolrefusal',
  'stream-b-fallback',
];

describe.each(FIXTURES)('fixture %s', (name) => {
  test('SSE and WebSocket events are the same and assemble to what the SDK accumulates', async () => {
    const request = { message: `x [[sim fixture=${name}]]` };
    const sse = await overSse(request);
    const wsEvents = await overWs(request);
    expect(comparable(wsEvents)).toEqual(comparable(sse.events));
    // The recorded streams have no non-streaming twin; the SDK's own accumulator is the reference.
    const sdk = new Anthropic({ apiKey: 'sim-key', baseURL: relay.simulated!.url, maxRetries: 0 });
    const message = await sdk.messages
      .stream({ model: 'claude-sim', max_tokens: 64, messages: [{ role: 'user', content: request.message }] })
      .finalMessage();
    const done = sse.events.at(-1)!;
    expect(done.type).toBe('done');
    expect(JSON.stringify(assemble(sse.events))).toBe(JSON.stringify(message.content));
    expect(done.stop_reason).toBe(message.stop_reason);
    const { estimated: _e, ...usage } = done.usage as Record<string, unknown>;
    // The relay carries every usage field the API sent (`iterations` too); the SDK copies the ones it names.
    expect(usage).toMatchObject(withoutNulls(message.usage as unknown as Record<string, unknown>));
  });
});

describe('anthropic-beta', () => {
  test('the HTTP header and the WebSocket start frame list are forwarded upstream unchanged', async () => {
    const sseTag = `b${randomUUID().slice(0, 12)}`;
    const res = await fetch(`${relay.url}/v1/streams`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'anthropic-beta': 'web-fetch-2025-09-10, compact-2026-01-12',
      },
      body: JSON.stringify({ message: `${sseTag} [[sim tokens=2]]` }),
    });
    await readSse(res);
    const sseRecord = await relay.simulated!.records.waitFor((r) => r.prompt?.includes(sseTag) === true);
    expect(sseRecord.anthropicBeta).toBe('web-fetch-2025-09-10,compact-2026-01-12');
    // Not in the body: the API would reject an unknown field.
    expect(Object.keys(sseRecord.body as object)).not.toContain('betas');

    const wsTag = `b${randomUUID().slice(0, 12)}`;
    ws.send({
      type: 'start',
      ref: wsTag,
      anthropic_beta: ['mcp-client-2025-04-04'],
      request: { message: `${wsTag} [[sim tokens=2]]` },
    });
    const start = await ws.waitFor((m) => m.type === 'start' && m.ref === wsTag);
    await ws.untilTerminal(start.stream_id!);
    const wsRecord = await relay.simulated!.records.waitFor((r) => r.prompt?.includes(wsTag) === true);
    expect(wsRecord.anthropicBeta).toBe('mcp-client-2025-04-04');

    const plain = `b${randomUUID().slice(0, 12)}`;
    await readSse(
      await fetch(`${relay.url}/v1/streams`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: `${plain} [[sim tokens=2]]` }),
      }),
    );
    const plainRecord = await relay.simulated!.records.waitFor((r) => r.prompt?.includes(plain) === true);
    expect(plainRecord.anthropicBeta).toBeNull();
  });

  test('a malformed beta name is a 400 that names the header', async () => {
    const res = await fetch(`${relay.url}/v1/streams`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-beta': 'ok-name, bad name!' },
      body: JSON.stringify({ message: 'x' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/anthropic-beta/);
  });
});
