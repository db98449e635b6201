import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { SimulatedUpstream } from '../src/upstream/simulated/index.js';
import { rawServer, rawStream, sdkFor, startFastSim, userTurn } from './simulated-helpers.js';

let sim: SimulatedUpstream;
beforeAll(async () => {
  sim = await startFastSim();
});
afterAll(() => sim.close());

/** Deterministic chunk sizes 1..7 (a linear congruential generator, so failures replay). */
function* chunkSizes(seed: number): Generator<number> {
  let state = seed;
  for (;;) {
    state = (state * 1103515245 + 12345) % 2147483648;
    yield 1 + (state % 7);
  }
}

/** Splits bytes at pseudo-random offsets; reports how many splits fell inside a UTF-8 sequence. */
function split(bytes: Buffer, seed: number): { chunks: Buffer[]; insideMultiByte: number } {
  const chunks: Buffer[] = [];
  let insideMultiByte = 0;
  const sizes = chunkSizes(seed);
  for (let at = 0; at < bytes.length; ) {
    const size = sizes.next().value ?? 1;
    chunks.push(bytes.subarray(at, at + size));
    at += size;
    // A continuation byte (10xxxxxx) right after a split means the split is inside a character.
    const next = bytes[at];
    if (next !== undefined && (next & 0xc0) === 0x80) insideMultiByte++;
  }
  return { chunks, insideMultiByte };
}

test.each([1, 2, 3])(
  'a stream re-served in tiny chunks split inside multi-byte characters parses to the same text (seed %i)',
  async (seed) => {
    const params = {
      model: 'claude-sim',
      max_tokens: 400,
      messages: userTurn(`Tell me about 数据流 and emoji 🚀 seed ${seed} [[sim thinking=1 tool=lookup]]`),
    };
    const direct = await sdkFor(sim.url).messages.stream(params).finalMessage();
    const bytes = await rawStream(sim, params);
    const { chunks, insideMultiByte } = split(bytes, seed);
    expect(insideMultiByte).toBeGreaterThan(0);

    const whole = await rawServer((res) => {
      res.write(bytes);
    });
    const chunky = await rawServer(async (res) => {
      for (const chunk of chunks) {
        res.write(chunk);
        // One write per event-loop turn, so the chunks reach the client as separate reads.
        await nextTurn();
      }
    });
    try {
      const unsplit = await sdkFor(whole.url).messages.stream(params).finalMessage();
      const viaChunks = await sdkFor(chunky.url).messages.stream(params).finalMessage();
      expect(viaChunks).toEqual(unsplit);
      const text = (m: typeof direct) => m.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
      expect(text(viaChunks)).toBe(text(direct));
      expect(text(viaChunks)).toMatch(/[^\x00-\x7f]/);
    } finally {
      await whole.close();
      await chunky.close();
    }
  },
);
