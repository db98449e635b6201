/**
 * A relay-kept conversation keeps each assistant turn verbatim: a three-turn exchange with
 * extended thinking (signatures, an empty closing thinking block) and a client tool, where the
 * upstream receives every earlier assistant turn byte for byte as the API sent it.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer } from '../src/server.js';
import { startTestRelay } from './helpers/relay.js';
import { readSse, relayEvents } from './helpers/sse.js';

let relay: RelayServer;

beforeAll(async () => {
  relay = await startTestRelay();
  relay.simulated!.records.keepBodies(); // the tests read what the relay sent upstream
});
afterAll(() => relay.close());

const TOOLS = [
  {
    name: 'get_weather',
    description: 'The weather in a city',
    input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
];

async function turn(
  body: Record<string, unknown>,
): Promise<{ id: string; events: Record<string, unknown>[] }> {
  const res = await fetch(`${relay.url}/v1/streams`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  const id = res.headers.get('x-stream-id')!;
  return { id, events: relayEvents((await readSse(res)).frames) };
}

/** What the upstream received for the turn whose prompt carries `tag`. */
async function upstreamBody(tag: string): Promise<{ messages: { role: string; content: unknown }[] }> {
  const record = await relay.simulated!.records.waitFor((r) => r.prompt?.includes(tag) === true);
  return record.body as { messages: { role: string; content: unknown }[] };
}

/** The same upstream request answered non-streaming: the content the API would have returned. */
async function wholeContent(tag: string): Promise<unknown> {
  const { stream: _s, ...body } = (await upstreamBody(tag)) as unknown as Record<string, unknown>;
  const res = await fetch(`${relay.simulated!.url}/v1/messages`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-api-key': 'sim-key',
      'anthropic-version': '2023-06-01',
    },
    body: JSON.stringify(body),
  });
  return ((await res.json()) as { content: unknown }).content;
}

describe('a conversation with thinking and a client tool', () => {
  it('sends every earlier assistant turn upstream byte for byte over three turns', async () => {
    const conversation_id = `verbatim-${randomUUID()}`;
    const t1 = `t1${randomUUID().slice(0, 8)}`;
    const first = await turn({
      conversation_id,
      tools: TOOLS,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      max_tokens: 2048,
      message: `${t1} weather in Paris? [[sim thinking=1 empty_thinking=1 tool=get_weather tokens=3]]`,
    });
    expect(first.events.at(-1)).toMatchObject({ type: 'done', stop_reason: 'tool_use' });
    expect(first.events.filter((e) => e.type === 'signature')).toHaveLength(2);
    const call = first.events.find((e) => e.type === 'tool_use')!;
    expect(call).toMatchObject({ kind: 'client', name: 'get_weather' });

    // Turn 2: the tool's result as user content blocks, plus text carrying the next directives.
    const t2 = `t2${randomUUID().slice(0, 8)}`;
    const second = await turn({
      conversation_id,
      tools: TOOLS,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      max_tokens: 2048,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: call.id, content: 'sunny, 21 °C' },
            { type: 'text', text: `${t2} and tomorrow? [[sim thinking=1 tool=get_weather tokens=3]]` },
          ],
        },
      ],
    });
    expect(second.events.at(-1)).toMatchObject({ type: 'done', stop_reason: 'tool_use' });

    const t3 = `t3${randomUUID().slice(0, 8)}`;
    const third = await turn({
      conversation_id,
      tools: TOOLS,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      max_tokens: 2048,
      message: `${t3} thanks [[sim thinking=1 tokens=3]]`,
    });
    expect(third.events.at(-1)).toMatchObject({ type: 'done' });

    const sent = await upstreamBody(t3);
    expect(sent.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user']);
    // Byte for byte: the serialised assistant turns equal what the API returns for those requests.
    expect(JSON.stringify(sent.messages[1]!.content)).toBe(JSON.stringify(await wholeContent(t1)));
    expect(JSON.stringify(sent.messages[3]!.content)).toBe(JSON.stringify(await wholeContent(t2)));
    const turn1 = sent.messages[1]!.content as { type: string; thinking?: string; signature?: string }[];
    expect(turn1.map((b) => b.type)).toEqual(['thinking', 'text', 'tool_use', 'thinking']);
    expect(turn1.at(-1)).toMatchObject({ thinking: '', signature: expect.stringMatching(/.+/) });
    // The user turn with content blocks is kept as sent, too.
    expect(sent.messages[2]!.content).toEqual([
      { type: 'tool_result', tool_use_id: call.id, content: 'sunny, 21 °C' },
      { type: 'text', text: `${t2} and tomorrow? [[sim thinking=1 tool=get_weather tokens=3]]` },
    ]);
    // And the conversation answers the same turns.
    const view = (await (await fetch(`${relay.url}/v1/conversations/${conversation_id}`)).json()) as {
      messages: { content: unknown }[];
    };
    expect(JSON.stringify(view.messages[1]!.content)).toBe(JSON.stringify(sent.messages[1]!.content));
  });
});
