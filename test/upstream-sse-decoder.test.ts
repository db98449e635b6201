import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defaultFixturesDir } from '../src/upstream/simulated/fixtures.js';
import { SseDecoder, type SseMessage } from '../src/upstream/sse-decoder.js';

const enc = new TextEncoder();

function decodeAll(chunks: Uint8Array[]): SseMessage[] {
  const d = new SseDecoder();
  const out: SseMessage[] = [];
  for (const c of chunks) out.push(...d.push(c));
  out.push(...d.end());
  return out;
}

/** Splits bytes at pseudo-random offsets (1..7 bytes), deterministic for a seed. */
function split(bytes: Uint8Array, seed: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let x = seed;
  for (let i = 0; i < bytes.length; ) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const n = 1 + (x % 7);
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}

describe('SseDecoder', () => {
  it('decodes named events with one data line, passing over comments', () => {
    const msgs = decodeAll([enc.encode(': hi\nevent: ping\ndata: {"type": "ping"}\n\ndata: x\n\n')]);
    expect(msgs).toEqual([
      { event: 'ping', data: '{"type": "ping"}' },
      { event: null, data: 'x' },
    ]);
  });

  it('joins multi-line data and strips only one space after the colon', () => {
    expect(decodeAll([enc.encode('data:a\ndata:  b\ndata\n\n')])).toEqual([{ event: null, data: 'a\n b\n' }]);
  });

  it('accepts CRLF and CR line ends, even when a CRLF is split across chunks', () => {
    const text = 'event: e\r\ndata: a\r\ndata: b\r\n\r\nevent: f\rdata: c\r\r';
    const expected = [
      { event: 'e', data: 'a\nb' },
      { event: 'f', data: 'c' },
    ];
    expect(decodeAll([enc.encode(text)])).toEqual(expected);
    const bytes = enc.encode(text);
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(decodeAll([bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual(expected);
    }
  });

  it('drops a message whose blank line never came (a truncated body)', () => {
    expect(decodeAll([enc.encode('data: complete\n\ndata: cut off')])).toEqual([
      { event: null, data: 'complete' },
    ]);
  });

  it('decodes every recorded fixture identically however its bytes are split, multi-byte characters included', () => {
    const dir = `${defaultFixturesDir()}/`;
    for (const name of [
      'anthropic-docs-tool_use.sse',
      'anthropic-sdk/stream-a-refusal.sse',
      'anthropic-sdk/stream-b-fallback.sse',
    ]) {
      const bytes = new Uint8Array(readFileSync(dir + name));
      const whole = decodeAll([bytes]);
      expect(whole.length).toBeGreaterThan(5);
      for (const m of whole)
        if (m.event !== null && m.event !== 'ping') expect(() => JSON.parse(m.data)).not.toThrow();
      for (const seed of [1, 2, 3]) expect(decodeAll(split(bytes, seed))).toEqual(whole);
    }
    const multi = enc.encode('event: t\ndata: {"text":"你好 🚀"}\n\n');
    expect(decodeAll(split(multi, 9))).toEqual([{ event: 't', data: '{"text":"你好 🚀"}' }]);
  });
});
