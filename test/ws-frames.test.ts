/**
 * The relay frames a cursor flush itself (src/transports/ws-frames.ts): the bytes must be exactly
 * what `ws.send(wsMessage(…))` (or `wsBatchMessage`) would have written — ws's own framer is the
 * oracle — for every payload length class (7-bit, 16-bit, 64-bit) and for multi-byte UTF-8.
 */
import { describe, expect, it } from 'vitest';
import * as wsModule from 'ws';
import type { RelayEvent } from '../src/core/events.js';
import type { LogEntry } from '../src/core/stream-log.js';
import { wsBatchMessage, wsMessage } from '../src/transports/wire.js';
import { wsBatchFrame, wsEnvelope, wsEventFrames } from '../src/transports/ws-frames.js';

interface FrameOptions {
  fin: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
  rsv1: boolean;
}
// ws exports its framer (`Sender`) at runtime; @types/ws does not declare it.
const { Sender } = wsModule as unknown as {
  Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] };
};

/** The bytes `ws` puts on the wire for one server text message. */
function wsFramed(text: string): Buffer {
  return Buffer.concat(
    Sender.frame(Buffer.from(text), { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }),
  );
}

function entry(event: Record<string, unknown>): LogEntry {
  const typed = event as unknown as RelayEvent;
  return { seq: typed.seq, type: typed.type, event: typed, json: JSON.stringify(event) };
}

const ID = 'str_0123456789abcdef';
const start = entry({ type: 'start', stream_id: ID, model: 'claude-x', seq: 1 });
const text = (chars: string, seq: number): LogEntry => entry({ type: 'text', text: chars, index: 0, seq });

/** Text events whose whole messages land on both sides of each length boundary of the header. */
function boundaryEntries(): LogEntry[] {
  const base = wsMessage(text('', 2), JSON.stringify(ID)).length;
  const sizes = [0, 1, 125, 126, 127, 65535, 65536, 70_000].map((total) => Math.max(0, total - base));
  return [...new Set(sizes)].map((n, i) => text('a'.repeat(n), i + 2));
}

describe('the relay frames events exactly as ws.send would', () => {
  it('one frame per entry, across the 7-, 16- and 64-bit length forms', () => {
    const entries = boundaryEntries();
    const envelope = wsEnvelope(JSON.stringify(ID));
    const expected = Buffer.concat(entries.map((e) => wsFramed(wsMessage(e, JSON.stringify(ID)))));
    expect(wsEventFrames(entries, envelope).equals(expected)).toBe(true);
  });

  it('counts bytes, not characters: multi-byte text, and a start with a non-ASCII ref', () => {
    const refJson = JSON.stringify('réf-✓-🙂');
    const entries = [start, text('héllo — ✓ 🙂 '.repeat(20), 2), text('ü'.repeat(70), 3), text('€', 4)];
    const envelope = wsEnvelope(JSON.stringify(ID), refJson);
    const expected = Buffer.concat(entries.map((e) => wsFramed(wsMessage(e, JSON.stringify(ID), refJson))));
    expect(wsEventFrames(entries, envelope).equals(expected)).toBe(true);
  });

  it('a start without a ref goes as the log JSON alone', () => {
    const frames = wsEventFrames([start], wsEnvelope(JSON.stringify(ID)));
    expect(frames.equals(wsFramed(start.json))).toBe(true);
  });

  it('a batch is one frame of the JSON array of the single-event messages, at every length form', () => {
    const refJson = JSON.stringify('tag');
    for (const entries of [[start], [start, text('x', 2)], [start, ...boundaryEntries()], [text('🙂', 9)]]) {
      const envelope = wsEnvelope(JSON.stringify(ID), refJson);
      const expected = wsFramed(wsBatchMessage(entries, JSON.stringify(ID), refJson));
      expect(wsBatchFrame(entries, envelope).equals(expected)).toBe(true);
    }
  });
});
