import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RequestRecord, SimulatedUpstream } from '../src/upstream/simulated/index.js';
import { PROMPT_LIMIT, RecordStore } from '../src/upstream/simulated/records.js';
import { marker, postMessages, sdkFor, sleep, startFastSim, userTurn } from './simulated-helpers.js';

let sim: SimulatedUpstream;
beforeAll(async () => {
  sim = await startFastSim();
});
afterAll(() => sim.close());

describe('request records', () => {
  test('a completed request is recorded with its model, prompt, body summary, auth and timings', async () => {
    const m = marker();
    await sdkFor(sim.url)
      .messages.stream({ model: 'claude-sim#tokens=3', max_tokens: 20, messages: userTurn(`${m} hi`) })
      .finalMessage();
    const r = await sim.records.waitFor((x) => x.prompt?.includes(m) === true);
    const ended = await sim.records.waitForEnd(r.id);
    expect(ended).toMatchObject({
      method: 'POST',
      path: '/v1/messages',
      model: 'claude-sim#tokens=3',
      prompt: `${m} hi`,
      auth: 'bearer',
      status: 200,
      tokensSent: 3,
      outcome: 'completed',
      clientClosedAt: null,
    });
    expect(ended).toMatchObject({
      maxTokens: 20,
      stream: true,
      bodySha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(ended.bodyBytes).toBeGreaterThan(50);
    expect(ended).not.toHaveProperty('body');
    expect(ended.headersSentAt).toBeGreaterThanOrEqual(ended.receivedAt);
    expect(ended.completedAt).toBeGreaterThanOrEqual(ended.headersSentAt ?? 0);
    expect(BigInt(ended.lastTokenAtNs ?? '0')).toBeGreaterThan(BigInt(ended.receivedAtNs));
    expect(sim.records.get(r.id)).toBe(ended);
  });

  test('a large body is kept as its size and hash, not the bytes; the prompt is bounded', async () => {
    const m = marker();
    const image = 'A'.repeat(2_000_000); // a 2 MB base64 "image"
    const prompt = `${m} ${'word '.repeat(1000)}`;
    const res = await postMessages(sim, {
      model: 'claude-sim',
      max_tokens: 5,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: image } },
            { type: 'text', text: prompt },
          ],
        },
      ],
    });
    await res.text();
    const r = await sim.records.waitForEnd(
      (await sim.records.waitFor((x) => x.prompt?.includes(m) === true)).id,
    );
    expect(r.bodyBytes).toBeGreaterThan(2_000_000);
    expect(r).not.toHaveProperty('body');
    expect(r.prompt).toBe(prompt.slice(0, PROMPT_LIMIT));
    expect(JSON.stringify(r).length).toBeLessThan(4096);
  });

  test('bodies are kept only while a test asks (keepBodies)', async () => {
    const m = marker();
    sim.records.keepBodies();
    try {
      await (
        await postMessages(sim, { model: 'claude-sim', max_tokens: 7, messages: userTurn(`${m} kept`) })
      ).text();
    } finally {
      sim.records.keepBodies(false);
    }
    await (
      await postMessages(sim, { model: 'claude-sim', max_tokens: 7, messages: userTurn(`${m} not kept`) })
    ).text();
    const kept = await sim.records.waitFor((x) => x.prompt === `${m} kept`);
    const notKept = await sim.records.waitFor((x) => x.prompt === `${m} not kept`);
    expect(kept.body).toMatchObject({ max_tokens: 7, messages: userTurn(`${m} kept`) });
    expect(notKept).not.toHaveProperty('body');
    expect(notKept.bodySha256).not.toBe(kept.bodySha256);
  });

  test('a client abort mid-stream sets clientClosedAt and the token writes stop', async () => {
    const m = marker();
    const controller = new AbortController();
    const stream = sdkFor(sim.url).messages.stream(
      {
        model: 'claude-sim',
        max_tokens: 5000,
        messages: userTurn(`${m} go slowly [[sim tokens=2000 ttft=0 tps=100]]`),
      },
      { signal: controller.signal },
    );
    const done = stream.finalMessage().catch((e: unknown) => e);
    await sim.records.waitFor((r) => r.prompt?.includes(m) === true && r.tokensSent >= 3);
    controller.abort();
    await done;
    const id = sim.records.find((r) => r.prompt?.includes(m) === true)?.id ?? '';
    const ended = await sim.records.waitForEnd(id);
    expect(ended.outcome).toBe('client_closed');
    expect(ended.clientClosedAt).not.toBeNull();
    expect(ended.completedAt).toBeNull();
    const sentAtClose = ended.tokensSent;
    expect(sentAtClose).toBeLessThan(2000);
    // Several token intervals later nothing more has been written.
    await sleep(100);
    expect(sim.records.get(id)?.tokensSent).toBe(sentAtClose);
  });

  test('GET /_sim/requests lists records (filtered by prompt_contains), GET by id, DELETE clears', async () => {
    const m = marker();
    const res = await postMessages(sim, {
      model: 'claude-sim',
      max_tokens: 5,
      messages: userTurn(`${m} listed`),
    });
    await res.text();
    const listed = (await (
      await fetch(`${sim.url}/_sim/requests?prompt_contains=${m}`)
    ).json()) as RequestRecord[];
    expect(listed).toHaveLength(1);
    expect(listed[0]?.id).toBe(res.headers.get('request-id'));
    const one = await fetch(`${sim.url}/_sim/requests/${listed[0]?.id}`);
    expect(((await one.json()) as RequestRecord).prompt).toBe(`${m} listed`);
    expect((await fetch(`${sim.url}/_sim/requests/req_sim_nope`)).status).toBe(404);
    const cleared = (await (await fetch(`${sim.url}/_sim/requests`, { method: 'DELETE' })).json()) as {
      cleared: number;
    };
    expect(cleared.cleared).toBeGreaterThanOrEqual(1);
    expect(await (await fetch(`${sim.url}/_sim/requests`)).json()).toEqual([]);
    expect(sim.records.all()).toHaveLength(0);
  });

  test('introspection routes are not recorded themselves', async () => {
    sim.records.clear();
    await (await fetch(`${sim.url}/health`)).text();
    await (await fetch(`${sim.url}/_sim/requests`)).text();
    expect(sim.records.all()).toHaveLength(0);
  });

  test('waitFor resolves for a future record and rejects after its timeout', async () => {
    const m = marker();
    const waiting = sim.records.waitFor((r) => r.prompt?.includes(m) === true);
    await (await postMessages(sim, { model: 'claude-sim', max_tokens: 5, messages: userTurn(m) })).text();
    expect((await waiting).prompt).toBe(m);
    await expect(sim.records.waitFor(() => false, 20)).rejects.toThrow(/within 20 ms/);
  });

  test('the store keeps only the most recent records', () => {
    const store = new RecordStore(3);
    for (let i = 0; i < 5; i++)
      store.create({ id: `r${i}`, method: 'POST', path: '/v1/messages', auth: 'none', anthropicBeta: null });
    expect(store.all().map((r) => r.id)).toEqual(['r2', 'r3', 'r4']);
    expect(store.get('r0')).toBeUndefined();
  });
});

