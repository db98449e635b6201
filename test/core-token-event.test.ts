/**
 * The log writes a token event's JSON itself, without JSON.stringify: the bytes must be exactly
 * JSON.stringify's, whatever the text, and any other event (a text event parsed back from Redis
 * included) is still stringified as before.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RelayEventBody } from '../src/core/events.js';
import { StreamLog } from '../src/core/stream-log.js';
import { TokenEvent, textEvent, thinkingEvent } from '../src/core/token-event.js';
import { mapRawEvent, newMapperState } from '../src/upstream/sdk-events.js';
import { SseDecoder } from '../src/upstream/sse-decoder.js';

const limits = { maxEvents: 10_000, maxBytes: 10_000_000 };

/** What JSON.stringify gives for the same event as a plain object. */
const stringified = (type: 'text' | 'thinking', text: string, index: number, seq: number): string =>
  JSON.stringify({ type, text, index, seq });

/** Every text and thinking delta of the recorded Anthropic streams, as the mapper makes them. */
function recordedDeltas(): TokenEvent[] {
  const dir = join(import.meta.dirname, '..', 'fixtures');
  const out: TokenEvent[] = [];
  for (const file of readdirSync(dir, { recursive: true }).map(String)) {
    if (!file.endsWith('.sse')) continue;
    const state = newMapperState();
    for (const m of new SseDecoder().push(readFileSync(join(dir, file)))) {
      if (m.data === '' || m.event === 'ping') continue;
      const event = mapRawEvent(JSON.parse(m.data), state);
      if (event instanceof TokenEvent) out.push(event);
    }
  }
  return out;
}

describe('a token event', () => {
  it('serialises as JSON.stringify does, for every delta of the recorded streams', () => {
    const deltas = recordedDeltas();
    expect(deltas.length).toBeGreaterThan(20);
    expect(deltas.some((d) => d.type === 'thinking')).toBe(true);
    const log = new StreamLog(limits);
    for (const delta of deltas) {
      const { type, text, index } = delta;
      const entry = log.append(delta as RelayEventBody)!;
      expect(entry.json).toBe(stringified(type, text, index, entry.seq));
    }
  });

  it.each([
    ['plain ASCII', 'Hello there'],
    ['multi-byte characters', 'Café ☕ 日本語'],
    ['an empty text', ''],
    ['U+2028, U+2029 and DEL, which JSON leaves as they are', '\u2028 \u2029 \u007f'],
    ['a quote', 'say "hi"'],
    ['a backslash', 'C:\\path'],
    ['a newline and a tab', 'one\ntwo\tthree'],
    ['a NUL and U+001F', '\u0000 \u001f'],
    ['a surrogate pair', 'party 🎉'],
    ['a lone high surrogate', 'x \ud800 y'],
    ['a lone low surrogate', 'x \udc00'],
  ])('serialises %s byte for byte as JSON.stringify does', (_, text) => {
    for (const make of [textEvent, thinkingEvent]) {
      const log = new StreamLog(limits);
      log.append({ type: 'start', stream_id: 's', model: 'm' });
      const event = make(text, 7);
      const entry = log.append(event)!;
      expect(entry.json).toBe(stringified(event.type, text, 7, 2));
      expect(JSON.parse(entry.json)).toEqual({ type: event.type, text, index: 7, seq: 2 });
    }
  });

  it('writes its own JSON when the text needs no escape, and declines when it does', () => {
    expect(new TokenEvent('text', 'Hello', 0).json(3)).toBe(
      '{"type":"text","text":"Hello","index":0,"seq":3}',
    );
    expect(new TokenEvent('thinking', 'hm', 12).json(40)).toBe(
      '{"type":"thinking","text":"hm","index":12,"seq":40}',
    );
    for (const text of ['"', '\\', '\n', '\u0000', '\u001f', '\ud83c\udf89', '\ud800', '\udfff'])
      expect(new TokenEvent('text', `a${text}b`, 0).json(1)).toBeUndefined();
    // An index that is not an integer (never from the API) goes to JSON.stringify too.
    expect(new TokenEvent('text', 'a', 1.5).json(1)).toBeUndefined();
    expect(new TokenEvent('text', 'a', Number.NaN).json(1)).toBeUndefined();
  });

  it('keeps the key order and the seq slot of the plain object it replaced', () => {
    const event = textEvent('hi', 0);
    expect(Object.keys(event)).toEqual(['type', 'text', 'index', 'seq']);
    expect(JSON.stringify(event)).toBe('{"type":"text","text":"hi","index":0}');
    expect(event).toEqual({ type: 'text', text: 'hi', index: 0, seq: undefined });
  });
});

describe('any other text event', () => {
  it('is stringified as before, fields and key order as they came', () => {
    const log = new StreamLog(limits);
    // As a replica's schema hands one back: the same fields in another order, and one more.
    const parsed = { seq: 0, index: 1, type: 'text', text: 'hi', extra: true } as unknown as RelayEventBody;
    const entry = log.append(parsed)!;
    expect(entry.json).toBe('{"seq":1,"index":1,"type":"text","text":"hi","extra":true}');
  });
});
