/**
 * Several relay instances on one real redis-server: any instance serves any stream. Two relays run
 * in this process (each with its own simulated upstream); the instance-death test runs the
 * generating relay as a child process (the built CLI) and SIGKILLs it.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { RelayServer } from '../src/server.js';
import { requireComponent } from './helpers/components.js';
import { type RedisServer, startRedisServer } from './helpers/redis-server.js';
import { startTestRelay } from './helpers/relay.js';
import { readSse, type SseFrame, streamSse } from './helpers/sse.js';

const REDIS = requireComponent('redis');
const ROOT = new URL('..', import.meta.url).pathname;

interface Ev {
  type: string;
  seq: number;
  code?: string;
  reason?: string;
  stream_id?: string;
  usage?: { estimated: boolean; output_tokens: number };
}

const events = (frames: SseFrame[]): Ev[] =>
  frames.filter((f) => f.event !== undefined).map((f) => JSON.parse(f.data) as Ev);
const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function post(url: string, body: unknown, accept = 'text/event-stream'): Promise<Response> {
  return fetch(`${url}/v1/streams`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept },
    body: JSON.stringify(body),
  });
}

/** Reads an SSE response until `stop` says so (the connection is then dropped) or it ends. */
async function readUntil(res: Response, stop: (e: Ev) => boolean): Promise<Ev[]> {
  const got: Ev[] = [];
  await streamSse(res, (frame) => {
    if (frame.event === undefined) return undefined;
    const e = JSON.parse(frame.data) as Ev;
    got.push(e);
    return stop(e);
  });
  return got;
}

async function state(url: string, id: string): Promise<{ state: string; usage: { estimated: boolean } }> {
  const res = await fetch(`${url}/v1/streams/${id}`);
  return (await res.json()) as { state: string; usage: { estimated: boolean } };
}