describe('close()', () => {
  test('leaves no active handles behind, even with a stalled stream open', async () => {
    const before = process.getActiveResourcesInfo();
    const own = await startFastSim();
    const client = sdkFor(own.url);
    await client.messages.create({ model: 'claude-sim', max_tokens: 5, messages: userTurn('one') });
    await client.messages
      .stream({ model: 'claude-sim', max_tokens: 5, messages: userTurn('two') })
      .finalMessage();
    const stalled = client.messages
      .stream({ model: 'claude-sim', max_tokens: 50, messages: userTurn('three [[sim stall_after=1]]') })
      .finalMessage()
      .catch((e: unknown) => e);
    const slow = client.messages
      .stream({ model: 'claude-sim', max_tokens: 50, messages: userTurn('four [[sim ttft=60000]]') })
      .finalMessage()
      .catch((e: unknown) => e);
    await own.records.waitFor((r) => r.outcome === 'stalled');
    await own.records.waitFor((r) => r.prompt?.startsWith('four') === true && r.headersSentAt !== null);
    const pending = own.records.waitFor(() => false, 60_000).catch((e: unknown) => e);
    await own.close();
    expect(await stalled).toBeInstanceOf(Error);
    expect(await slow).toBeInstanceOf(Error);
    expect(await pending).toBeInstanceOf(Error);
    // Client sockets notice the server's close asynchronously: poll, bounded.
    const excess = () => {
      const left = [...before];
      return process.getActiveResourcesInfo().filter((type) => {
        const i = left.indexOf(type);
        if (i < 0) return true;
        left.splice(i, 1);
        return false;
      });
    };
    for (let i = 0; i < 100 && excess().length > 0; i++) await sleep(20);
    expect(excess()).toEqual([]);
    await own.close(); // idempotent
  });
});
