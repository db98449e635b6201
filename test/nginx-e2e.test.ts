/**
 * End to end behind a real load balancer: two relay processes (the built CLI) on one real
 * redis-server, behind nginx running deploy/nginx.conf (the same file docker-compose uses, filled
 * in only with ports), round-robin. nginx alternates instances request by request, so of two
 * consecutive requests one always lands on each instance.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { requireComponent } from './helpers/components.js';
import { freePort, type RedisServer, startRedisServer } from './helpers/redis-server.js';
import { readSse, type SseFrame, streamSse } from './helpers/sse.js';

const REDIS = requireComponent('redis');
const NGINX = requireComponent('nginx');
const ROOT = new URL('..', import.meta.url).pathname;

interface Ev {
  type: string;
  seq: number;
  code?: string;
  reason?: string;
  stream_id?: string;
}

const events = (frames: SseFrame[]): Ev[] =>
  frames.filter((f) => f.event !== undefined).map((f) => JSON.parse(f.data) as Ev);
const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

interface Relay {
  readonly url: string;
  readonly child: ChildProcess;
}

async function startRelayProcess(redisUrl: string): Promise<Relay> {
  const port = await freePort();
  const child = spawn(process.execPath, ['bin/relay.js', 'serve', '--port', String(port)], {
    cwd: ROOT,
    env: {
      ...process.env,
      ANTHROPIC_API_KEY: '',
      REDIS_URL: redisUrl,
      RELAY_REDIS_LEASE_MS: '2000',
      RELAY_LOG_LEVEL: 'silent',
      RELAY_SIM_FIRST_TOKEN_MS: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (chunk) => {
    out += String(chunk);
  });
  await until(() => out.includes('listening on'), 20_000, 'a relay process to listen');
  return { url: `http://127.0.0.1:${port}`, child };
}

async function stopProcess(
  child: ChildProcess | undefined,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(force);
}

async function openSocket(base: string): Promise<{ ws: WebSocket; got: Ev[] }> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/ws`);
  const got: Ev[] = [];
  ws.on('message', (data) => got.push(JSON.parse(String(data)) as Ev));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { ws, got };
}

/** Streams generated (and still running) on this relay, from its own /metrics. */
async function runningOn(relay: Relay): Promise<number> {
  const text = await (await fetch(`${relay.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('relay_streams_running '));
  return Number(line?.split(' ')[1] ?? Number.NaN);
}

describe.skipIf(!REDIS || !NGINX)(
  'behind nginx (deploy/nginx.conf), two relay processes on one Redis',
  () => {
    let redis: RedisServer;
    let relays: Relay[] = [];
    let nginx: ChildProcess | undefined;
    let lb: string;
    let prefix: string;

    beforeAll(async () => {
      await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT }).catch(() => {});
      redis = await startRedisServer(REDIS!);
      relays = await Promise.all([startRelayProcess(redis.url), startRelayProcess(redis.url)]);
      const port = await freePort();
      lb = `http://127.0.0.1:${port}`;
      prefix = mkdtempSync(join(tmpdir(), 'relay-nginx-'));
      mkdirSync(join(prefix, 'tmp'));
      const template = readFileSync(join(ROOT, 'deploy', 'nginx.conf'), 'utf8');
      // The same variables the nginx image's envsubst fills in (deploy/docker-compose.yml).
      const values: Record<string, string> = {
        LISTEN_PORT: `127.0.0.1:${port}`,
        RELAY_1: new URL(relays[0]!.url).host,
        RELAY_2: new URL(relays[1]!.url).host,
      };
      const conf = template.replace(
        /\$\{(LISTEN_PORT|RELAY_1|RELAY_2)\}/g,
        (_, name: string) => values[name]!,
      );
      writeFileSync(join(prefix, 'nginx.conf'), conf);
      nginx = spawn(
        NGINX!,
        ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off;'],
        {
          stdio: ['ignore', 'ignore', 'inherit'],
        },
      );
      await until(
        async () => (await fetch(`${lb}/health`).catch(() => undefined))?.status === 200,
        10_000,
        'nginx to answer',
      );
    }, 120_000);

    afterAll(async () => {
      await stopProcess(nginx, 'SIGQUIT');
      await Promise.all(relays.map((r) => stopProcess(r.child)));
      await redis?.stop();
      if (prefix) rmSync(prefix, { recursive: true, force: true });
    });

    it('an SSE stream started through nginx resumes through nginx on the other instance', async () => {
      const res = await fetch(`${lb}/v1/streams`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'resume [[sim tokens=30 tps=300]]' }),
      });
      const id = res.headers.get('x-stream-id')!;
      const first: Ev[] = [];
      await streamSse(res, (frame) => {
        if (frame.event !== undefined) first.push(JSON.parse(frame.data) as Ev);
        return first.length >= 7;
      });
      // Two resumes in a row: round-robin sends one of them to each instance.
      for (let i = 0; i < 2; i++) {
        const resumed = await fetch(`${lb}/v1/streams/${id}/events`, { headers: { 'last-event-id': '7' } });
        expect(resumed.status).toBe(200);
        const rest = events((await readSse(resumed)).frames);
        expect([...first, ...rest].map((e) => e.seq)).toEqual(range(1, 7 + rest.length));
        expect(rest.at(-1)?.type).toBe('done');
      }
    });

    it('a page served through nginx may POST to its own origin (Host keeps the port)', async () => {
      // Browsers send Origin on every POST; the relay compares it with Host, which nginx must pass as is.
      const res = await fetch(`${lb}/v1/streams`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', origin: lb },
        body: JSON.stringify({ message: 'same origin [[sim tokens=3]]' }),
      });
      expect(res.status).toBe(201);
    });

    it('SSE is not buffered: the first token arrives while the stream is still being written', async () => {
      const res = await fetch(`${lb}/v1/streams`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'unbuffered [[sim tokens=60 tps=20]]' }),
      });
      const id = res.headers.get('x-stream-id')!;
      await streamSse(res, (frame) => (frame.event === 'text' ? true : undefined));
      // 60 tokens at 20 a second: had nginx held the response back, the stream would be over by now.
      const snapshot = (await (await fetch(`${lb}/v1/streams/${id}`)).json()) as { state: string };
      expect(snapshot.state).toBe('running');
      await fetch(`${lb}/v1/streams/${id}/cancel`, { method: 'POST' });
    });

    it('a WebSocket through nginx (upgrade) cancels a stream running on the other instance', async () => {
      // Four requests in a row alternate X, Y, X, Y: socket 1 and stream 1 share an instance, socket 2
      // and stream 2 the other. Each socket cancels the stream of the other instance.
      const sockets = [await openSocket(lb), await openSocket(lb)];
      try {
        const ids: string[] = [];
        for (let i = 0; i < 2; i++) {
          const created = await fetch(`${lb}/v1/streams`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'application/json' },
            body: JSON.stringify({ message: `ws cancel ${i} [[sim tokens=5000 tps=20]]` }),
          });
          ids.push(((await created.json()) as { stream_id: string }).stream_id);
        }
        sockets[1]!.ws.send(JSON.stringify({ type: 'cancel', stream_id: ids[0] }));
        sockets[0]!.ws.send(JSON.stringify({ type: 'cancel', stream_id: ids[1] }));
        for (const [i, socket] of [sockets[1]!, sockets[0]!].entries()) {
          await until(() => socket.got.length > 0, 10_000, 'the answer to the cancel');
          expect(socket.got[0]).toMatchObject({ type: 'cancelled', reason: 'client', stream_id: ids[i] });
        }
        await until(
          async () => (await runningOn(relays[0]!)) + (await runningOn(relays[1]!)) === 0,
          5000,
          'no generation left',
        );
      } finally {
        for (const socket of sockets) socket.ws.close();
      }
    });

    it('killing the generating instance mid-stream gives instance_lost through nginx', async () => {
      const created = await fetch(`${lb}/v1/streams`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ message: 'kill [[sim tokens=5000 tps=20]]' }),
      });
      const { stream_id: id } = (await created.json()) as { stream_id: string };
      const reader = await fetch(`${lb}/v1/streams/${id}/events`);
      const got: Ev[] = [];
      const reading = streamSse(reader, (frame) => {
        if (frame.event !== undefined) got.push(JSON.parse(frame.data) as Ev);
        return undefined;
      });
      await until(() => got.some((e) => e.type === 'text'), 10_000, 'text through nginx');
      const counts = await Promise.all(relays.map(runningOn));
      const victim = relays[counts.indexOf(1)]!;
      const survivorUrl = relays.find((r) => r !== victim)!.url;
      await stopProcess(victim.child, 'SIGKILL');
      // The reader may have been on the dead instance: resume through nginx, which now reaches the survivor.
      await reading.catch(() => {});
      const last = got.at(-1);
      if (last === undefined || !['error', 'done', 'cancelled'].includes(last.type)) {
        const resumed = await fetch(`${lb}/v1/streams/${id}/events`, {
          headers: { 'last-event-id': String(last?.seq ?? 0) },
        });
        got.push(...events((await readSse(resumed)).frames));
      }
      const terminals = got.filter((e) => ['done', 'error', 'cancelled'].includes(e.type));
      expect(terminals).toEqual([expect.objectContaining({ type: 'error', code: 'instance_lost' })]);
      expect(got.map((e) => e.seq)).toEqual(range(1, got.length));
      const state = (await (await fetch(`${survivorUrl}/v1/streams/${id}`)).json()) as { state: string };
      expect(state.state).toBe('error');
    }, 60_000);
  },
);
