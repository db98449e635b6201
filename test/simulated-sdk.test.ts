import type Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseBenchTokens, type SimulatedUpstream } from '../src/upstream/simulated/index.js';
import {
  marker,
  postMessages,
  rawStream,
  sdkFor,
  sseEvents,
  startFastSim,
  userTurn,
} from './simulated-helpers.js';

let sim: SimulatedUpstream;
let client: Anthropic;

beforeAll(async () => {
  sim = await startFastSim();
  client = sdkFor(sim.url);
});
afterAll(() => sim.close());

const MULTI_BYTE = /[^\x00-\x7f]/;

function textOf(message: Anthropic.Message): string {
  return message.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
}

describe('streaming through the official SDK', () => {
  test('messages.stream().finalMessage() gets text with multi-byte characters and matching usage', async () => {
    const m = marker();
    const stream = client.messages.stream({
      model: 'claude-haiku-4-5',
      max_tokens: 1000,
      messages: userTurn(`Explain websockets and relays ${m}`),
    });
    const message = await stream.finalMessage();
    expect(message.id).toMatch(/^msg_/);
    expect(message.model).toBe('claude-haiku-4-5');
    expect(message.stop_reason).toBe('end_turn');
    expect(message.content).toHaveLength(1);
    const text = textOf(message);
    expect(text).toMatch(MULTI_BYTE);
    expect(text.length).toBeGreaterThan(20);
    const record = await sim.records.waitFor((r) => r.prompt?.includes(m) === true);
    await sim.records.waitForEnd(record.id);
    expect(message.usage.output_tokens).toBe(record.tokensSent);
    expect(message.usage.output_tokens).toBeGreaterThanOrEqual(40);
    expect(message.usage.output_tokens).toBeLessThanOrEqual(120);
    expect(message.usage.input_tokens).toBeGreaterThanOrEqual(1);
    expect(stream.request_id).toBe(record.id);
    expect(record.outcome).toBe('completed');
  });

  test('the reply relates to the prompt by echoing its key words', async () => {
    const message = await client.messages
      .stream({ model: 'claude-sim', max_tokens: 1000, messages: userTurn('Pelicans pelicans pelicans') })
      .finalMessage();
    expect(textOf(message).toLowerCase()).toContain('pelicans');
  });

  test('create({stream: true}) yields the events in the API order', async () => {
    const stream = await client.messages.create({
      model: 'claude-sim',
      max_tokens: 50,
      stream: true,
      messages: userTurn('order please [[sim tokens=4]]'),
    });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
  });

  test('the wire has the exact framing, a ping after the first block start, and the headers', async () => {
    const res = await postMessages(sim, {
      model: 'claude-sim',
      max_tokens: 50,
      stream: true,
      messages: userTurn('wire check [[sim tokens=3]]'),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('request-id')).toMatch(/^req_sim_/);
    const text = await res.text();
    expect(text).toContain('event: ping\ndata: {"type": "ping"}\n\n');
    const events = sseEvents(text);
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    for (const e of events) expect((e.data as { type: string }).type).toBe(e.event);
    expect(events[0]?.data).toMatchObject({
      message: {
        type: 'message',
        role: 'assistant',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
      },
    });
    expect(events[7]?.data).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: 3 },
    });
  });

  test('each text token is one delta: charsPerToken code points when max_tokens cuts the reply', async () => {
    const narrow = await startFastSim({ charsPerToken: 2 });
    try {
      const deltas = async (body: Record<string, unknown>) =>
        sseEvents((await rawStream(narrow, body)).toString('utf8'))
          .filter((e) => e.event === 'content_block_delta')
          .map((e) => (e.data as { delta: { text: string } }).delta.text);
      const cut = await deltas({ model: 'claude-sim', max_tokens: 10, messages: userTurn('tokens') });
      expect(cut).toHaveLength(10);
      for (const d of cut) expect([...d]).toHaveLength(2);
      // A reply that ends by itself ends a sentence, so its tokens stretch around charsPerToken
      // (this test once asked for exactly 2 code points each: that made end_turn stop mid-word).
      const whole = await deltas({
        model: 'claude-sim',
        max_tokens: 100,
        messages: userTurn('tokens [[sim tokens=10]]'),
      });
      expect(whole).toHaveLength(10);
      for (const d of whole) expect(d.length).toBeGreaterThan(0);
      expect(whole.join('')).toMatch(/\.$/);
    } finally {
      await narrow.close();
    }
  });
});

