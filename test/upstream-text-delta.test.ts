/**
 * The text-delta fast path reads exactly what the general path (SSE decoder, JSON.parse, mapper)
 * reads, for every canonical text delta, and declines everything else so the general path decides.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StreamLog } from '../src/core/stream-log.js';
import { mapRawEvent, newMapperState } from '../src/upstream/sdk-events.js';
import { SseDecoder } from '../src/upstream/sse-decoder.js';
import { textDeltaEvent } from '../src/upstream/text-delta.js';

const chunk = (data: string, event = 'content_block_delta'): Buffer =>
  Buffer.from(`event: ${event}\ndata: ${data}\n\n`);
const canonical = (text: string, index = 0): Buffer =>
  chunk(JSON.stringify({ type: 'content_block_delta', index, delta: { type: 'text_delta', text } }));

/** The fast path's index and text (its event without the type and the log's seq slot). */
function textDelta(buf: Buffer): { index: number; text: string } | undefined {
  const event = textDeltaEvent(buf);
  return event === undefined ? undefined : { index: event.index, text: event.text };
}

/** What the general path makes of a chunk: the mapped events. */
function general(buf: Buffer): unknown[] {
  const state = newMapperState();
  return new SseDecoder()
    .push(buf)
    .map((m) => mapRawEvent(JSON.parse(m.data), state))
    .filter((e) => e !== undefined);
}

