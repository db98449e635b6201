/**
 * What a Chat Completions request becomes upstream (read from the simulator's records), and the
 * 400s that name each field the relay cannot honour, with the official `openai` SDK as the client.
 */
import { randomUUID } from 'node:crypto';
import OpenAI, { BadRequestError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer } from '../src/server.js';
import type { RequestRecord } from '../src/upstream/simulated/records.js';
import { startTestRelay } from './helpers/relay.js';

let relay: RelayServer;
let client: OpenAI;

beforeAll(async () => {
  relay = await startTestRelay();
  // These tests read what reached the upstream.
  relay.simulated!.records.keepBodies();
  client = new OpenAI({ apiKey: 'test-key', baseURL: `${relay.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await relay.close();
});

function tag(): string {
  return `oq${randomUUID().slice(0, 8)}`;
}

function upstreamRequest(marker: string): Promise<RequestRecord> {
  return relay.simulated!.records.waitFor((r) => JSON.stringify(r.body ?? null).includes(marker));
}

/** Sends any body (fields the SDK's types do not know included) and returns what went upstream. */
async function sent(body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const marker = tag();
  const messages = (body.messages as unknown[] | undefined) ?? [{ role: 'user', content: 'hello' }];
  const withMarker = [...messages, { role: 'user', content: `marker ${marker}` }];
  await client.chat.completions.create({ model: 'claude-sim', ...body, messages: withMarker } as never);
  return (await upstreamRequest(marker)).body as Record<string, unknown>;
}

const tool = {
  type: 'function',
  function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } },
} as const;

describe('request mapping', () => {
  it('system and developer messages, wherever they stand, become the system prompt in order', async () => {
    const body = await sent({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hi' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
      ],
    });
    expect(body.system).toEqual([
      { type: 'text', text: 'Be brief.' },
      { type: 'text', text: 'Answer in French.' },
    ]);
    expect(JSON.stringify(body.messages)).not.toContain('Be brief');
    // The user turns around the developer message are one user turn, as the API requires.
    expect((body.messages as { role: string }[]).map((m) => m.role)).toEqual(['user']);
  });

  it('one system message is sent as a plain string', async () => {
    const body = await sent({ messages: [{ role: 'system', content: 'Be brief.' }] });
    expect(body.system).toBe('Be brief.');
  });

  it('maps sampling and limits: temperature capped at 1, top_p, stop, max_completion_tokens, user', async () => {
    const body = await sent({
      temperature: 1.7,
      top_p: 0.9,
      stop: ['END', 'STOP'],
      max_completion_tokens: 321,
      user: 'user-42',
    });
    expect(body).toMatchObject({
      temperature: 1,
      top_p: 0.9,
      stop_sequences: ['END', 'STOP'],
      max_tokens: 321,
      metadata: { user_id: 'user-42' },
    });
    expect((await sent({ temperature: 0.3, max_tokens: 55 })) as object).toMatchObject({
      temperature: 0.3,
      max_tokens: 55,
    });
  });

  it('maps tool_choice auto, none, required and a named function, and parallel_tool_calls false', async () => {
    const choices = [
      ['auto', { type: 'auto' }],
      ['none', { type: 'none' }],
      ['required', { type: 'any' }],
      [
        { type: 'function', function: { name: 'lookup' } },
        { type: 'tool', name: 'lookup' },
      ],
    ] as const;
    for (const [choice, expected] of choices) {
      expect((await sent({ tools: [tool], tool_choice: choice })).tool_choice).toEqual(expected);
    }
    expect((await sent({ tools: [tool], parallel_tool_calls: false })).tool_choice).toEqual({
      type: 'auto',
      disable_parallel_tool_use: true,
    });
    expect((await sent({ tools: [tool] })).tools).toEqual([
      { name: 'lookup', input_schema: tool.function.parameters },
    ]);
  });

  it('a function without parameters gets an empty object schema', async () => {
    const body = await sent({ tools: [{ type: 'function', function: { name: 'now' } }] });
    expect(body.tools).toEqual([{ name: 'now', input_schema: { type: 'object', properties: {} } }]);
  });

  it('reasoning_effort fits its thinking budget under a given limit; none asks for no thinking', async () => {
    expect(await sent({ reasoning_effort: 'high', max_completion_tokens: 5000 })).toMatchObject({
      max_tokens: 5000,
      thinking: { type: 'enabled', budget_tokens: 4999 },
    });
    expect(await sent({ reasoning_effort: 'low', max_tokens: 5000 })).toMatchObject({
      thinking: { type: 'enabled', budget_tokens: 2048 },
    });
    expect(await sent({ reasoning_effort: 'none' })).not.toHaveProperty('thinking');
  });

  it('accepts the listed safe-to-ignore fields and harmless values without sending any of them upstream', async () => {
    const body = await sent({
      messages: [{ role: 'user', content: 'hi', name: 'alice' }],
      tools: [{ type: 'function', function: { ...tool.function, strict: true } }],
      n: 1,
      logprobs: false,
      frequency_penalty: 0,
      presence_penalty: 0,
      logit_bias: {},
      response_format: { type: 'text' },
      modalities: ['text'],
      store: true,
      metadata: { team: 'a' },
      service_tier: 'auto',
      seed: 7,
      prompt_cache_key: 'k',
      prompt_cache_retention: '24h',
      stop: null,
      temperature: null,
    });
    expect(Object.keys(body).sort()).toEqual(['max_tokens', 'messages', 'model', 'stream', 'tools']);
    expect(JSON.stringify(body)).not.toContain('alice');
    expect(body.tools).toEqual([{ name: 'lookup', input_schema: tool.function.parameters }]);
  });
});

describe('requests the relay cannot honour: 400 naming the field', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['n > 1', { n: 2 }, 'n'],
    ['logprobs', { logprobs: true }, 'logprobs'],
    ['top_logprobs', { top_logprobs: 3 }, 'top_logprobs'],
    ['a penalty', { presence_penalty: 0.5 }, 'presence_penalty'],
    ['logit_bias', { logit_bias: { '50256': -100 } }, 'logit_bias'],
    ['JSON mode', { response_format: { type: 'json_object' } }, 'response_format'],
    ['audio output', { modalities: ['text', 'audio'] }, 'modalities'],
    ['deprecated functions', { functions: [{ name: 'f' }] }, 'functions'],
    ['an unknown field', { frobnicate: true }, 'frobnicate'],
    ['temperature over 2', { temperature: 3 }, 'temperature'],
    ['stream_options without stream', { stream_options: { include_usage: true } }, 'stream_options'],
    [
      'a forced tool that is not listed',
      { tools: [tool], tool_choice: { type: 'function', function: { name: 'nope' } } },
      'tool_choice.function.name',
    ],
    ['tool_choice required without tools', { tool_choice: 'required' }, 'tool_choice'],
    ['two different limits', { max_tokens: 10, max_completion_tokens: 20 }, 'max_tokens'],
    [
      'reasoning under the smallest budget',
      { reasoning_effort: 'low', max_completion_tokens: 800 },
      'max_completion_tokens',
    ],
    ['a custom tool', { tools: [{ type: 'custom', custom: { name: 'x' } }] }, 'tools[0].type'],
    ['content of the wrong type', { messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
    [
      'an audio part',
      { messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] },
      'messages[0].content[0].type',
    ],
    ['an unknown role', { messages: [{ role: 'function', name: 'f', content: 'x' }] }, 'messages[0].role'],
    ['only system messages', { messages: [{ role: 'system', content: 'Be brief.' }] }, 'messages'],
    [
      'an image that is not a URL',
      {
        messages: [
          { role: 'user', content: [{ type: 'image_url', image_url: { url: 'file:///etc/passwd' } }] },
        ],
      },
      'messages[0].content[0].image_url.url',
    ],
    [
      'a data URL that is not an image',
      {
        messages: [
          {
            role: 'user',
            content: [{ type: 'image_url', image_url: { url: 'data:text/plain;base64,aGk=' } }],
          },
        ],
      },
      'messages[0].content[0].image_url.url',
    ],
    [
      'tool arguments that are not JSON',
      {
        messages: [
          { role: 'user', content: 'hi' },
          {
            role: 'assistant',
            tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{oops' } }],
          },
        ],
      },
      'messages[1].tool_calls[0].function.arguments',
    ],
    [
      'an empty assistant message',
      {
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: null },
        ],
      },
      'messages[1].content',
    ],
  ];

  it.each(cases)('%s', async (_name, fields, param) => {
    const marker = tag();
    const body = {
      model: 'claude-sim',
      messages: [{ role: 'user', content: `refuse me ${marker}` }],
      ...fields,
    };
    const error = await client.chat.completions.create(body as never).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(BadRequestError);
    const e = error as BadRequestError;
    expect(e.status).toBe(400);
    expect(e.param).toBe(param);
    expect(e.message).toContain(param);
    expect(e.code).toBe('invalid_request');
    expect(e.type).toBe('invalid_request_error');
    // Refused at the edge: nothing went upstream.
    expect(
      relay.simulated!.records.find((r) => JSON.stringify(r.body ?? null).includes(marker)),
    ).toBeUndefined();
  });

  it('a body that is not JSON is a 400 in the same shape', async () => {
    const res = await fetch(`${relay.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"model":',
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: Record<string, unknown> };
    expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request', param: null });
    expect(String(body.error.message)).toContain('JSON');
  });
});
