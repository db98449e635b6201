/**
 * POST /v1/chat/completions with the official `openai` SDK as the client, on the simulated upstream.
 */
import { randomUUID } from 'node:crypto';
import OpenAI, { APIError, AuthenticationError, BadRequestError, RateLimitError } from 'openai';
import type {
  ChatCompletionChunk,
  ChatCompletionCreateParamsBase,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../src/config.js';
import { RelayError } from '../src/core/errors.js';
import type { StreamSnapshot } from '../src/core/streams.js';
import { type RelayServer, startRelay } from '../src/server.js';
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

/** A unique tag so a test finds its own request among the simulator's records. */
function tag(): string {
  return `oa${randomUUID().slice(0, 8)}`;
}

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

/** The upstream request whose body holds `marker` (in any message, tool results included). */
function upstreamRequest(marker: string): Promise<RequestRecord> {
  return relay.simulated!.records.waitFor((r) => JSON.stringify(r.body ?? null).includes(marker));
}

async function snapshot(completionId: string): Promise<StreamSnapshot> {
  const id = completionId.replace(/^chatcmpl-/, '');
  return (await (await fetch(`${relay.url}/v1/streams/${id}`)).json()) as StreamSnapshot;
}

function user(content: string): ChatCompletionCreateParamsBase['messages'] {
  return [{ role: 'user', content }];
}

const weatherTool: ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

describe('streamed and whole text', () => {
  it('streams chunks: the first delta carries the role, then text deltas, then finish_reason stop; no usage unless asked', async () => {
    const prompt = `Tell me about relays ${tag()} [[sim tokens=8]]`;
    const chunks = await collect(
      await client.chat.completions.create({ model: 'claude-sim', messages: user(prompt), stream: true }),
    );
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    const contentChunks = chunks.filter((c) => (c.choices[0]?.delta.content ?? '') !== '');
    expect(contentChunks).toHaveLength(8);
    const last = chunks.at(-1)!;
    expect(last.choices[0]?.finish_reason).toBe('stop');
    expect(last.choices[0]?.delta).toEqual({});
    for (const c of chunks) {
      expect(c.object).toBe('chat.completion.chunk');
      expect(c.id).toBe(chunks[0]?.id);
      expect(c.id).toMatch(/^chatcmpl-str_/);
      expect(c.model).toBe('claude-sim');
      expect(c.usage ?? undefined).toBeUndefined();
    }
    const streamed = contentChunks.map((c) => c.choices[0]?.delta.content).join('');

    // The simulator answers the same body the same way: the whole completion has the same text.
    const whole = await client.chat.completions.create({ model: 'claude-sim', messages: user(prompt) });
    expect(whole.object).toBe('chat.completion');
    expect(whole.id).toMatch(/^chatcmpl-str_/);
    expect(whole.choices).toHaveLength(1);
    expect(whole.choices[0]?.message.role).toBe('assistant');
    expect(whole.choices[0]?.message.content).toBe(streamed);
    expect(whole.choices[0]?.finish_reason).toBe('stop');
    expect(whole.usage?.completion_tokens).toBe(8);
  });

  it('a whole completion always carries usage; prompt_tokens counts cache reads and writes', async () => {
    const whole = await client.chat.completions.create({
      model: 'claude-sim',
      messages: user(`cached ${tag()} [[sim tokens=5 cache_read=30 cache_write=12]]`),
    });
    const usage = (await snapshot(whole.id)).usage;
    expect(usage.cache_read_input_tokens).toBe(30);
    expect(whole.usage).toEqual({
      prompt_tokens: usage.input_tokens + 42,
      completion_tokens: 5,
      total_tokens: usage.input_tokens + 42 + 5,
      prompt_tokens_details: { cached_tokens: 30 },
    });
  });

  it('include_usage adds a last chunk with choices [] and the usage; the others carry usage null', async () => {
    const chunks = await collect(
      await client.chat.completions.create({
        model: 'claude-sim',
        messages: user(`usage please ${tag()} [[sim tokens=4 cache_read=7 cache_write=3]]`),
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    const input = (await snapshot(last.id)).usage.input_tokens;
    expect(last.usage).toEqual({
      prompt_tokens: input + 10,
      completion_tokens: 4,
      total_tokens: input + 10 + 4,
      prompt_tokens_details: { cached_tokens: 7 },
    });
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
    for (const c of chunks.slice(0, -1)) expect(c.usage).toBeNull();
  });
});

describe('tool calls', () => {
  it('round trip: a streamed call (id, name, then argument fragments) → the tool result → the answer', async () => {
    const marker = tag();
    const chunks = await collect(
      await client.chat.completions.create({
        model: 'claude-sim',
        messages: user(`What is the weather in Paris? ${marker}`),
        tools: [weatherTool],
        tool_choice: 'required',
        stream: true,
      }),
    );
    const first = await upstreamRequest(marker);
    expect(first.body).toMatchObject({
      tools: [
        {
          name: 'get_weather',
          description: 'Current weather for a city',
          input_schema: weatherTool.function.parameters,
        },
      ],
      tool_choice: { type: 'any' },
    });
    const calls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(calls.length).toBeGreaterThan(1);
    const [opening, ...fragments] = calls;
    expect(opening).toEqual({
      index: 0,
      id: expect.stringMatching(/^toolu_/),
      type: 'function',
      function: { name: 'get_weather', arguments: '' },
    });
    for (const f of fragments) {
      expect(f.index).toBe(0);
      expect(f.id).toBeUndefined();
      expect(f.function?.name).toBeUndefined();
    }
    const args = fragments.map((f) => f.function?.arguments).join('');
    expect(JSON.parse(args)).toHaveProperty('city');
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('tool_calls');

    const answerMarker = tag();
    const answer = await client.chat.completions.create({
      model: 'claude-sim',
      tools: [weatherTool],
      messages: [
        { role: 'user', content: `What is the weather in Paris? ${answerMarker}` },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: opening!.id!, type: 'function', function: { name: 'get_weather', arguments: args } },
          ],
        },
        { role: 'tool', tool_call_id: opening!.id!, content: '18°C and sunny' },
      ],
    });
    expect(answer.choices[0]?.finish_reason).toBe('stop');
    expect(answer.choices[0]?.message.content).not.toBe('');
    expect(answer.choices[0]?.message.tool_calls ?? []).toEqual([]);
    const second = await upstreamRequest(answerMarker);
    expect((second.body as { messages: unknown }).messages).toEqual([
      { role: 'user', content: `What is the weather in Paris? ${answerMarker}` },
      {
        role: 'assistant',
        content: [{ type: 'tool_use', id: opening!.id, name: 'get_weather', input: JSON.parse(args) }],
      },
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: opening!.id, content: '18°C and sunny' }],
      },
    ]);
  });

  it('a whole completion carries text and the tool call, content null when the reply is only the call', async () => {
    const both = await client.chat.completions.create({
      model: 'claude-sim',
      messages: user(`weather first ${tag()} [[sim tool=get_weather]]`),
      tools: [weatherTool],
    });
    const message = both.choices[0]!.message;
    expect(both.choices[0]?.finish_reason).toBe('tool_calls');
    expect(message.content).toMatch(/\S/);
    expect(message.tool_calls).toHaveLength(1);
    const call = message.tool_calls![0]!;
    expect(call.type === 'function' && call.function.name).toBe('get_weather');
    expect(call.type === 'function' && JSON.parse(call.function.arguments)).toHaveProperty('city');

    const only = await client.chat.completions.create({
      model: 'claude-sim',
      messages: user(`only the call ${tag()}`),
      tools: [weatherTool],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    expect(only.choices[0]?.message.content).toBeNull();
    expect(only.choices[0]?.message.tool_calls).toHaveLength(1);
  });
});