describe('non-streaming', () => {
  test('create() returns the full Message with the same text as the stream of the same request', async () => {
    const params = { model: 'claude-sim', max_tokens: 300, messages: userTurn(`same text ${marker()}`) };
    const whole = await client.messages.create(params);
    const streamed = await client.messages.stream(params).finalMessage();
    expect(whole.type).toBe('message');
    expect(whole.role).toBe('assistant');
    expect(textOf(whole)).toBe(textOf(streamed));
    expect(whole.usage).toEqual({
      input_tokens: streamed.usage.input_tokens,
      output_tokens: streamed.usage.output_tokens,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    });
  });
});

describe('determinism', () => {
  test('the same request twice gives the same text; a different prompt gives a different text', async () => {
    const ask = (content: string) =>
      client.messages
        .stream({ model: 'claude-sim', max_tokens: 500, messages: userTurn(content) })
        .finalMessage();
    const a1 = textOf(await ask('Describe rivers and mountains'));
    const a2 = textOf(await ask('Describe rivers and mountains'));
    const b = textOf(await ask('Describe oceans and deserts'));
    expect(a2).toBe(a1);
    expect(b).not.toBe(a1);
  });
});

describe('length, stop reasons and model directives', () => {
  test('tokens=N gives exactly N tokens and end_turn', async () => {
    const message = await client.messages
      .stream({ model: 'claude-sim', max_tokens: 100, messages: userTurn('count [[sim tokens=12]]') })
      .finalMessage();
    expect(message.usage.output_tokens).toBe(12);
    expect(message.stop_reason).toBe('end_turn');
  });

  test('max_tokens cuts the reply with stop_reason max_tokens', async () => {
    const message = await client.messages
      .stream({ model: 'claude-sim', max_tokens: 5, messages: userTurn('a long story please') })
      .finalMessage();
    expect(message.usage.output_tokens).toBe(5);
    expect(message.stop_reason).toBe('max_tokens');
  });

  test('stop_sequences end the text before the sequence', async () => {
    const message = await client.messages
      .stream({
        model: 'claude-sim',
        max_tokens: 200,
        stop_sequences: [' '],
        messages: userTurn('stop early'),
      })
      .finalMessage();
    expect(message.stop_reason).toBe('stop_sequence');
    expect(message.stop_sequence).toBe(' ');
    expect(textOf(message)).not.toContain(' ');
    expect(textOf(message).length).toBeGreaterThan(0);
  });

  test('a directive in the model string applies, the full model string is echoed, the prompt wins', async () => {
    const fromModel = await client.messages
      .stream({ model: 'claude-sim#tokens=5', max_tokens: 100, messages: userTurn('model directive') })
      .finalMessage();
    expect(fromModel.model).toBe('claude-sim#tokens=5');
    expect(fromModel.usage.output_tokens).toBe(5);
    const both = await client.messages
      .stream({ model: 'claude-sim#tokens=5', max_tokens: 100, messages: userTurn('both [[sim tokens=7]]') })
      .finalMessage();
    expect(both.usage.output_tokens).toBe(7);
  });

  test('directive text is not part of the reply', async () => {
    const message = await client.messages
      .stream({ model: 'claude-sim', max_tokens: 300, messages: userTurn('zebras [[sim tokens=60]]') })
      .finalMessage();
    expect(textOf(message)).not.toContain('[[sim');
    expect(textOf(message)).not.toContain('tokens=60');
  });
});

