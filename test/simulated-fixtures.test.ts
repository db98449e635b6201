import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { defaultFixturesDir, loadFixture } from '../src/upstream/simulated/fixtures.js';
import type { SimulatedUpstream } from '../src/upstream/simulated/index.js';
import { postMessages, rawServer, rawStream, sdkFor, startFastSim, userTurn } from './simulated-helpers.js';

const dir = defaultFixturesDir();
const fixtures = ['', 'anthropic-sdk'].flatMap((sub) =>
  readdirSync(join(dir, sub))
    .filter((f) => f.endsWith('.sse'))
    .map((f) => ({ name: f.slice(0, -'.sse'.length), path: join(dir, sub, f) })),
);

let sim: SimulatedUpstream;
beforeAll(async () => {
  sim = await startFastSim();
});
afterAll(() => sim.close());

/** What the SDK makes of a stream: its final message, or the message of its rejection. */
async function sdkOutcome(baseURL: string, prompt: string): Promise<unknown> {
  try {
    const message = await sdkFor(baseURL)
      .messages.stream({ model: 'claude-sim', max_tokens: 1024, messages: userTurn(prompt) })
      .finalMessage();
    return { message };
  } catch (err) {
    return { error: err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err) };
  }
}

describe('fixture replay', () => {
  test('the default fixtures dir holds the recorded streams', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(7);
  });

  test.each(fixtures)('fixture=$name is replayed byte for byte', async ({ name, path }) => {
    const bytes = await rawStream(sim, {
      model: 'claude-sim',
      max_tokens: 100,
      messages: userTurn(`[[sim fixture=${name}]]`),
    });
    expect(bytes.equals(readFileSync(path))).toBe(true);
  });

  test.each(fixtures)(
    'fixture=$name parses in the SDK exactly like the file itself',
    async ({ name, path }) => {
      const file = readFileSync(path);
      const direct = await rawServer((res) => {
        res.write(file);
      });
      try {
        const expected = await sdkOutcome(direct.url, 'anything');
        const actual = await sdkOutcome(sim.url, `[[sim fixture=${name}]]`);
        expect(actual).toEqual(expected);
      } finally {
        await direct.close();
      }
    },
  );

  test('faults apply to a fixture replay, counting content_block_delta frames', async () => {
    const res = await postMessages(sim, {
      model: 'claude-sim',
      max_tokens: 100,
      stream: true,
      messages: userTurn('[[sim fixture=basic_response truncate_after=1]]'),
    });
    const text = await res.text();
    expect(text.match(/event: content_block_delta/g)).toHaveLength(1);
    expect(text).not.toContain('message_stop');
  });

  test.each(['../README', '../../etc/passwd', 'anthropic-sdk/basic_response', '.hidden'])(
    'fixture=%s (path traversal or a path) is rejected with 400',
    async (name) => {
      const res = await postMessages(sim, {
        model: 'claude-sim',
        max_tokens: 100,
        stream: true,
        messages: userTurn(`[[sim fixture=${name}]]`),
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    },
  );

  test('loadFixture itself refuses names that leave the fixtures dir', async () => {
    expect(await loadFixture(dir, '..')).toBeUndefined();
    expect(await loadFixture(dir, '../fixtures/basic_response')).toBeUndefined();
    expect(await loadFixture(dir, 'basic_response')).toBeInstanceOf(Buffer);
  });

  test('an unknown fixture and a non-streaming fixture request are 400 invalid_request_error', async () => {
    const missing = await postMessages(sim, {
      model: 'claude-sim',
      max_tokens: 100,
      stream: true,
      messages: userTurn('[[sim fixture=no_such_fixture]]'),
    });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: { message: string } }).error.message).toContain(
      'no_such_fixture',
    );
    const whole = await postMessages(sim, {
      model: 'claude-sim',
      max_tokens: 100,
      messages: userTurn('[[sim fixture=basic_response]]'),
    });
    expect(whole.status).toBe(400);
  });
});