describe.skipIf(!REDIS)('several instances on one Redis', () => {
  let redis: RedisServer;
  let a: RelayServer;
  let b: RelayServer;
  // A lease long enough that a loaded machine never takes a live instance for dead.
  const settings = { redisLeaseMs: 3000, graceMs: 600, retentionMs: 60_000 };

  beforeAll(async () => {
    redis = await startRedisServer(REDIS!);
    a = await startTestRelay({ redisUrl: redis.url, ...settings });
    b = await startTestRelay({ redisUrl: redis.url, ...settings });
  }, 30_000);

  afterAll(async () => {
    await Promise.allSettled([a?.close(), b?.close()]);
    await redis?.stop();
  });

  it('a stream started on one instance resumes on the other from random drop points, each event once', async () => {
    for (let round = 0; round < 5; round++) {
      const dropAt = 1 + Math.floor(Math.random() * 40);
      const res = await post(a.url, { message: `round ${round} [[sim tokens=40 tps=400]]` });
      const id = res.headers.get('x-stream-id')!;
      const first = await readUntil(res, (e) => e.seq >= dropAt);
      const resumed = await fetch(`${b.url}/v1/streams/${id}/events`, {
        headers: { 'last-event-id': String(first.at(-1)!.seq) },
      });
      expect(resumed.status).toBe(200);
      const rest = events((await readSse(resumed)).frames);
      const all = [...first, ...rest];
      expect(all.map((e) => e.seq)).toEqual(range(1, all.length));
      expect(all.at(-1)?.type).toBe('done');
    }
  });

  it('cancel on the other instance ends the stream where it runs and answers the cancelled state', async () => {
    const res = await post(a.url, { message: 'long [[sim tokens=5000 tps=50]]' });
    const id = res.headers.get('x-stream-id')!;
    const reading = readUntil(res, () => false);
    await until(async () => (await state(b.url, id)).state === 'running', 5000, 'the stream on B');
    const cancel = await fetch(`${b.url}/v1/streams/${id}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(200);
    expect(await cancel.json()).toMatchObject({
      stream_id: id,
      state: 'cancelled',
      usage: { estimated: true },
    });
    const got = await reading;
    expect(got.filter((e) => e.type === 'cancelled')).toEqual([
      expect.objectContaining({ reason: 'client' }),
    ]);
    // The generating instance stopped its upstream: nothing runs there any more.
    await until(() => a.registry.running === 0, 5000, 'the generation on A to end');
  });

  it('a WebSocket cancel on the other instance gets the cancelled event even without reading the stream', async () => {
    const created = await post(a.url, { message: 'long [[sim tokens=5000 tps=50]]' }, 'application/json');
    const { stream_id: id } = (await created.json()) as { stream_id: string };
    const ws = new WebSocket(`${b.url.replace('http', 'ws')}/v1/ws`);
    const got: Ev[] = [];
    ws.on('message', (data) => got.push(JSON.parse(String(data)) as Ev));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    try {
      ws.send(JSON.stringify({ type: 'cancel', stream_id: id }));
      await until(() => got.length > 0, 10_000, 'the answer to the cancel');
      expect(got[0]).toMatchObject({ type: 'cancelled', reason: 'client', stream_id: id });
      expect((await state(a.url, id)).state).toBe('cancelled');
    } finally {
      ws.close();
    }
  });

  it('a reader on the other instance keeps a grace stream alive; when it leaves, the grace runs out', async () => {
    const created = await post(a.url, { message: 'grace [[sim tokens=5000 tps=20]]' }, 'application/json');
    const { stream_id: id } = (await created.json()) as { stream_id: string };
    const controller = new AbortController();
    const reader = await fetch(`${b.url}/v1/streams/${id}/events`, { signal: controller.signal });
    const reading = readUntil(reader, () => false).catch(() => []);
    // Three grace periods with only B's reader: the stream must still be running on A.
    await new Promise((resolve) => setTimeout(resolve, 3 * settings.graceMs));
    expect((await state(a.url, id)).state).toBe('running');
    controller.abort();
    await reading;
    await until(
      async () => (await state(a.url, id)).state === 'cancelled',
      10_000,
      'the grace period to end it',
    );
    const after = await fetch(`${b.url}/v1/streams/${id}/events?after=0`);
    const last = events((await readSse(after)).frames).at(-1);
    expect(last).toMatchObject({ type: 'cancelled', reason: 'disconnect' });
  });

  it('a conversation begun on one instance continues on the other', async () => {
    const first = await post(a.url, {
      message: 'hello [[sim tokens=3]]',
      conversation_id: 'shared-conversation-0123456789',
    });
    expect(events((await readSse(first)).frames).at(-1)?.type).toBe('done');
    // The reply was kept before its `done` was appended: the other instance takes the next turn at once.
    const second = await post(b.url, {
      message: 'again [[sim tokens=3]]',
      conversation_id: 'shared-conversation-0123456789',
    });
    expect(second.status).toBe(200);
    expect(events((await readSse(second)).frames).at(-1)?.type).toBe('done');
    const kept = (await (await fetch(`${a.url}/v1/conversations/shared-conversation-0123456789`)).json()) as {
      messages: { role: string }[];
    };
    expect(kept.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
  });

  it('twenty turns alternating instances, each sent the moment done is read, never get conflict', async () => {
    const id = 'next-turn-conversation-0123456789';
    const statuses: number[] = [];
    for (let turn = 0; turn < 20; turn++) {
      const relay = turn % 2 === 0 ? a : b;
      const res = await post(relay.url, { message: `turn ${turn} [[sim tokens=2]]`, conversation_id: id });
      statuses.push(res.status);
      if (res.status !== 200) break;
      // readUntil stops at `done` and drops the connection: the next turn goes out at once.
      const got = await readUntil(res, (e) => e.type === 'done');
      expect(got.at(-1)?.type).toBe('done');
    }
    expect(statuses).toEqual(Array(20).fill(200));
    const kept = (await (await fetch(`${b.url}/v1/conversations/${id}`)).json()) as {
      messages: unknown[];
      streaming: boolean;
    };
    expect(kept.messages).toHaveLength(40);
    expect(kept.streaming).toBe(false);
  });

  it('a stream id of the wrong shape or another client is not_found on every instance', async () => {
    for (const relay of [a, b]) {
      for (const id of ['nope', 'str_{x}:meta', `str_${'A'.repeat(22)}`]) {
        const res = await fetch(`${relay.url}/v1/streams/${encodeURIComponent(id)}`);
        expect(res.status).toBe(404);
      }
    }
  });

  it('leaves no stream keys or local copies behind after many streams', async () => {
    // Retention long enough for a loaded machine to resume each stream, short enough to watch it expire.
    const short = await startTestRelay({ redisUrl: redis.url, ...settings, retentionMs: 3000 });
    const other = await startTestRelay({ redisUrl: redis.url, ...settings, retentionMs: 3000 });
    const ids: string[] = [];
    try {
      for (let batch = 0; batch < 5; batch++) {
        await Promise.all(
          range(1, 40).map(async (i) => {
            const res = await post(short.url, { message: `many ${batch}-${i} [[sim tokens=3]]` });
            const id = res.headers.get('x-stream-id')!;
            ids.push(id);
            const body = await res.text();
            expect({ status: res.status, body }).toMatchObject({
              status: 200,
              body: expect.stringContaining('event: done'),
            });
            const again = await fetch(`${other.url}/v1/streams/${id}/events?after=2`);
            const rest = await again.text();
            expect({ status: again.status, rest }).toMatchObject({
              status: 200,
              rest: expect.stringMatching(/id: 3\n[\s\S]*event: done/),
            });
          }),
        );
      }
      await until(() => short.registry.size === 0 && other.registry.size === 0, 20_000, 'local copies to go');
      const { RedisConnection } = await import('../src/redis/connection.js');
      const probe = new RedisConnection({ url: redis.url });
      await probe.connect();
      try {
        // This test's streams only (other tests' streams here keep a 60 s retention).
        const keys = ids.flatMap((id) => [
          `relay:{${id}}:log`,
          `relay:{${id}}:meta`,
          `relay:{${id}}:readers`,
        ]);
        let left = keys.length;
        await until(
          async () => {
            left = Number(await probe.call(['EXISTS', ...keys]));
            return left === 0;
          },
          20_000,
          'every stream key to expire',
        ).catch((err) => {
          throw new Error(`${(err as Error).message}; ${left} of ${keys.length} keys left`);
        });
      } finally {
        await probe.close();
      }
    } finally {
      await Promise.all([short.close(), other.close()]);
    }
  }, 120_000);
});

describe.skipIf(!REDIS)('an instance that dies', () => {
  let redis: RedisServer;
  let survivor: RelayServer;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    // bin/relay.js runs dist/; tsc emits even when another engineer's file fails the type check.
    await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT }).catch(() => {});
    redis = await startRedisServer(REDIS!);
    survivor = await startTestRelay({ redisUrl: redis.url, redisLeaseMs: 2000 });
  }, 120_000);

  afterAll(async () => {
    child?.kill('SIGKILL');
    await survivor?.close();
    await redis?.stop();
  });

  it('SIGKILL of the generating instance: a survivor ends its stream with instance_lost, once', async () => {
    const proc = spawn(process.execPath, ['bin/relay.js', 'serve', '--port', '0'], {
      cwd: ROOT,
      env: {
        ...process.env,
        ANTHROPIC_API_KEY: '',
        REDIS_URL: redis.url,
        RELAY_REDIS_LEASE_MS: '2000',
        RELAY_LOG_LEVEL: 'silent',
        RELAY_SIM_FIRST_TOKEN_MS: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let out = '';
    proc.stdout!.on('data', (chunk) => {
      out += String(chunk);
    });
    await until(() => /listening on (http\S+)/.test(out), 20_000, 'the child relay to listen');
    const url = /listening on (http\S+)/.exec(out)![1]!;
    const created = await post(url, { message: 'dies [[sim tokens=5000 tps=50]]' }, 'application/json');
    const { stream_id: id } = (await created.json()) as { stream_id: string };
    const reader = await fetch(`${survivor.url}/v1/streams/${id}/events`);
    const got: Ev[] = [];
    const reading = streamSse(reader, (frame) => {
      if (frame.event !== undefined) got.push(JSON.parse(frame.data) as Ev);
      return undefined;
    });
    await until(() => got.some((e) => e.type === 'text'), 10_000, 'text through the survivor');
    proc.kill('SIGKILL');
    await reading;
    const terminals = got.filter((e) => ['done', 'error', 'cancelled'].includes(e.type));
    expect(terminals).toEqual([
      expect.objectContaining({ type: 'error', code: 'instance_lost', retryable: true }),
    ]);
    expect(terminals[0]?.usage?.estimated).toBe(true);
    expect(got.map((e) => e.seq)).toEqual(range(1, got.length));
  }, 60_000);
});

describe.skipIf(!REDIS)('Redis going away and coming back', () => {
  let redis: RedisServer;
  let a: RelayServer;
  let b: RelayServer;

  beforeAll(async () => {
    redis = await startRedisServer(REDIS!);
    a = await startTestRelay({ redisUrl: redis.url, redisLeaseMs: 3000 });
    b = await startTestRelay({ redisUrl: redis.url, redisLeaseMs: 3000 });
  }, 30_000);

  afterAll(async () => {
    await Promise.allSettled([a?.close(), b?.close()]);
    await redis?.stop();
  });

  it('a relay started while Redis is down answers 503 and serves once Redis comes up, without a restart', async () => {
    await redis.stop();
    const late = await startTestRelay({ redisUrl: redis.url, redisLeaseMs: 3000 });
    try {
      expect((await fetch(`${late.url}/ready`)).status).toBe(503);
      const refused = await post(late.url, { message: 'too early' });
      expect(refused.status).toBe(503);
      expect(await refused.json()).toMatchObject({ error: { code: 'store_unavailable' } });
      await redis.restart();
      await until(async () => (await fetch(`${late.url}/ready`)).status === 200, 20_000, '/ready to recover');
      const res = await post(late.url, { message: 'now [[sim tokens=3]]' });
      const id = res.headers.get('x-stream-id')!;
      expect(events((await readSse(res)).frames).at(-1)?.type).toBe('done');
      // Its control channel works too: another instance can read and cancel what it generates.
      await until(async () => (await fetch(`${a.url}/ready`)).status === 200, 20_000, 'A to recover');
      const long = await post(late.url, { message: 'long [[sim tokens=5000 tps=20]]' }, 'application/json');
      const { stream_id: longId } = (await long.json()) as { stream_id: string };
      const cancel = await fetch(`${a.url}/v1/streams/${longId}/cancel`, { method: 'POST' });
      expect(await cancel.json()).toMatchObject({ state: 'cancelled' });
      expect((await fetch(`${a.url}/v1/streams/${id}`)).status).toBe(200);
    } finally {
      await late.close();
    }
  }, 60_000);

  it('running streams end once for every reader, /ready and new streams say 503, and it recovers', async () => {
    const res = await post(a.url, { message: 'outage [[sim tokens=5000 tps=50]]' });
    const id = res.headers.get('x-stream-id')!;
    const onA = readUntil(res, () => false);
    const remote = await fetch(`${b.url}/v1/streams/${id}/events`);
    const onB = readUntil(remote, () => false);
    await until(async () => (await fetch(`${a.url}/ready`)).status === 200, 5000, 'ready');

    await redis.stop();
    const [gotA, gotB] = await Promise.all([onA, onB]);
    for (const got of [gotA, gotB]) {
      const terminals = got.filter((e) => ['done', 'error', 'cancelled'].includes(e.type));
      expect(terminals).toEqual([expect.objectContaining({ type: 'error', code: 'store_unavailable' })]);
    }
    await until(async () => (await fetch(`${a.url}/ready`)).status === 503, 10_000, '/ready to say 503');
    const refused = await post(b.url, { message: 'refused' });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: { code: 'store_unavailable' } });

    await redis.restart();
    await until(async () => (await fetch(`${a.url}/ready`)).status === 200, 20_000, '/ready to recover');
    await until(async () => (await fetch(`${b.url}/ready`)).status === 200, 20_000, '/ready to recover on B');
    const again = await post(a.url, { message: 'back [[sim tokens=5]]' });
    expect(again.status).toBe(200);
    const againId = again.headers.get('x-stream-id')!;
    expect(events((await readSse(again)).frames).at(-1)?.type).toBe('done');
    const resumed = await fetch(`${b.url}/v1/streams/${againId}/events?after=3`);
    expect(events((await readSse(resumed)).frames).map((e) => e.seq)).toEqual([4, 5, 6, 7]);
  }, 60_000);
});
