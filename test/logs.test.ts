/**
 * Logs an on-call engineer can use: one line per ended stream (ids, principal, transport, model,
 * outcome, code, usage, timings, retries, upstream request ids), one per refused request, every
 * failed upstream attempt with its cause; never prompt text, reply text or a key.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { testConfig } from '../src/config.js';
import { type RelayServer, startRelay } from '../src/server.js';
import { readSse, relayEvents } from './helpers/sse.js';

let relay: RelayServer | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
});

/** A relay whose pino lines land in `lines`, at debug level. */
async function relayWithLogs(overrides: Parameters<typeof testConfig>[0] = {}) {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) {
        if (line === '') continue;
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const logger = pino({ level: 'debug', base: null }, sink);
  relay = await startRelay(testConfig({ host: '127.0.0.1', port: 0, ...overrides }), { logger });
  return { relay, lines, raw };
}

function post(url: string, body: unknown): Promise<Response> {
  return fetch(`${url}/v1/streams`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('logs', () => {
  it('one line per ended stream, with no prompt or reply text', async () => {
    const { relay, lines, raw } = await relayWithLogs();
    const prompt = 'PROMPT-zebra-umbrella [[sim tokens=6]]';
    const res = await post(relay.url, { message: prompt });
    const id = res.headers.get('x-stream-id');
    const events = relayEvents((await readSse(res)).frames);
    const reply = events.flatMap((e) => (e.type === 'text' ? [String(e.text)] : [])).join('');
    await relay.registry.settled(id!);
    const ended = lines.filter((l) => l.msg === 'stream ended' && l.stream_id === id);
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({
      principal: 'anonymous',
      transport: 'sse',
      outcome: 'done',
      usage: { output_tokens: 6, estimated: false },
      retries: 0,
      attempts: 1,
    });
    expect(typeof ended[0]!.model).toBe('string');
    expect(typeof ended[0]!.ttft_ms).toBe('number');
    expect(typeof ended[0]!.duration_ms).toBe('number');
    // The simulator's request-id, to match a support ticket.
    expect(ended[0]!.upstream_request_ids).toEqual([expect.stringMatching(/^req_/)]);
    const all = raw.join('\n');
    expect(all).not.toContain('zebra-umbrella');
    expect(reply.length).toBeGreaterThan(10);
    for (const word of reply.split(/\s+/).filter((w) => w.length >= 8)) expect(all).not.toContain(word);
    // The start line names the upstream in use.
    expect(lines.find((l) => l.msg === 'relay listening')).toMatchObject({ upstream: 'simulated' });
  });

  it('one line per refused request, with its code and never its body', async () => {
    const { relay, lines, raw } = await relayWithLogs();
    const res = await post(relay.url, { message: 'x', secret_field_marmalade: 1 });
    expect(res.status).toBe(400);
    const refused = lines.filter((l) => l.msg === 'request refused');
    expect(refused).toEqual([
      expect.objectContaining({ method: 'POST', path: '/v1/streams', status: 400, code: 'invalid_request' }),
    ]);
    expect(raw.join('\n')).not.toContain('marmalade');
  });

  it('an unreachable upstream: each attempt logged with its cause and upstream, the start line names where it goes, never the key', async () => {
    const key = 'sk-test-key-never-logged-0123456789';
    const { relay, lines, raw } = await relayWithLogs({
      anthropicApiKey: key,
      anthropicBaseUrl: 'http://127.0.0.1:1',
      retryMaxAttempts: 2,
    });
    const res = await post(relay.url, { message: 'hello' });
    const id = res.headers.get('x-stream-id');
    const events = relayEvents((await readSse(res)).frames);
    expect(events.at(-1)).toMatchObject({ type: 'error', code: 'upstream_error' });
    await relay.registry.settled(id!);
    const failures = lines.filter((l) => l.msg === 'upstream attempt failed');
    expect(failures).toHaveLength(2);
    for (const f of failures) {
      expect(f).toMatchObject({
        stream_id: id,
        upstream: 'anthropic',
        cause: 'ECONNREFUSED',
        code: 'upstream_error',
      });
    }
    expect(lines.find((l) => l.msg === 'stream ended')).toMatchObject({
      outcome: 'error',
      code: 'upstream_error',
      retries: 1,
      attempts: 2,
    });
    expect(lines.find((l) => l.msg === 'relay listening')).toMatchObject({ upstream: 'http://127.0.0.1:1' });
    expect(raw.join('\n')).not.toContain(key);
  });
});
