/**
 * The relay under two sets of Node flags, side by side: relay A with the flags it ships with
 * (RELAY_NODE_FLAGS), relay B with `--b-flags`, and the pipe as the reference, all on one
 * simulator, each job run on every target in rotated order. A runtime flag changes the whole
 * process, so two bench runs (minutes apart on a shared machine) cannot tell a few per cent; this
 * can. Reports CPU per 1,000 tokens (utime + stime of each server process) per repetition and
 * the medians; checks every stream ended with all its tokens.
 *
 *     node dist/bench/flags-ab.js --b-flags="--max-semi-space-size=16" [--reps 10]
 *       [--streams 100] [--tokens 200] [--tps 60] [--ttft-ms 200]      (bulk: --tps 0 --ttft-ms 0)
 */
import { parseArgs } from 'node:util';
import { RELAY_NODE_FLAGS } from '../src/runtime-flags.js';
import { rotate } from './harness.js';
import { median } from './hist.js';
import {
  childPath,
  cpuMs,
  killAll,
  type ServerProcess,
  snapshotBuild,
  startServer,
  trapExit,
} from './procs.js';
import { benchPrompt, type Pace, type TargetSpec } from './protocol.js';
import { anthropicStream, type Handlers, relayRequest, relaySseStream } from './wire-clients.js';

interface Side {
  readonly name: string;
  readonly server: ServerProcess;
  readonly spec: TargetSpec;
}

/** One stream; resolves with the text events it saw, rejects if it ended abnormally. */
function stream(spec: TargetSpec, pace: Pace, tag: string, index: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let texts = 0;
    let done = false;
    const h: Handlers = {
      opened: () => {},
      event: (type) => {
        if (type === 'text') texts++;
        else if (type === 'done') done = true;
      },
      closed: (error) => {
        if (error !== undefined) reject(new Error(`${spec.name} stream ${index}: ${error}`));
        else if (!done) reject(new Error(`${spec.name} stream ${index}: ended without its last event`));
        else resolve(texts);
      },
    };
    const prompt = benchPrompt(pace, tag, index);
    if (spec.protocol === 'anthropic') anthropicStream(spec, prompt, pace.tokens + 16, h);
    else relaySseStream(spec, relayRequest(prompt, pace.tokens + 16, undefined), h);
  });
}

/** `streams` at once (starts spread over ≤ 2 s, as the bench's latency scenario does); CPU per 1k tokens. */
async function job(side: Side, pace: Pace, streams: number, tag: string): Promise<number> {
  const spread = Math.min(streams * 10, 2000);
  const before = cpuMs(side.server.pid);
  const counts = await Promise.all(
    Array.from({ length: streams }, async (_, i) => {
      await new Promise((r) => setTimeout(r, (spread * i) / streams));
      return stream(side.spec, pace, tag, i);
    }),
  );
  const tokens = counts.reduce((a, b) => a + b, 0);
  if (tokens !== streams * pace.tokens) {
    throw new Error(`${side.name}: ${tokens} tokens of ${streams * pace.tokens}`);
  }
  return ((cpuMs(side.server.pid) - before) * 1000) / tokens;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'b-flags': { type: 'string' },
      reps: { type: 'string', default: '10' },
      streams: { type: 'string', default: '100' },
      tokens: { type: 'string', default: '200' },
      tps: { type: 'string', default: '60' },
      'ttft-ms': { type: 'string', default: '200' },
    },
  });
  if (values['b-flags'] === undefined) throw new Error('flags-ab: give --b-flags="…" (may be empty)');
  const bFlags = values['b-flags'].split(' ').filter((f) => f !== '');
  const reps = Number(values.reps);
  const streams = Number(values.streams);
  const pace: Pace = {
    tokens: Number(values.tokens),
    tps: Number(values.tps),
    ttftMs: Number(values['ttft-ms']),
  };
  trapExit();
  // As the bench does: children run from a copy of the build, so a rebuild mid-run changes nothing.
  snapshotBuild();
  const relayBin = childPath('bin/relay.js');
  const sim = await startServer({
    name: 'simulator',
    script: relayBin,
    args: ['simulate-upstream', '--port', '0', '--benchmark', '--ttft-ms', '0', '--tps', '0'],
  });
  const relay = (name: string, flags: readonly string[]): Promise<ServerProcess> =>
    startServer({
      name,
      nodeFlags: flags,
      script: relayBin,
      args: ['serve', '--port', '0', '--host', '127.0.0.1'],
      env: { ANTHROPIC_BASE_URL: sim.url, ANTHROPIC_API_KEY: 'bench-dummy-key', RELAY_LOG_LEVEL: 'warn' },
    });
  const [a, b, pipe] = await Promise.all([
    relay('A', RELAY_NODE_FLAGS),
    relay('B', bFlags),
    startServer({
      name: 'pipe',
      script: childPath('dist/bench/pipe.js'),
      args: ['--port', '0'],
      env: { ANTHROPIC_BASE_URL: sim.url },
    }),
  ]);
  const sides: Side[] = [
    { name: 'A', server: a, spec: { name: 'A', protocol: 'relay-sse', url: a.url } },
    { name: 'B', server: b, spec: { name: 'B', protocol: 'relay-sse', url: b.url } },
    { name: 'pipe', server: pipe, spec: { name: 'pipe', protocol: 'anthropic', url: pipe.url } },
  ];
  process.stdout.write(
    `A: ${RELAY_NODE_FLAGS.join(' ') || '(none)'} | B: ${bFlags.join(' ') || '(none)'} | pipe: Node's defaults\n` +
      `${reps} repetitions of ${streams} streams × ${pace.tokens} tokens (ttft ${pace.ttftMs} ms, ${pace.tps} tok/s)\n`,
  );
  const warm: Pace = { tokens: 50, tps: 0, ttftMs: 0 };
  for (const side of sides) await job(side, warm, 20, `warm-${side.name}`);
  const cpu: Record<string, number[]> = { A: [], B: [], pipe: [] };
  for (let rep = 0; rep < reps; rep++) {
    for (const side of rotate(sides, rep)) {
      const ms = await job(side, pace, streams, `r${rep}-${side.name}`);
      cpu[side.name]!.push(ms);
      process.stdout.write(`rep ${rep + 1} ${side.name}: ${ms.toFixed(1)} ms per 1,000 tokens\n`);
    }
  }
  const m = (name: string): number => median(cpu[name]!) ?? Number.NaN;
  const lines = ['A', 'B', 'pipe'].map(
    (n) => `${n} ${m(n).toFixed(2)} (${cpu[n]!.map((x) => x.toFixed(1)).join(' ')})`,
  );
  process.stdout.write(
    `median CPU per 1,000 tokens: ${lines.join(' · ')}\n` +
      `B ÷ A ${(m('B') / m('A')).toFixed(3)} · A ÷ pipe ${(m('A') / m('pipe')).toFixed(2)} · B ÷ pipe ${(m('B') / m('pipe')).toFixed(2)}\n`,
  );
  await Promise.all([a.stop(), b.stop(), pipe.stop(), sim.stop()]);
}

main().catch((err: unknown) => {
  process.stderr.write(`flags-ab: ${err instanceof Error ? err.message : String(err)}\n`);
  killAll();
  process.exit(1);
});
