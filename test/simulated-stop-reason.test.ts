import type Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SimulatedUpstream } from '../src/upstream/simulated/index.js';
import { STOP_REASONS } from '../src/upstream/simulated/stop-reason.js';
import { postMessages, sdkFor, startFastSim, userTurn } from './simulated-helpers.js';

let sim: SimulatedUpstream;
let client: Anthropic;

beforeAll(async () => {
  sim = await startFastSim();
  client = sdkFor(sim.url);
});
afterAll(() => sim.close());

describe('forcing stop reasons and cache counts with directives', () => {
  test.each(STOP_REASONS)('stop_reason=%s ends a streamed and a whole reply with it', async (reason) => {
    const params = {
      model: 'claude-sim',
      max_tokens: 100,
      messages: userTurn(`forced ending [[sim tokens=4 stop_reason=${reason}]]`),
    };
    const streamed = await client.messages.stream(params).finalMessage();
    expect(streamed.stop_reason).toBe(reason);
    expect(streamed.content.length).toBeGreaterThan(0);
    const whole = await client.messages.create(params);
    expect(whole.stop_reason).toBe(reason);
  });

  test('an unknown stop reason is a 400 naming the directive and the known reasons', async () => {
    const res = await postMessages(sim, {
      model: 'claude-sim',
      max_tokens: 10,
      messages: userTurn('[[sim stop_reason=finished]]'),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { message: string } };
    expect(body.error.message).toContain('stop_reason');
    expect(body.error.message).toContain('model_context_window_exceeded');
  });

  test('cache_read and cache_write are reported in the usage, streamed and whole', async () => {
    const params = {
      model: 'claude-sim',
      max_tokens: 100,
      messages: userTurn('cached prompt [[sim tokens=2 cache_read=30 cache_write=12]]'),
    };
    const streamed = await client.messages.stream(params).finalMessage();
    expect(streamed.usage.cache_read_input_tokens).toBe(30);
    expect(streamed.usage.cache_creation_input_tokens).toBe(12);
    const whole = await client.messages.create(params);
    expect(whole.usage.cache_read_input_tokens).toBe(30);
    expect(whole.usage.cache_creation_input_tokens).toBe(12);
  });
});
