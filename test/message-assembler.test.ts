/** The per-stream assembler: what it hands out never changes under the caller, nor the events it folds. */
import { describe, expect, it } from 'vitest';
import type { BlockEvent } from '../src/core/events.js';
import { MessageAssembler } from '../src/core/message.js';

describe('MessageAssembler', () => {
  it('content taken mid-stream is a copy: later deltas and citations do not change it', () => {
    const a = new MessageAssembler();
    a.add({ type: 'text', index: 0, text: 'Hello' });
    a.add({ type: 'citation', index: 0, citation: { type: 'char_location', cited_text: 'x' } });
    const before = a.content();
    a.add({ type: 'text', index: 0, text: ' world' });
    a.add({ type: 'citation', index: 0, citation: { type: 'char_location', cited_text: 'y' } });
    expect(before).toEqual([
      { type: 'text', text: 'Hello', citations: [{ type: 'char_location', cited_text: 'x' }] },
    ]);
    expect(a.content()[0]).toMatchObject({
      text: 'Hello world',
      citations: [{ cited_text: 'x' }, { cited_text: 'y' }],
    });
  });

  it('a citation on a block that started with citations never mutates the logged block event', () => {
    const a = new MessageAssembler();
    const start: BlockEvent = {
      type: 'block',
      index: 0,
      block: { type: 'text', text: 'As ', citations: [{ type: 'page_location', cited_text: 'p1' }] },
    };
    a.add(start);
    a.add({ type: 'text', index: 0, text: 'said.' });
    a.add({ type: 'citation', index: 0, citation: { type: 'page_location', cited_text: 'p2' } });
    expect(start.block).toEqual({
      type: 'text',
      text: 'As ',
      citations: [{ type: 'page_location', cited_text: 'p1' }],
    });
    expect(a.content()).toEqual([
      {
        type: 'text',
        text: 'As said.',
        citations: [
          { type: 'page_location', cited_text: 'p1' },
          { type: 'page_location', cited_text: 'p2' },
        ],
      },
    ]);
  });

  it("the message carries done's stop fields: stop_sequence null unless sent, container only when sent", () => {
    const a = new MessageAssembler();
    a.add({ type: 'text', index: 0, text: 'hi' });
    const usage = { input_tokens: 1, output_tokens: 1, estimated: false };
    expect(a.message('m', undefined, usage)).toMatchObject({ stop_reason: null, stop_sequence: null });
    const done = {
      type: 'done' as const,
      stop_reason: 'stop_sequence',
      stop_sequence: 'END',
      container: { id: 'container_1', expires_at: '2026-01-01T00:00:00Z' },
      usage,
    };
    expect(a.message('m', done, usage)).toEqual({
      type: 'message',
      role: 'assistant',
      model: 'm',
      content: [{ type: 'text', text: 'hi' }],
      stop_reason: 'stop_sequence',
      stop_sequence: 'END',
      container: { id: 'container_1', expires_at: '2026-01-01T00:00:00Z' },
      usage,
    });
  });
});
