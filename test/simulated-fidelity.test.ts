/**
 * Where the simulator must answer as the real API does, because a client would notice: the relay's
 * own default model is listed, unknown models are 404 and invalid parameters 400, adaptive
 * thinking thinks, and an `end_turn` reply ends a sentence while a `max_tokens` one may stop mid-word.
 */
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadConfig } from '../src/config.js';
import type { RelayServer } from '../src/server.js';
import type { SimulatedUpstream } from '../src/upstream/simulated/index.js';
import { startTestRelay } from './helpers/relay.js';
import { readSse, relayEvents } from './helpers/sse.js';
import { postMessages, sdkFor, startFastSim, userTurn } from './simulated-helpers.js';

let sim: SimulatedUpstream;
let client: Anthropic;
beforeAll(async () => {
  sim = await startFastSim();
  client = sdkFor(sim.url);
});
afterAll(() => sim.close());

const textOf = (message: Anthropic.Message) =>
  message.content.map((b) => (b.type === 'text' ? b.text : '')).join('');

describe('models', () => {
  test("lists the relay's default model and serves it", async () => {
    const defaultModel = loadConfig({}).defaultModel;
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toContain(defaultModel);
    const message = await client.messages.create({
      model: defaultModel,
      max_tokens: 20,
      messages: userTurn('hi'),
    });
    expect(message.model).toBe(defaultModel);
  });

  test('an unknown model is 404 not_found_error, streaming, not streaming and for count_tokens', async () => {
    const ask = { model: 'claude-nonexistent-9', max_tokens: 20, messages: userTurn('hi') };
    await expect(client.messages.create(ask)).rejects.toMatchObject({
      status: 404,
      error: { type: 'error', error: { type: 'not_found_error', message: 'model: claude-nonexistent-9' } },
    });
    await expect(client.messages.stream(ask).finalMessage()).rejects.toBeInstanceOf(Anthropic.NotFoundError);
    await expect(
      client.messages.countTokens({ model: ask.model, messages: ask.messages }),
    ).rejects.toBeInstanceOf(Anthropic.NotFoundError);
  });

  test('a dated model, its alias without the date and a directive suffix are all accepted', async () => {
    for (const model of ['claude-haiku-4-5-20251001', 'claude-haiku-4-5', 'claude-sim#tokens=3']) {
      const message = await client.messages.create({ model, max_tokens: 20, messages: userTurn('hi') });
      expect(message.model, model).toBe(model);
    }
  });

  test('a relay on the simulator lists and serves its configured default model, whatever it is', async () => {
    const relay: RelayServer = await startTestRelay({ defaultModel: 'claude-house-model-1' });
    try {
      const listed = (await (await fetch(`${relay.url}/v1/models`)).json()) as { data: { id: string }[] };
      expect(listed.data.map((m) => m.id)).toContain('claude-house-model-1');
      const res = await fetch(`${relay.url}/v1/streams`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'hello [[sim tokens=3]]' }),
      });
      const events = relayEvents((await readSse(res)).frames);
      expect(events[0]).toMatchObject({ type: 'start', model: 'claude-house-model-1' });
      expect(events.at(-1)).toMatchObject({ type: 'done', stop_reason: 'end_turn' });
    } finally {
      await relay.close();
    }
  });
});

describe('invalid parameters are 400 invalid_request_error naming the field', () => {
  const base = { model: 'claude-sim', max_tokens: 2048, messages: userTurn('hi') };
  test.each([
    ['temperature above 1', { temperature: 1.5 }, /^temperature: Input should be less than or equal to 1$/],
    ['negative top_p', { top_p: -0.1 }, /^top_p: Input should be greater than or equal to 0$/],
    ['negative top_k', { top_k: -1 }, /^top_k: Input should be greater than or equal to 0$/],
    ['fractional top_k', { top_k: 1.5 }, /^top_k: Input should be a valid integer$/],
    [
      'a thinking budget below 1024',
      { thinking: { type: 'enabled', budget_tokens: 500 } },
      /^thinking\.budget_tokens: Input should be greater than or equal to 1024$/,
    ],
    [
      'a thinking budget not below max_tokens',
      { thinking: { type: 'enabled', budget_tokens: 4096 } },
      /max_tokens` must be greater than `thinking\.budget_tokens`/,
    ],
    [
      'an unknown thinking type',
      { thinking: { type: 'sometimes' } },
      /^thinking\.type: Input tag does not match/,
    ],
    [
      'an unknown tool_choice type',
      { tool_choice: { type: 'maybe' } },
      /^tool_choice\.type: Input tag does not match/,
    ],
    [
      'tool_choice tool without a name',
      { tool_choice: { type: 'tool' } },
      /^tool_choice\.name: Field required$/,
    ],
    [
      'metadata.user_id not a string',
      { metadata: { user_id: 5 } },
      /^metadata\.user_id: Input should be a valid string$/,
    ],
  ])('%s', async (_name, extra, message) => {
    const res = await postMessages(sim, { ...base, ...extra });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toMatch(message);
  });

  test('valid values at the edges are accepted', async () => {
    const res = await postMessages(sim, {
      ...base,
      temperature: 1,
      top_p: 0,
      top_k: 0,
      metadata: { user_id: 'u-1' },
      thinking: { type: 'enabled', budget_tokens: 1024 },
      tool_choice: { type: 'auto' },
    });
    expect(res.status).toBe(200);
  });
});

describe('thinking', () => {
  test('thinking {type: "adaptive"} yields a signed thinking block before the text', async () => {
    const message = await client.messages.create({
      model: 'claude-sim',
      max_tokens: 2000,
      thinking: { type: 'adaptive' },
      messages: userTurn('think about tides'),
    } as unknown as Anthropic.MessageCreateParamsNonStreaming);
    expect(message.content.map((b) => b.type)).toEqual(['thinking', 'text']);
    const thinking = message.content[0];
    expect(thinking?.type === 'thinking' && thinking.signature.length).toBeGreaterThan(0);
  });
});

describe('where a reply stops', () => {
  test('an end_turn reply ends at the end of a sentence, with exactly the tokens asked for', async () => {
    // Bounded: 12 prompts × a few lengths, including replies shorter than one sentence's worth.
    for (const n of [1, 2, 3, 7, 25, 90]) {
      for (const topic of ['rivers', 'sockets', 'tea', '数据流']) {
        const message = await client.messages.create({
          model: 'claude-sim',
          max_tokens: 200,
          messages: userTurn(`${topic} [[sim tokens=${n}]]`),
        });
        expect(message.stop_reason).toBe('end_turn');
        expect(message.usage.output_tokens).toBe(n);
        expect(textOf(message), `${topic} ${n}`).toMatch(/[.!?]$/);
      }
    }
  });

  test('a reply without tokens= also ends a sentence; a max_tokens cut may stop mid-sentence', async () => {
    const full = await client.messages.create({
      model: 'claude-sim',
      max_tokens: 500,
      messages: userTurn('Explain relays and streams'),
    });
    expect(full.stop_reason).toBe('end_turn');
    expect(textOf(full)).toMatch(/\.$/);
    const cut = await client.messages.create({
      model: 'claude-sim',
      max_tokens: 9,
      messages: userTurn('Explain relays and streams'),
    });
    expect(cut.stop_reason).toBe('max_tokens');
    expect(cut.usage.output_tokens).toBe(9);
    // Cut where the budget ran out: 9 tokens of 4 code points, wherever that lands.
    expect([...textOf(cut)]).toHaveLength(36);
  });
});
