import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer } from '../src/server.js';
import { startTestRelay } from './helpers/relay.js';
import { readSse, relayEvents, streamSse } from './helpers/sse.js';
import { isEvent, range, WsClient, type WsMsg, wsUrl } from './helpers/ws.js';

let relay: RelayServer;
beforeAll(async () => {
  relay = await startTestRelay({ graceMs: 10_000 });
});
afterAll(async () => {
  await relay.close();
});

let n = 0;
function prompt(directives: string): string {
  return `ws resume test ${++n} ${process.pid} [[sim ${directives}]]`;
}

/** The whole log of a stream, read over SSE once it has ended. */
async function fullLog(id: string): Promise<Record<string, unknown>[]> {
  return relayEvents((await readSse(await fetch(`${relay.url}/v1/streams/${id}/events?after=0`))).frames);
}

/** Events as the log has them: the WebSocket's `stream_id`/`ref` envelope removed. */
function bare(events: WsMsg[]): Record<string, unknown>[] {
  return events.map(({ stream_id: _id, ref: _ref, ...rest }) =>
    rest.type === 'start' ? { ...rest, stream_id: _id } : rest,
  );
}

/** Starts a paced stream on a first socket, drops the socket after at least `k` events; answers what it saw. */
async function startAndDrop(k: number): Promise<{ id: string; seen: WsMsg[] }> {
  const first = await WsClient.open(wsUrl(relay.url));
  const id = await first.start({ message: prompt('tokens=100 tps=200') });
  await first.waitFor((m) => m.stream_id === id && m.seq === k);
  await first.close();
  const seen = first.eventsOf(id);
  expect(seen.at(-1)?.type).toBe('text'); // still running when dropped
  return { id, seen };
}

