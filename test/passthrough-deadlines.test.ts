/**
 * Streaming `POST /v1/messages` gets the relay streams' upstream deadlines: an upstream that never
 * answers, never sends content, or goes silent mid-stream is cut with Anthropic's `timeout_error`
 * (504 before the answer began, an `error` event after), and the upstream request is closed —
 * instead of hanging for the client SDK's default ten minutes.
 */
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer } from '../src/server.js';
import { startTestRelay } from './helpers/relay.js';

let relay: RelayServer;
beforeAll(async () => {
  relay = await startTestRelay({ firstTokenTimeoutMs: 600, idleTimeoutMs: 1500 });
});
afterAll(async () => {
  await relay.close();
});

function sdk(): Anthropic {
  return new Anthropic({ apiKey: 'client-key', baseURL: relay.url, maxRetries: 0, timeout: 20_000 });
}

function ask(prompt: string): Anthropic.MessageCreateParamsStreaming {
  return { model: 'claude-sim', max_tokens: 64, stream: true, messages: [{ role: 'user', content: prompt }] };
}

/** Waits until the simulator saw the request with `tag` end, and answers how it ended. */
async function upstreamEnd(
  tag: string,
): Promise<{ clientClosedAt: number | null; completedAt: number | null }> {
  const records = relay.simulated!.records;
  const record = await records.waitFor((r) => r.prompt?.includes(tag) === true);
  return records.waitForEnd(record.id, 10_000);
}

describe('streaming /v1/messages against a silent upstream', () => {
  it('an upstream that accepts and never answers: 504 timeout_error, and the upstream request is closed', async () => {
    const started = Date.now();
    const err = (await sdk()
      .messages.create(ask('silent-headers [[sim header_delay=15000]]'))
      .then(
        () => undefined,
        (e: unknown) => e,
      )) as InstanceType<typeof Anthropic.APIError>;
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(err.status).toBe(504);
    expect(err.message).toMatch(/timeout_error|no content within 600 ms/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await upstreamEnd('silent-headers')).clientClosedAt).not.toBeNull();
  }, 20_000);

  it('an upstream that sends headers but no content: an error event (timeout_error) ends the stream', async () => {
    const stream = await sdk().messages.create(ask('no-content [[sim ttft=15000]]'));
    const types: string[] = [];
    const err = await (async () => {
      try {
        for await (const event of stream) types.push(event.type);
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(types[0]).toBe('message_start');
    expect(types).not.toContain('content_block_delta');
    expect(err?.message).toMatch(/timeout_error/);
    expect(err?.message).toMatch(/no content within 600 ms/);
    expect((await upstreamEnd('no-content')).clientClosedAt).not.toBeNull();
  }, 20_000);

  it('an upstream that stalls mid-stream: an error event after the content already sent', async () => {
    const stream = await sdk().messages.create(ask('stalls [[sim tokens=20 stall_after=3]]'));
    const deltas: string[] = [];
    const err = await (async () => {
      try {
        for await (const event of stream) {
          if (event.type === 'content_block_delta' && event.delta.type === 'text_delta')
            deltas.push(event.delta.text);
        }
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(deltas).toHaveLength(3);
    expect(err?.message).toMatch(/timeout_error/);
    expect(err?.message).toMatch(/nothing for 1500 ms/);
    expect((await upstreamEnd('stalls')).clientClosedAt).not.toBeNull();
  }, 20_000);

  it('a live upstream slower than the deadlines in total, but never silent that long, streams to the end', async () => {
    const final = await sdk()
      .messages.stream({ ...ask('paced [[sim tokens=8 tps=5]]'), stream: undefined } as never)
      .finalMessage();
    expect(final.stop_reason).toBe('end_turn');
  }, 20_000);
});