describe('images', () => {
  it('data URLs become base64 image blocks and http URLs url image blocks', async () => {
    const marker = tag();
    const png =
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
    const whole = await client.chat.completions.create({
      model: 'claude-sim',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: `What is in these pictures? ${marker}` },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${png}`, detail: 'low' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
          ],
        },
      ],
    });
    expect(whole.choices[0]?.finish_reason).toBe('stop');
    const record = await upstreamRequest(marker);
    expect((record.body as { messages: unknown }).messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: `What is in these pictures? ${marker}` },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
        ],
      },
    ]);
  });
});

describe('finish reasons', () => {
  const cases = [
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['pause_turn', 'stop'],
    ['max_tokens', 'length'],
    ['model_context_window_exceeded', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
  ] as const;

  it.each(cases)('stop_reason %s → finish_reason %s, streamed and whole', async (stopReason, finish) => {
    const messages = user(`ending ${tag()} [[sim tokens=3 stop_reason=${stopReason}]]`);
    const chunks = await collect(
      await client.chat.completions.create({ model: 'claude-sim', messages, stream: true }),
    );
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe(finish);
    expect(chunks.slice(0, -1).every((c) => c.choices[0]?.finish_reason === null)).toBe(true);
    const whole = await client.chat.completions.create({ model: 'claude-sim', messages });
    expect(whole.choices[0]?.finish_reason).toBe(finish);
  });

  it('a recorded real refusal (thinking, its signature, then refusal) reads as reasoning and content_filter', async () => {
    const messages = user(`recorded ${tag()} [[sim fixture=stream-a-refusal]]`);
    const chunks = await collect(
      await client.chat.completions.create({ model: 'claude-sim', messages, stream: true }),
    );
    const reasoning = chunks
      .map(
        (c) => (c.choices[0]?.delta as { reasoning_content?: string } | undefined)?.reasoning_content ?? '',
      )
      .join('');
    expect(reasoning).toMatch(/\S/);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('content_filter');
    // The signature has no Chat Completions field: nothing but the mapped deltas reach the client.
    for (const c of chunks) {
      for (const key of Object.keys(c.choices[0]?.delta ?? {})) {
        expect(['role', 'content', 'reasoning_content']).toContain(key);
      }
    }
  });

  it('max_completion_tokens and stop reach the upstream and end the answer with length and stop', async () => {
    const short = await client.chat.completions.create({
      model: 'claude-sim',
      messages: user(`a long answer ${tag()} [[sim tokens=50]]`),
      max_completion_tokens: 3,
    });
    expect(short.choices[0]?.finish_reason).toBe('length');
    expect(short.usage?.completion_tokens).toBe(3);

    const marker = tag();
    const stopped = await client.chat.completions.create({
      model: 'claude-sim',
      messages: user(`Explain relays and streams ${marker} [[sim tokens=60]]`),
      stop: 'e',
    });
    expect((await upstreamRequest(marker)).body).toMatchObject({ stop_sequences: ['e'] });
    expect(stopped.choices[0]?.finish_reason).toBe('stop');
    expect(stopped.choices[0]?.message.content).not.toContain('e');
    expect(stopped.usage?.completion_tokens).toBeLessThan(60);
  });
});

describe('reasoning', () => {
  it('reasoning_effort asks for a thinking budget and thinking arrives as reasoning_content', async () => {
    const marker = tag();
    const chunks = await collect(
      await client.chat.completions.create({
        model: 'claude-sim',
        messages: user(`Think about it ${marker}`),
        reasoning_effort: 'medium',
        stream: true,
      }),
    );
    const record = await upstreamRequest(marker);
    expect(record.body).toMatchObject({
      thinking: { type: 'enabled', budget_tokens: 4096 },
      max_tokens: 4096 + 1024,
    });
    const reasoning = chunks
      .map(
        (c) => (c.choices[0]?.delta as { reasoning_content?: string } | undefined)?.reasoning_content ?? '',
      )
      .join('');
    const content = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(reasoning).toMatch(/\S/);
    expect(content).toMatch(/\S/);
    const firstReasoning = chunks.findIndex((c) => 'reasoning_content' in (c.choices[0]?.delta ?? {}));
    const firstContent = chunks.findIndex((c) => (c.choices[0]?.delta.content ?? '') !== '');
    expect(firstReasoning).toBeLessThan(firstContent);

    const whole = await client.chat.completions.create({
      model: 'claude-sim',
      messages: user(`Think about it ${marker}`),
      reasoning_effort: 'medium',
    });
    const message = whole.choices[0]?.message as { reasoning_content?: string; content: string | null };
    expect(message.reasoning_content).toBe(reasoning);
    expect(message.content).toBe(content);
  });
});

describe('failures', () => {
  it('an upstream failure mid-stream ends with an error chunk the SDK raises', async () => {
    const stream = await client.chat.completions.create({
      model: 'claude-sim',
      messages: user(`fail midway ${tag()} [[sim tokens=20 error_after=3]]`),
      stream: true,
    });
    const seen: ChatCompletionChunk[] = [];
    const error = await (async () => {
      try {
        for await (const chunk of stream) seen.push(chunk);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(APIError);
    expect((error as APIError).code).toBe('upstream_overloaded');
    expect((error as APIError).type).toBe('server_error');
    expect(seen.filter((c) => (c.choices[0]?.delta.content ?? '') !== '')).toHaveLength(3);
    expect(seen.every((c) => c.choices[0]?.finish_reason == null)).toBe(true);
  });

  it('an upstream refusal before any content is an HTTP error status, streamed or not', async () => {
    for (const stream of [true, false]) {
      const error = await client.chat.completions
        .create({ model: 'claude-sim', messages: user(`refused ${tag()} [[sim status=400]]`), stream })
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(error).toBeInstanceOf(BadRequestError);
      expect((error as BadRequestError).code).toBe('invalid_request');
    }
    const overloaded = await client.chat.completions
      .create({ model: 'claude-sim', messages: user(`overloaded ${tag()} [[sim status=529]]`), stream: true })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(overloaded).toBeInstanceOf(APIError);
    expect((overloaded as APIError).status).toBe(503);
    expect((overloaded as APIError).code).toBe('upstream_overloaded');
  });

  it('retries before content apply: a failed first attempt is retried and the client sees only the answer', async () => {
    const marker = tag();
    const chunks = await collect(
      await client.chat.completions.create({
        model: 'claude-sim',
        messages: user(`retry me ${marker} [[sim tokens=4 fail_first=1]]`),
        stream: true,
      }),
    );
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
    const attempts = relay.simulated!.records.all().filter((r) => r.prompt?.includes(marker));
    expect(attempts.map((r) => r.status)).toEqual([529, 200]);
  });
});

describe('cancel', () => {
  it('aborting mid-stream closes the upstream request and cancels the stream', async () => {
    const marker = tag();
    const stream = await client.chat.completions.create({
      model: 'claude-sim',
      messages: user(`a long story ${marker} [[sim tokens=500 tps=100]]`),
      stream: true,
    });
    let id = '';
    let seen = 0;
    for await (const chunk of stream) {
      id = chunk.id;
      if (++seen === 3) stream.controller.abort();
    }
    const record = await upstreamRequest(marker);
    const ended = await relay.simulated!.records.waitForEnd(record.id);
    expect(ended.clientClosedAt).not.toBeNull();
    expect(ended.tokensSent).toBeLessThan(500);
    expect((await snapshot(id)).state).toBe('cancelled');
  });

  it('a client that gives up on a whole completion closes the upstream request too', async () => {
    const marker = tag();
    const controller = new AbortController();
    const pending = client.chat.completions
      .create(
        { model: 'claude-sim', messages: user(`slow whole ${marker} [[sim tokens=500 tps=100]]`) },
        { signal: controller.signal },
      )
      .catch((err: unknown) => err);
    const record = await upstreamRequest(marker);
    controller.abort();
    expect((await pending) as Error).toBeInstanceOf(Error);
    const ended = await relay.simulated!.records.waitForEnd(record.id);
    expect(ended.clientClosedAt).not.toBeNull();
  });

  it('a cancel through /v1/streams/:id/cancel ends the stream with an error chunk the SDK raises', async () => {
    const stream = await client.chat.completions.create({
      model: 'claude-sim',
      messages: user(`cancel me ${tag()} [[sim tokens=500 tps=100]]`),
      stream: true,
    });
    const error = await (async () => {
      try {
        for await (const chunk of stream) {
          const id = chunk.id.replace(/^chatcmpl-/, '');
          await fetch(`${relay.url}/v1/streams/${id}/cancel`, { method: 'POST' });
        }
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(APIError);
    expect((error as APIError).type).toBe('stream_cancelled');
    expect((error as APIError).code).toBe('client');
  });
});

describe('authentication, limits and metrics', () => {
  it('the edge authenticate() applies: a refused key is AuthenticationError, the principal owns the stream', async () => {
    // A fake at the edge seam: the bearer token is the principal, "nobody" is refused.
    const guarded = await startRelay(testConfig({ host: '127.0.0.1', port: 0 }), {
      authenticate: async (req) => {
        const token = req.headers.authorization?.replace(/^Bearer /, '') ?? '';
        if (token === '' || token === 'nobody') throw new RelayError('unauthorized', 'unknown key');
        return { id: token, limits: {} };
      },
    });
    try {
      const as = (key: string) => new OpenAI({ apiKey: key, baseURL: `${guarded.url}/v1`, maxRetries: 0 });
      const refused = await as('nobody')
        .chat.completions.create({ model: 'claude-sim', messages: user('let me in') })
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(refused).toBeInstanceOf(AuthenticationError);
      expect((refused as AuthenticationError).code).toBe('unauthorized');
      const models = await as('nobody')
        .models.list()
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(models).toBeInstanceOf(AuthenticationError);

      const whole = await as('alice').chat.completions.create({
        model: 'claude-sim',
        messages: user('mine'),
      });
      const id = whole.id.replace(/^chatcmpl-/, '');
      const read = (key: string) =>
        fetch(`${guarded.url}/v1/streams/${id}`, { headers: { authorization: `Bearer ${key}` } });
      expect((await read('alice')).status).toBe(200);
      expect((await read('bob')).status).toBe(404);
    } finally {
      await guarded.close();
    }
  });

  it('the relay stream limit answers 429 limit_exceeded, which the SDK does not retry', async () => {
    const limited = await startTestRelay({ maxStreams: 1 });
    let calls = 0;
    const counting = new OpenAI({
      apiKey: 'test-key',
      baseURL: `${limited.url}/v1`,
      maxRetries: 2,
      fetch: (url, init) => {
        calls++;
        return fetch(url, init);
      },
    });
    try {
      const holder = await counting.chat.completions.create({
        model: 'claude-sim',
        messages: user('hold the only slot [[sim tokens=50 stall_after=2]]'),
        stream: true,
      });
      const iterator = holder[Symbol.asyncIterator]();
      await iterator.next();
      calls = 0;
      const error = await counting.chat.completions
        .create({ model: 'claude-sim', messages: user('one too many') })
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(error).toBeInstanceOf(RateLimitError);
      expect((error as RateLimitError).code).toBe('limit_exceeded');
      expect(calls).toBe(1);
      holder.controller.abort();
    } finally {
      await limited.close();
    }
  });

  it('on shutdown a running completion ends with an error chunk (shutdown), and new ones get 503 shutting_down', async () => {
    const closing = await startTestRelay();
    const sdk = new OpenAI({ apiKey: 'test-key', baseURL: `${closing.url}/v1`, maxRetries: 0 });
    let closed: Promise<void> | undefined;
    try {
      const running = await sdk.chat.completions.create({
        model: 'claude-sim',
        messages: user('a long goodbye [[sim tokens=500 tps=50]]'),
        stream: true,
      });
      const iterator = running[Symbol.asyncIterator]();
      await iterator.next();
      closing.registry.beginDrain();
      const refused = await sdk.chat.completions
        .create({ model: 'claude-sim', messages: user('too late') })
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(refused).toBeInstanceOf(APIError);
      expect((refused as APIError).status).toBe(503);
      expect((refused as APIError).code).toBe('shutting_down');
      expect((refused as APIError).headers?.get('x-should-retry')).toBe('true');

      closed = closing.close();
      const error = await (async () => {
        try {
          for (;;) if ((await iterator.next()).done) return undefined;
        } catch (err) {
          return err;
        }
      })();
      expect(error).toBeInstanceOf(APIError);
      expect((error as APIError).type).toBe('stream_cancelled');
      expect((error as APIError).code).toBe('shutdown');
    } finally {
      await (closed ?? closing.close());
    }
  });

  it('completions are relay streams: /metrics counts them', async () => {
    const ended = async (): Promise<number> => {
      const text = await (await fetch(`${relay.url}/metrics`)).text();
      // Labelled by the transport that started them (and model, principal): sum those of this route.
      return text
        .split('\n')
        .filter(
          (l) =>
            l.startsWith('relay_streams_ended_total{') &&
            l.includes('transport="openai"') &&
            l.includes('outcome="done"'),
        )
        .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
    };
    const before = await ended();
    await client.chat.completions.create({ model: 'claude-sim', messages: user(`count me ${tag()}`) });
    await collect(
      await client.chat.completions.create({
        model: 'claude-sim',
        messages: user(`count me too ${tag()}`),
        stream: true,
      }),
    );
    expect(await ended()).toBe(before + 2);
  });
});
