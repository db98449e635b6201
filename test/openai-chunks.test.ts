/**
 * The chunk encoder and the fold on exact event sequences the simulator does not produce (several
 * tool calls in one answer, interleaved with text; input for a block that opened no tool call).
 */
import { describe, expect, it } from 'vitest';
import type { RelayEventBody, ToolUseEvent } from '../src/core/events.js';
import type { LogEntry } from '../src/core/stream-log.js';
import { chatChunkEncoder } from '../src/transports/openai/chunks.js';
import { CompletionFold } from '../src/transports/openai/completion.js';

const meta = { id: 'chatcmpl-str_test', model: 'claude-sim', created: 1 };

function toolUse(index: number, id: string, name: string): ToolUseEvent {
  // `kind` for event shapes that carry who runs the tool; a client tool either way.
  return { type: 'tool_use', index, id, name, kind: 'client' } as ToolUseEvent;
}

const usage = { input_tokens: 10, output_tokens: 20, estimated: false };
const events: RelayEventBody[] = [
  { type: 'start', stream_id: 'str_test', model: 'claude-sim' },
  { type: 'text', text: 'Looking both up.', index: 0 },
  toolUse(1, 'toolu_a', 'get_weather'),
  { type: 'tool_input', partial_json: '{"city":', index: 1 },
  { type: 'tool_input', partial_json: '"Paris"}', index: 1 },
  // Input for a block that opened no tool call: nothing to attach it to.
  { type: 'tool_input', partial_json: '{"stray":1}', index: 2 },
  toolUse(3, 'toolu_b', 'get_time'),
  { type: 'tool_input', partial_json: '{"tz":"CET"}', index: 3 },
  { type: 'done', stop_reason: 'tool_use', usage },
];
const entries: LogEntry[] = events.map((event, i) => ({
  seq: i + 1,
  event: { ...event, seq: i + 1 },
  json: JSON.stringify(event),
}));

describe('the chunk encoder', () => {
  it('numbers tool calls in order of appearance and sends their arguments under that index', () => {
    const text = chatChunkEncoder(meta, false)(entries);
    const frames = text.split('\n\n').filter((f) => f !== '');
    expect(frames.at(-1)).toBe('data: [DONE]');
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.slice('data: '.length)));
    const calls = chunks.flatMap((c) => c.choices[0].delta.tool_calls ?? []);
    expect(calls).toEqual([
      { index: 0, id: 'toolu_a', type: 'function', function: { name: 'get_weather', arguments: '' } },
      { index: 0, function: { arguments: '{"city":' } },
      { index: 0, function: { arguments: '"Paris"}' } },
      { index: 1, id: 'toolu_b', type: 'function', function: { name: 'get_time', arguments: '' } },
      { index: 1, function: { arguments: '{"tz":"CET"}' } },
    ]);
    expect(chunks.at(-1).choices[0]).toEqual({
      index: 0,
      delta: {},
      logprobs: null,
      finish_reason: 'tool_calls',
    });
  });

  it('batches split anywhere give the same bytes (the encoder keeps its state per stream)', () => {
    const whole = chatChunkEncoder(meta, true)(entries);
    const encode = chatChunkEncoder(meta, true);
    const pieces = entries.map((e) => encode([e])).join('');
    expect(pieces).toBe(whole);
  });
});

describe('the fold', () => {
  it('gathers text and every tool call with its joined arguments', async () => {
    const fold = new CompletionFold(meta);
    const ended = events.map((e) => fold.add(e));
    expect(ended.indexOf(true)).toBe(events.length - 1);
    const res = fold.answer({ 'x-stream-id': 'str_test' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-stream-id')).toBe('str_test');
    const body = (await res.json()) as { choices: { message: unknown; finish_reason: string }[] };
    expect(body.choices[0]).toMatchObject({
      finish_reason: 'tool_calls',
      message: {
        role: 'assistant',
        content: 'Looking both up.',
        tool_calls: [
          {
            id: 'toolu_a',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
          { id: 'toolu_b', type: 'function', function: { name: 'get_time', arguments: '{"tz":"CET"}' } },
        ],
      },
    });
  });
});
