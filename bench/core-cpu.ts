/**
 * CPU of the core and the SDK adapter alone, per 1000 tokens: no transport, no client process.
 * The simulator runs as a child process (its CPU is not counted); this process runs a registry
 * over the real AnthropicUpstream and reads every stream through an in-process cursor sink. With
 * nothing else in the process, the best of a few rounds is steady enough to compare two builds on
 * a shared machine, where whole-relay figures move ±20 %: run it alternately from each build.
 *
 *     node dist/bench/core-cpu.js [--streams 100] [--tokens 200] [--tps 100] [--rounds 3]
 *
 * Prints one JSON line: CPU ms per 1000 tokens of each round, and the best.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { CursorSink } from '../src/core/stream-log.js';
import { StreamRegistry } from '../src/core/streams.js';
import type { StreamsConfig } from '../src/core/streams-config.js';
import { AnthropicUpstream } from '../src/upstream/anthropic.js';

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '100' },
    tokens: { type: 'string', default: '200' },
    tps: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '3' },
  },
});
const streams = Number(values.streams);
const tokens = Number(values.tokens);
const tps = Number(values.tps);
const rounds = Number(values.rounds);

const config: StreamsConfig = {
  defaultModel: 'claude-haiku-4-5',
  defaultMaxTokens: 4096,
  log: { maxEvents: 10_000, maxBytes: 1 << 22 },
  maxLagEvents: 10_000,
  cursorBatch: { maxEvents: 1000, maxBytes: 1 << 20 },
  graceMs: 5000,
  retentionMs: 1000,
  maxStreams: 100_000,
  maxStreamsPerAddress: 0,
  maxDurationMs: 0,
};

async function startSimulator(): Promise<{ child: ChildProcess; url: string }> {
  const bin = fileURLToPath(new URL('../../bin/relay.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'simulate-upstream', '--port', '0', '--ttft-ms', '10'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  for await (const data of child.stdout!) {
    out += String(data);
    const url = /http:\/\/127\.0\.0\.1:\d+/.exec(out)?.[0];
    if (url !== undefined) return { child, url };
  }
  throw new Error(`the simulator exited before it listened: ${out}`);
}

/** One stream read to its end through a sink that only counts; returns its text events. */
async function oneStream(registry: StreamRegistry, i: number, n: number, pace: number): Promise<number> {
  const created = await registry.create(
    { message: `core-cpu ${i} [[sim tokens=${n} tps=${pace}]]` },
    { owner: 'a' },
  );
  const handle = await registry.open(created.id, 'a');
  let texts = 0;
  await new Promise<void>((resolve) => {
    const sink: CursorSink = {
      ready: () => true,
      write(entries) {
        for (const entry of entries) if (entry.type === 'text') texts++;
        return true;
      },
      waitDrain: () => () => {},
      end: () => resolve(),
    };
    handle.attach(sink, 0);
  });
  return texts;
}

async function round(registry: StreamRegistry, n: number, tok: number, pace: number): Promise<number> {
  const before = process.cpuUsage();
  const counts = await Promise.all(Array.from({ length: n }, (_, i) => oneStream(registry, i, tok, pace)));
  const used = process.cpuUsage(before);
  const total = counts.reduce((a, b) => a + b, 0);
  // Every token, or the figure means nothing.
  if (total !== n * tok) throw new Error(`read ${total} text events of ${n * tok}`);
  return (used.user + used.system) / 1000 / (total / 1000);
}

const sim = await startSimulator();
const upstream = new AnthropicUpstream({
  apiKey: 'sk-ant-api03-core-cpu',
  baseURL: sim.url,
  firstTokenTimeoutMs: 30_000,
  idleTimeoutMs: 30_000,
  retry: { budgetMs: 1000, maxAttempts: 1, baseDelayMs: 5, maxDelayMs: 20 },
});
const registry = new StreamRegistry({ upstream, config });
try {
  await round(registry, 20, 50, 0); // warm-up: JIT and pooled connections
  const perRound: number[] = [];
  for (let r = 0; r < rounds; r++) perRound.push(await round(registry, streams, tokens, tps));
  const best = Math.min(...perRound);
  console.log(
    JSON.stringify({
      streams,
      tokens,
      tps,
      cpuMsPer1kTokens: perRound.map((x) => Number(x.toFixed(1))),
      best: Number(best.toFixed(1)),
    }),
  );
} finally {
  await registry.shutdown(1000);
  upstream.close();
  sim.child.kill();
  await once(sim.child, 'exit');
}