describe('resume', () => {
  it('on a new connection continues after the last seq seen, with nothing lost or repeated', async () => {
    const { id, seen } = await startAndDrop(5);
    const after = seen.at(-1)!.seq!;
    const second = await WsClient.open(wsUrl(relay.url));
    try {
      second.send({ type: 'resume', stream_id: id, after });
      const rest = await second.untilTerminal(id);
      expect(rest[0]?.seq).toBe(after + 1);
      const all = [...seen, ...rest];
      expect(all.map((e) => e.seq)).toEqual(range(1, all.length));
      expect(all.at(-1)?.type).toBe('done');
      expect(bare(all)).toEqual(await fullLog(id));
    } finally {
      await second.close();
    }
  });

  it('from SSE to WebSocket: a stream started over SSE resumes over WebSocket exactly', async () => {
    const res = await fetch(`${relay.url}/v1/streams`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: prompt('tokens=40 tps=200') }),
    });
    const id = res.headers.get('x-stream-id')!;
    const seen: Record<string, unknown>[] = [];
    await streamSse(res, (frame) => {
      if (frame.event !== undefined) seen.push(JSON.parse(frame.data));
      return seen.length >= 4;
    });
    const client = await WsClient.open(wsUrl(relay.url));
    try {
      client.send({ type: 'resume', stream_id: id, after: 4 });
      const rest = bare(await client.untilTerminal(id));
      const all = [...seen, ...rest];
      expect(all.map((e) => e.seq)).toEqual(range(1, all.length));
      expect(all).toEqual(await fullLog(id));
    } finally {
      await client.close();
    }
  });

  it('from WebSocket to SSE: GET /v1/streams/:id/events?after=N continues a WebSocket stream exactly', async () => {
    const { id, seen } = await startAndDrop(6);
    const after = seen.at(-1)!.seq!;
    const rest = relayEvents(
      (await readSse(await fetch(`${relay.url}/v1/streams/${id}/events?after=${after}`))).frames,
    );
    const all = [...bare(seen), ...rest];
    expect(all.map((e) => e.seq)).toEqual(range(1, all.length));
    expect(all.at(-1)?.type).toBe('done');
    expect(all).toEqual(await fullLog(id));
  });

  it('on the same connection replaces its cursor without starting the disconnect policy', async () => {
    const client = await WsClient.open(wsUrl(relay.url));
    try {
      const id = await client.start({ message: prompt('tokens=40 tps=200'), on_disconnect: 'abort' });
      await client.waitFor((m) => m.stream_id === id && m.seq === 5);
      const mark = client.messages.length;
      client.send({ type: 'resume', stream_id: id, after: 2 });
      await client.untilTerminal(id);
      const afterResume = client.messages.slice(mark).filter((m) => m.stream_id === id && isEvent(m));
      // Whatever the old cursor sent before the resume was read, the new one starts at 3 and runs on.
      const from = afterResume.findIndex((m) => m.seq === 3);
      expect(from).toBeGreaterThanOrEqual(0);
      const tail = afterResume.slice(from);
      expect(tail.map((e) => e.seq)).toEqual(range(3, 2 + tail.length));
      expect(tail.at(-1)?.type).toBe('done');
      expect(client.eventsOf(id).filter((m) => m.type === 'done')).toHaveLength(1);
    } finally {
      await client.close();
    }
  });

  it('two connections on one stream each get every event', async () => {
    const a = await WsClient.open(wsUrl(relay.url));
    const b = await WsClient.open(wsUrl(relay.url));
    try {
      const id = await a.start({ message: prompt('tokens=30 tps=300') });
      b.send({ type: 'resume', stream_id: id, after: 0 });
      const [ea, eb] = await Promise.all([a.untilTerminal(id), b.untilTerminal(id)]);
      expect(ea.map((e) => e.seq)).toEqual(range(1, ea.length));
      expect(bare(eb)).toEqual(bare(ea.map(({ ref: _ref, ...e }) => e as WsMsg)));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('of a finished stream replays it from any point, and sends nothing after its terminal', async () => {
    const client = await WsClient.open(wsUrl(relay.url));
    try {
      const id = await client.start({ message: prompt('tokens=8') });
      const all = await client.untilTerminal(id);
      const other = await WsClient.open(wsUrl(relay.url));
      try {
        other.send({ type: 'resume', stream_id: id, after: 3 });
        const tail = await other.untilTerminal(id);
        expect(bare(tail)).toEqual(bare(all.slice(3)));
        other.send({ type: 'resume', stream_id: id, after: all.length });
        other.send({ type: 'ping', t: 1 });
        await other.waitFor((m) => m.type === 'pong');
        expect(other.messages.filter((m) => m.stream_id === id)).toHaveLength(tail.length);
      } finally {
        await other.close();
      }
    } finally {
      await client.close();
    }
  });

  it('answers not_found for an unknown id and invalid_request beyond the last seq; the socket stays open', async () => {
    const client = await WsClient.open(wsUrl(relay.url));
    try {
      client.send({ type: 'resume', stream_id: 'str_nope', after: 0 });
      expect(await client.waitFor((m) => m.type === 'error')).toMatchObject({
        code: 'not_found',
        stream_id: 'str_nope',
      });
      const id = await client.start({ message: prompt('tokens=2') });
      const last = (await client.untilTerminal(id)).length;
      client.send({ type: 'resume', stream_id: id, after: last + 5 });
      expect(
        await client.waitFor((m) => m.type === 'error' && m.stream_id === id && !isEvent(m)),
      ).toMatchObject({
        code: 'invalid_request',
        message: expect.stringContaining(`last seq ${last}`),
      });
    } finally {
      await client.close();
    }
  });
});

describe('resume past the bounded log', () => {
  it('answers replay_unavailable with the stream id, and a later point still resumes', async () => {
    const small = await startTestRelay({ logMaxEvents: 5 });
    const client = await WsClient.open(wsUrl(small.url));
    try {
      // Attached from the start, so this cursor keeps up and sees everything.
      const id = await client.start({ message: prompt('tokens=30') });
      const all = await client.untilTerminal(id);
      const other = await WsClient.open(wsUrl(small.url));
      try {
        other.send({ type: 'resume', stream_id: id, after: 0 });
        const error = await other.waitFor((m) => m.type === 'error');
        expect(error).toMatchObject({ code: 'replay_unavailable', stream_id: id, retryable: false });
        expect(isEvent(error)).toBe(false);
        other.send({ type: 'resume', stream_id: id, after: all.length - 2 });
        const tail = await other.untilTerminal(id);
        expect(tail.map((e) => e.seq)).toEqual([all.length - 1, all.length]);
      } finally {
        await other.close();
      }
    } finally {
      await client.close();
      await small.close();
    }
  });
});
