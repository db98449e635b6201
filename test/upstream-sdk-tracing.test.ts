/**
 * The SDK's built-in OpenTelemetry spans are off in the stream adapter's clients: the relay traces
 * with a provider of its own, so the SDK's spans could only reach a global provider, which the
 * relay never sets (a no-op span per stream start). Here one is set, as an embedding application
 * might, to show that a relay stream starts no span there, while a plain SDK client, the control,
 * does. (The /v1/messages passthrough calls `client.post`, which starts no span either way.)
 */

import Anthropic from '@anthropic-ai/sdk';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, type Span, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UpstreamEvent } from '../src/core/upstream.js';
import { AnthropicUpstream } from '../src/upstream/anthropic.js';
import { type SimulatedUpstream, startSimulatedUpstream } from '../src/upstream/simulated/index.js';

const KEY = 'sk-ant-api03-tracing-test';
const MODEL = 'claude-haiku-4-5';

let sim: SimulatedUpstream;
/** Every span started on the global provider, ended or not (a streamed call's span ends late). */
const started: string[] = [];
const recorder: SpanProcessor = {
  onStart: (span: Span) => void started.push(span.name),
  onEnd: () => {},
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

beforeAll(async () => {
  sim = await startSimulatedUpstream({ firstTokenMs: 0, tokensPerSecond: 0 });
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [recorder] }));
});
afterAll(async () => {
  trace.disable();
  await sim.close();
});

describe('the SDK clients record no spans of their own', () => {
  it('a plain SDK client starts a span on the global provider, streamed or not (the control)', async () => {
    const client = new Anthropic({ apiKey: KEY, baseURL: sim.url, maxRetries: 0 });
    for (const stream of [false, true]) {
      started.length = 0;
      const response = await client.messages
        .create({
          model: MODEL,
          max_tokens: 16,
          stream,
          messages: [{ role: 'user', content: 'control [[sim tokens=3]]' }],
        })
        .asResponse();
      await response.text();
      expect(started.length).toBeGreaterThan(0);
    }
  });

  it('a relay stream (AnthropicUpstream) records none', async () => {
    started.length = 0;
    const upstream = new AnthropicUpstream({
      apiKey: KEY,
      baseURL: sim.url,
      firstTokenTimeoutMs: 10_000,
      idleTimeoutMs: 10_000,
      retry: { budgetMs: 1000, maxAttempts: 1, baseDelayMs: 5, maxDelayMs: 5 },
    });
    try {
      const events: UpstreamEvent[] = [];
      await upstream.push(
        { model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'relay [[sim tokens=3]]' }] },
        new AbortController().signal,
        (batch) => {
          events.push(...batch);
          return true;
        },
      );
      expect(events.at(-1)?.type).toBe('done');
    } finally {
      upstream.close();
    }
    expect(started).toEqual([]);
  });
});
