/**
 * CPU cost of reading an Anthropic stream through the SDK, per 1000 tokens, four ways:
 *
 * - `stream`:  `client.messages.stream()` (MessageStream: accumulates a message snapshot per event)
 * - `create`:  `client.messages.create({stream: true})` (the raw event Stream)
 * - `adapter`: the relay's AnthropicUpstream (create + mapping + deadlines + retry loop)
 * - `fetch`:   plain fetch + a minimal SSE split + JSON.parse per event: a floor for what any
 *              SDK iteration must cost (HTTP, decoding, parsing), to see what the SDK adds
 * - `http`:    the same parse over `node:http` instead of fetch: what fetch's web streams cost
 *
 * The simulated upstream runs in a child process at zero delay, so `process.cpuUsage()` here
 * counts only the client side. Modes run interleaved, round after round, and the median round is
 * reported, since a shared machine is noisy.
 *
 *   npm run build && node dist/bench/profile-sdk.js [--streams 40] [--tokens 2000] [--rounds 5] [--concurrency 4]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { parseArgs } from 'node:util';
import Anthropic from '@anthropic-ai/sdk';
import type { UpstreamRequest } from '../src/core/request.js';
import { AnthropicUpstream } from '../src/upstream/anthropic.js';

const MODES = ['stream', 'create', 'adapter', 'fetch', 'http'] as const;
type Mode = (typeof MODES)[number];

interface Settings {
  readonly streams: number;
  readonly tokens: number;
  readonly rounds: number;
  readonly concurrency: number;
}

const MODEL = 'claude-haiku-4-5';

function settings(): Settings {
  const { values } = parseArgs({
    options: {
      streams: { type: 'string', default: '40' },
      tokens: { type: 'string', default: '2000' },
      rounds: { type: 'string', default: '5' },
      concurrency: { type: 'string', default: '4' },
    },
  });
  const int = (name: string, v: string, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`);
    return n;
  };
  return {
    streams: int('streams', values.streams, 1),
    tokens: int('tokens', values.tokens, 1),
    rounds: int('rounds', values.rounds, 1),
    concurrency: int('concurrency', values.concurrency, 1),
  };
}

/** Starts the simulator in its own process (zero delay) and resolves with its URL. */
async function startSimChild(): Promise<{ url: string; child: ChildProcess }> {
  const sim = new URL('../src/upstream/simulated/index.js', import.meta.url).href;
  const script = `
    const { startSimulatedUpstream } = await import(${JSON.stringify(sim)});
    const s = await startSimulatedUpstream({ firstTokenMs: 0, tokensPerSecond: 0 });
    process.stdout.write(s.url + '\\n');
    // Dies with the parent: its stdin closes when the parent goes away.
    process.stdin.resume();
    process.stdin.on('end', () => s.close().then(() => process.exit(0)));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  process.on('exit', () => child.kill('SIGKILL'));
  const stdout = child.stdout;
  if (stdout === null) throw new Error('simulator child has no stdout');
  let buffer = '';
  for await (const chunk of stdout) {
    buffer += String(chunk);
    const nl = buffer.indexOf('\n');
    if (nl >= 0) return { url: buffer.slice(0, nl).trim(), child };
  }
  throw new Error('simulator child exited before printing its URL');
}

/** The same request for the SDK and for the adapter (each prompt unique, as a real load would be). */
function body(tokens: number, i: number): Anthropic.MessageCreateParamsNonStreaming & UpstreamRequest {
  return {
    model: MODEL,
    max_tokens: tokens + 100,
    messages: [{ role: 'user', content: `profile ${i} [[sim tokens=${tokens}]]` }],
  };
}

/** One stream in the given mode; resolves with the text tokens seen. */
async function runOne(
  mode: Mode,
  ctx: { client: Anthropic; adapter: AnthropicUpstream; url: string },
  tokens: number,
  i: number,
): Promise<number> {
  let seen = 0;
  switch (mode) {
    case 'stream': {
      for await (const ev of ctx.client.messages.stream(body(tokens, i))) {
        if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') seen++;
      }
      return seen;
    }
    case 'create': {
      const events = await ctx.client.messages.create({ ...body(tokens, i), stream: true });
      for await (const ev of events) {
        if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') seen++;
      }
      return seen;
    }
    case 'adapter': {
      const signal = new AbortController().signal;
      for await (const ev of ctx.adapter.stream(body(tokens, i), signal)) if (ev.type === 'text') seen++;
      return seen;
    }
    case 'fetch':
      return fetchBaseline(ctx.url, tokens, i);
    case 'http':
      return httpBaseline(ctx.url, tokens, i);
  }
}

/** Counts text deltas in complete frames of `buffer`; returns the count and the unparsed rest. */
function parseFrames(buffer: string): { seen: number; rest: string } {
  let seen = 0;
  let from = 0;
  let end = buffer.indexOf('\n\n');
  while (end >= 0) {
    const data = buffer.indexOf('data: ', from);
    if (data >= 0 && data < end) {
      const ev = JSON.parse(buffer.slice(data + 6, end)) as { type: string; delta?: { type: string } };
      if (ev.type === 'content_block_delta' && ev.delta?.type === 'text_delta') seen++;
    }
    from = end + 2;
    end = buffer.indexOf('\n\n', from);
  }
  return { seen, rest: buffer.slice(from) };
}

const agent = new HttpAgent({ keepAlive: true });

/** The floor without fetch: node:http with a keep-alive agent, the same parse. */
async function httpBaseline(url: string, tokens: number, i: number): Promise<number> {
  const payload = JSON.stringify({ ...body(tokens, i), stream: true });
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpRequest(
      `${url}/v1/messages`,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          'x-api-key': 'sim-key',
          'anthropic-version': '2023-06-01',
        },
      },
      resolve,
    );
    req.on('error', reject);
    req.end(payload);
  });
  res.setEncoding('utf8');
  let buffer = '';
  let seen = 0;
  for await (const chunk of res) {
    const parsed = parseFrames(buffer + String(chunk));
    seen += parsed.seen;
    buffer = parsed.rest;
  }
  return seen;
}

/** The floor: fetch, split frames on blank lines, JSON.parse each data line. */
async function fetchBaseline(url: string, tokens: number, i: number): Promise<number> {
  const res = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-api-key': 'sim-key',
      'anthropic-version': '2023-06-01',
    },
    body: JSON.stringify({ ...body(tokens, i), stream: true }),
  });
  if (res.body === null) throw new Error('no body');
  const decoder = new TextDecoder();
  let buffer = '';
  let seen = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const parsed = parseFrames(buffer + decoder.decode(value, { stream: true }));
    seen += parsed.seen;
    buffer = parsed.rest;
  }
  return seen;
}

interface Sample {
  cpuMsPer1k: number;
  wallMs: number;
  tokens: number;
}

async function measure(
  mode: Mode,
  ctx: Parameters<typeof runOne>[1],
  s: Settings,
  round: number,
): Promise<Sample> {
  let next = 0;
  let tokens = 0;
  const worker = async (): Promise<void> => {
    while (next < s.streams) {
      const i = next++;
      tokens += await runOne(mode, ctx, s.tokens, round * 1_000_000 + i);
    }
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(s.concurrency, s.streams) }, worker));
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return { cpuMsPer1k: (cpuMs / tokens) * 1000, wallMs, tokens };
}

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

async function main(): Promise<void> {
  const s = settings();
  const { url, child } = await startSimChild();
  const client = new Anthropic({ apiKey: 'sim-key', baseURL: url, maxRetries: 0 });
  const adapter = new AnthropicUpstream({
    apiKey: 'sim-key',
    baseURL: url,
    firstTokenTimeoutMs: 60_000,
    idleTimeoutMs: 30_000,
    retry: { budgetMs: 0, maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
  });
  const ctx = { client, adapter, url };
  try {
    // Warm-up: JIT, sockets, the simulator's caches.
    for (const mode of MODES) await measure(mode, ctx, { ...s, streams: Math.min(8, s.streams) }, 999);
    const samples = new Map<Mode, Sample[]>(MODES.map((m) => [m, []]));
    for (let round = 0; round < s.rounds; round++) {
      for (const mode of MODES) samples.get(mode)?.push(await measure(mode, ctx, s, round));
    }
    const create = median((samples.get('create') ?? []).map((x) => x.cpuMsPer1k));
    process.stdout.write(
      `node ${process.version}, ${s.streams} streams × ${s.tokens} tokens, concurrency ${s.concurrency}, ${s.rounds} rounds (median)\n\n`,
    );
    process.stdout.write('mode      CPU ms / 1000 tokens   (min … max)        vs create   wall ms / round\n');
    for (const mode of MODES) {
      const xs = samples.get(mode) ?? [];
      const cpu = xs.map((x) => x.cpuMsPer1k);
      const line = [
        mode.padEnd(9),
        median(cpu).toFixed(2).padStart(8),
        `          (${Math.min(...cpu).toFixed(2)} … ${Math.max(...cpu).toFixed(2)})`.padEnd(28),
        `${((median(cpu) / create) * 100).toFixed(0)}%`.padStart(6),
        median(xs.map((x) => x.wallMs))
          .toFixed(0)
          .padStart(16),
      ].join(' ');
      process.stdout.write(`${line}\n`);
    }
  } finally {
    agent.destroy();
    child.stdin?.end();
    await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 2000).unref())]);
    child.kill('SIGKILL');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`profile-sdk: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