describe('textDelta', () => {
  it.each([
    ['plain ASCII', 'Hello there', 0],
    ['multi-byte characters', 'Café ☕ 日本語 🎉', 0],
    ['escaped quotes, backslashes and newlines', 'say "hi"\\n\n\tdone\\', 2],
    ['unicode escapes and a lone surrogate pair', '\u0007bell \ud83d\ude00 \u2028', 11],
    ['a long block index', 'x', 123456],
    ['an empty text', '', 0],
  ])('reads %s exactly as the general path does', (_name, text, index) => {
    const buf = canonical(text, index);
    const fast = textDelta(buf);
    expect(fast).toEqual({ index, text });
    const slow = general(buf);
    // The mapper drops empty texts; the fast path's caller does too.
    if (text === '') expect(slow).toEqual([]);
    else expect(slow).toEqual([{ type: 'text', text, index }]);
  });

  it('agrees with the general path on every text delta of the recorded Anthropic streams', () => {
    const dir = join(import.meta.dirname, '..', 'fixtures');
    const files = readdirSync(dir, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.sse'));
    let taken = 0;
    for (const file of files) {
      const text = readFileSync(join(dir, file), 'utf8');
      for (const frame of text.split(/\n\n/)) {
        if (!frame.includes('text_delta')) continue;
        const buf = Buffer.from(`${frame}\n\n`);
        const fast = textDelta(buf);
        if (fast === undefined) continue;
        taken++;
        expect(general(buf)).toEqual(fast.text === '' ? [] : [{ type: 'text', ...fast }]);
      }
    }
    // The SDK's recordings are compact: the fast path takes their deltas.
    expect(taken).toBeGreaterThan(5);
  });

  it.each([
    [
      'JSON with spaces (the docs’ recording)',
      chunk('{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}'),
    ],
    [
      'CRLF line ends',
      Buffer.from(
        'event: content_block_delta\r\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\r\n\r\n',
      ),
    ],
    ['two events in one chunk', Buffer.concat([canonical('a'), canonical('b')])],
    ['half an event', canonical('abc').subarray(0, 60)],
    [
      'a field after the text',
      chunk('{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a","x":1}}'),
    ],
    [
      'an unescaped quote that ends the string early',
      chunk('{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a","b"}}'),
    ],
    [
      'a raw control character (invalid JSON)',
      chunk('{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\tb"}}'),
    ],
    [
      'a bad escape (invalid JSON)',
      chunk('{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\\qb"}}'),
    ],
    [
      'a leading zero in the index',
      chunk('{"type":"content_block_delta","index":01,"delta":{"type":"text_delta","text":"a"}}'),
    ],
    [
      'a negative index',
      chunk('{"type":"content_block_delta","index":-1,"delta":{"type":"text_delta","text":"a"}}'),
    ],
    [
      'a thinking delta',
      chunk('{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"a"}}'),
    ],
    [
      'another event name',
      chunk('{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}', 'other'),
    ],
    ['an empty chunk', Buffer.alloc(0)],
  ])('declines %s', (_name, buf) => {
    expect(textDelta(buf)).toBeUndefined();
  });
});

describe('SseDecoder.idle', () => {
  it('is true between whole messages and false while anything is held back', () => {
    const d = new SseDecoder();
    expect(d.idle).toBe(true);
    d.push(Buffer.from('event: ping\ndata: {}\n\n'));
    expect(d.idle).toBe(true);
    d.push(Buffer.from('event: content_block_delta\ndata: {"a"'));
    expect(d.idle).toBe(false);
    d.push(Buffer.from(':1}\n\n'));
    expect(d.idle).toBe(true);
    // A chunk that ends inside a multi-byte character: the next chunk does not stand alone.
    const euro = Buffer.from('€');
    d.push(Buffer.concat([Buffer.from('event: x\ndata: 1\n\n'), euro.subarray(0, 1)]));
    expect(d.idle).toBe(false);
    d.push(Buffer.concat([euro.subarray(1), Buffer.from('\n\n')]));
    d.push(Buffer.from('event: x\ndata: 1\n\n'));
    expect(d.idle).toBe(true);
    // A CR at a chunk's end may be the first half of a CRLF.
    d.push(Buffer.from('event: x\r\ndata: 1\r\n\r'));
    expect(d.idle).toBe(false);
  });
});

describe('textDeltaEvent', () => {
  it.each([
    ['plain ASCII', 'Hello there', 0],
    ['multi-byte characters', 'Café ☕ 日本語 🎉', 3],
    ['escapes', 'say "hi"\\n\n\tdone\\', 2],
  ])('is the event the mapper makes, to its JSON key order, for %s', (_name, text, index) => {
    const buf = canonical(text, index);
    const fast = textDeltaEvent(buf);
    const [slow] = general(buf);
    expect(fast).toEqual(slow);
    // The log serialises the event as it gets it: the same keys in the same order, the same bytes.
    expect(JSON.stringify(fast)).toBe(JSON.stringify(slow));
  });

  it('declines a chunk cut short after a long index without reading past its end', () => {
    const buf = canonical('abcdef', 123456789);
    for (let cut = 0; cut < buf.length; cut++) expect(textDeltaEvent(buf.subarray(0, cut))).toBeUndefined();
    expect(textDeltaEvent(buf)?.text).toBe('abcdef');
  });

  it('declines a chunk that differs from the canonical form in any one byte outside its text', () => {
    const buf = canonical('hello', 7);
    const textFrom = buf.indexOf('hello');
    for (let i = 0; i < buf.length; i++) {
      if (i >= textFrom && i < textFrom + 5) continue;
      const changed = Buffer.from(buf);
      changed[i] = changed[i] === 0x41 ? 0x42 : 0x41;
      expect(textDeltaEvent(changed), `byte ${i}`).toBeUndefined();
    }
  });
});

describe('the text events the adapter makes', () => {
  it("carry the log's seq slot, so numbering one fills it in place and its JSON is unchanged", () => {
    const fast = textDeltaEvent(canonical('hi', 1))!;
    const [slow] = general(canonical('hi', 1)) as [object];
    for (const event of [fast, slow]) {
      // Declared, not set: nothing sees it before the log numbers the event.
      expect(Object.keys(event)).toEqual(['type', 'text', 'index', 'seq']);
      expect(JSON.stringify(event)).toBe('{"type":"text","text":"hi","index":1}');
    }
    const log = new StreamLog({ maxEvents: 10, maxBytes: 1 << 16 });
    expect(log.append(fast as never)?.json).toBe('{"type":"text","text":"hi","index":1,"seq":1}');
    expect(log.append(slow as never)?.json).toBe('{"type":"text","text":"hi","index":1,"seq":2}');
  });

  it('carry the slot for thinking text too', () => {
    const [thinking] = general(
      chunk('{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}'),
    ) as [object];
    expect(Object.keys(thinking)).toEqual(['type', 'text', 'index', 'seq']);
    expect(JSON.stringify(thinking)).toBe('{"type":"thinking","text":"hm","index":0}');
  });
});