describe('tool use', () => {
  const weather = {
    name: 'get_weather',
    description: 'Weather for a place',
    input_schema: {
      type: 'object' as const,
      properties: { location: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
      required: ['location'],
    },
  };

  test('tool=<name> ends the reply with a tool_use block whose input the SDK parses', async () => {
    const message = await client.messages
      .stream({
        model: 'claude-sim',
        max_tokens: 500,
        tools: [weather],
        messages: userTurn('weather in Paris? [[sim tool=get_weather]]'),
      })
      .finalMessage();
    expect(message.stop_reason).toBe('tool_use');
    expect(message.content.map((b) => b.type)).toEqual(['text', 'tool_use']);
    const call = message.content[1];
    if (call?.type !== 'tool_use') throw new Error('expected a tool_use block');
    expect(call.id).toMatch(/^toolu_/);
    expect(call.name).toBe('get_weather');
    expect(call.input).toMatchObject({ unit: 'celsius' });
    expect(typeof (call.input as { location: unknown }).location).toBe('string');
  });

  test('the tool input streams as input_json_deltas starting with an empty partial_json', async () => {
    const bytes = await rawStream(sim, {
      model: 'claude-sim',
      max_tokens: 500,
      messages: userTurn('search the archive [[sim tool=search]]'),
    });
    const deltas = sseEvents(bytes.toString('utf8'))
      .filter((e) => e.event === 'content_block_delta')
      .map((e) => (e.data as { index: number; delta: { type: string; partial_json?: string } }).delta)
      .filter((d) => d.type === 'input_json_delta');
    expect(deltas[0]?.partial_json).toBe('');
    const json = deltas.map((d) => d.partial_json).join('');
    expect(JSON.parse(json)).toHaveProperty('query');
  });

  test('tool_choice any answers with the first tool alone', async () => {
    const message = await client.messages
      .stream({
        model: 'claude-sim',
        max_tokens: 500,
        tools: [weather],
        tool_choice: { type: 'any' },
        messages: userTurn('weather in Lyon'),
      })
      .finalMessage();
    expect(message.content.map((b) => b.type)).toEqual(['tool_use']);
    expect(message.stop_reason).toBe('tool_use');
  });
});

describe('extended thinking', () => {
  test('thinking enabled puts a signed thinking block first and the text at index 1', async () => {
    const message = await client.messages
      .stream({
        model: 'claude-sim',
        max_tokens: 2000,
        thinking: { type: 'enabled', budget_tokens: 1024 },
        messages: userTurn('think about tides'),
      })
      .finalMessage();
    expect(message.content.map((b) => b.type)).toEqual(['thinking', 'text']);
    const thinking = message.content[0];
    if (thinking?.type !== 'thinking') throw new Error('expected thinking');
    expect(thinking.thinking.length).toBeGreaterThan(0);
    expect(thinking.signature.length).toBeGreaterThan(0);
  });

  test('thinking=1 streams thinking_deltas then a signature_delta', async () => {
    const bytes = await rawStream(sim, {
      model: 'claude-sim',
      max_tokens: 500,
      messages: userTurn('ponder [[sim thinking=1]]'),
    });
    const events = sseEvents(bytes.toString('utf8'));
    expect(events[1]?.data).toMatchObject({
      index: 0,
      content_block: { type: 'thinking', thinking: '', signature: '' },
    });
    const kinds = events
      .filter((e) => e.event === 'content_block_delta')
      .map((e) => (e.data as { delta: { type: string } }).delta.type);
    const lastThinking = kinds.lastIndexOf('thinking_delta');
    expect(kinds[lastThinking + 1]).toBe('signature_delta');
    expect(kinds[lastThinking + 2]).toBe('text_delta');
  });
});

describe('benchmark stamping', () => {
  test('bench=1 makes every text token "SEQ@HRTIME_NS " on the monotonic clock', async () => {
    const before = process.hrtime.bigint();
    const message = await client.messages
      .stream({ model: 'claude-sim', max_tokens: 100, messages: userTurn('bench [[sim bench=1 tokens=6]]') })
      .finalMessage();
    const after = process.hrtime.bigint();
    const text = textOf(message);
    expect(text).toMatch(/^(\d+@\d+ ){6}$/);
    const stamps = parseBenchTokens(text);
    expect(stamps.map((s) => s.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const [i, s] of stamps.entries()) {
      expect(s.tNs > before && s.tNs < after).toBe(true);
      if (i > 0) expect(s.tNs >= (stamps[i - 1]?.tNs ?? 0n)).toBe(true);
    }
    expect(message.stop_reason).toBe('end_turn');
  });

  test('benchmark mode stamps every request, max_tokens tokens when tokens= is absent', async () => {
    const bench = await startFastSim({ benchmark: true });
    try {
      const message = await sdkFor(bench.url)
        .messages.stream({ model: 'claude-sim', max_tokens: 8, messages: userTurn('hello') })
        .finalMessage();
      expect(parseBenchTokens(textOf(message)).map((s) => s.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(message.stop_reason).toBe('max_tokens');
    } finally {
      await bench.close();
    }
  });
});

describe('other API routes', () => {
  test('count_tokens answers input_tokens like the usage of a message', async () => {
    const messages = userTurn('count these characters please');
    const counted = await client.messages.countTokens({ model: 'claude-sim', messages });
    const message = await client.messages.create({ model: 'claude-sim', max_tokens: 5, messages });
    expect(counted.input_tokens).toBe(message.usage.input_tokens);
  });

  test('models list and retrieve work through the SDK; an unknown model is NotFoundError', async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids.length).toBeGreaterThan(1);
    expect(ids).toContain('claude-sonnet-4-5-20250929');
    const one = await client.models.retrieve('claude-sonnet-4-5-20250929');
    expect(one).toMatchObject({ type: 'model', id: 'claude-sonnet-4-5-20250929' });
    await expect(client.models.retrieve('no-such-model')).rejects.toMatchObject({ status: 404 });
  });
});
