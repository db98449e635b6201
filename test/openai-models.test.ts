/** GET /v1/models[/:id]: OpenAI's shape for OpenAI clients, Anthropic's for Anthropic SDKs. */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI, { NotFoundError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer } from '../src/server.js';
import { MODELS } from '../src/upstream/simulated/models.js';
import { startTestRelay } from './helpers/relay.js';

let relay: RelayServer;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  relay = await startTestRelay();
  openai = new OpenAI({ apiKey: 'test-key', baseURL: `${relay.url}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: 'test-key', baseURL: relay.url, maxRetries: 0 });
});
afterAll(async () => {
  await relay.close();
});

describe('models', () => {
  it('lists every upstream model in OpenAI shape for the openai SDK', async () => {
    const ids: string[] = [];
    for await (const model of openai.models.list()) {
      expect(model).toEqual({
        id: model.id,
        object: 'model',
        created: expect.any(Number),
        owned_by: 'anthropic',
      });
      ids.push(model.id);
    }
    expect(ids).toEqual(MODELS.map((m) => m.id));
  });

  it('retrieves one model in OpenAI shape; an unknown one is NotFoundError', async () => {
    expect(await openai.models.retrieve('claude-sim')).toEqual({
      id: 'claude-sim',
      object: 'model',
      created: Date.parse('2025-01-01T00:00:00Z') / 1000,
      owned_by: 'anthropic',
    });
    const error = await openai.models.retrieve('gpt-4o').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).code).toBe('not_found');
  });

  it('keeps Anthropic shape for Anthropic SDKs (anthropic-version)', async () => {
    const page = await anthropic.models.list({ limit: 3 });
    expect(page.data).toHaveLength(3);
    expect(page.data[0]).toEqual(MODELS[0]);
    expect(await anthropic.models.retrieve('claude-sim')).toEqual(MODELS.find((m) => m.id === 'claude-sim'));
    const res = await fetch(`${relay.url}/v1/models/nope`, {
      headers: { 'anthropic-version': '2023-06-01' },
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });
});
