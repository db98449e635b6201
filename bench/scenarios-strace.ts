/**
 * `--strace latency,throughput,bulk100`: syscalls per 1,000 tokens, by call, of the pipe and the
 * relay (sse, ws) on the same job, side by side (issue 18: "profile … `strace -c` against the
 * pipe"). Its own pass after the scenarios, on a fresh relay and pipe: each is warmed up untraced,
 * then `strace -c -f` is attached for exactly one job per target and repetition (the scenario's
 * shape: paced at C = 100 for `latency`, bulk for `throughput` and `bulk100`) and detached after
 * it, so start-up and warm-up are not counted. strace slows every call, so this pass measures no
 * time or CPU and the scenarios' own figures never run under it. Every token is still checked.
 */
import { type Harness, rotate, sleep, type Target } from './harness.js';
import { median } from './hist.js';
import type { StraceScenario } from './options.js';
import type { Pace } from './protocol.js';
import { attachStrace, type SyscallCounts, straceUnavailable } from './strace.js';

export interface SyscallRun {
  readonly target: string;
  readonly rep: number;
  readonly streams: number;
  readonly tokens: number;
  readonly calls: SyscallCounts['calls'];
  readonly errors: SyscallCounts['errors'];
}

export interface SyscallRow {
  readonly target: string;
  /** Per syscall: calls per 1,000 tokens, median over the repetitions. */
  readonly per1k: Readonly<Record<string, number>>;
  /** Socket-sized reads and writes (see SOCKET_IO) per 1,000 tokens, median. */
  readonly ioPer1k: number | null;
  /** Every call per 1,000 tokens, median. */
  readonly totalPer1k: number | null;
  /** min and max over the repetitions of ioPer1k and totalPer1k (a slower process reads more per call). */
  readonly ioRange: readonly [number, number] | null;
  readonly totalRange: readonly [number, number] | null;
}

export interface SyscallScenario {
  readonly scenario: StraceScenario;
  readonly streams: number;
  readonly concurrency: number;
  readonly pace: Pace;
  readonly runs: SyscallRun[];
  readonly rows: SyscallRow[];
}

export interface SyscallData {
  /** Why nothing was counted (no strace, or ptrace not permitted). */
  readonly skipped?: string;
  readonly scenarios: SyscallScenario[];
}

/**
 * The calls that move bytes through a socket. `read` and `write` also count libuv's eventfd
 * wake-ups (a thread-pool or `uv_async_send` signal), which `strace -c` cannot tell apart.
 */
export const SOCKET_IO: readonly string[] = [
  'read',
  'readv',
  'recvfrom',
  'recvmsg',
  'write',
  'writev',
  'sendto',
  'sendmsg',
  'sendmmsg',
];

/** The targets this pass counts: processes of ours (direct has none, ws-mux and --target are left out). */
const COUNTED = ['pipe', 'sse', 'ws'] as const;

interface Shape {
  readonly streams: number;
  readonly concurrency: number;
  readonly spreadMs: number;
  readonly pace: Pace;
}

function shape(h: Harness, scenario: StraceScenario): Shape {
  const sizes = h.opts.sizes;
  switch (scenario) {
    case 'latency': {
      // The paced figure of issue 18: the largest C ≤ 100, as the CPU target uses.
      const cs = sizes.latency.concurrency;
      const c = [...cs].filter((x) => x <= 100).sort((a, b) => b - a)[0] ?? cs[0] ?? 1;
      return {
        streams: c * sizes.latency.rounds(c),
        concurrency: c,
        spreadMs: sizes.latency.spreadMs(c),
        pace: sizes.latency.pace,
      };
    }
    case 'throughput':
      return bulkShape(sizes.throughput);
    case 'bulk100':
      return bulkShape(sizes.bulk100);
    default: {
      const never: never = scenario;
      throw new Error(`no strace shape for ${String(never)}`);
    }
  }
}

const bulkShape = (s: { readonly streams: number; readonly pace: Pace }): Shape => ({
  streams: s.streams,
  concurrency: s.streams,
  spreadMs: 0,
  pace: s.pace,
});

const durationMs = (p: Pace): number => p.ttftMs + (p.tps > 0 ? ((p.tokens - 1) * 1000) / p.tps : 0);

/** The whole pass: every `--strace` scenario, or one line saying why it is skipped. */
export async function straceRun(h: Harness): Promise<SyscallData> {
  const skipped = await straceUnavailable();
  if (skipped !== undefined) {
    h.log(`strace: ${skipped}; syscall counts skipped`);
    return { skipped, scenarios: [] };
  }
  const scenarios: SyscallScenario[] = [];
  for (const scenario of h.opts.strace) scenarios.push(await countScenario(h, scenario));
  return { scenarios };
}

async function countScenario(h: Harness, scenario: StraceScenario): Promise<SyscallScenario> {
  const s = shape(h, scenario);
  const names = COUNTED.filter((t) => h.opts.targets.includes(t));
  if (names.includes('sse') || names.includes('ws')) await h.startRelay();
  if (names.includes('pipe')) await h.startPipe();
  const targets = h.targets(names);
  const runs: SyscallRun[] = [];
  try {
    await h.warmUp(targets);
    await sleep(300);
    for (let rep = 0; rep < h.opts.reps; rep++) {
      for (const target of rotate(targets, rep)) runs.push(await countJob(h, scenario, s, target, rep));
    }
  } finally {
    await h.stopServers();
  }
  return {
    scenario,
    streams: s.streams,
    concurrency: s.concurrency,
    pace: s.pace,
    runs,
    rows: summarize(names, runs),
  };
}

async function countJob(
  h: Harness,
  scenario: StraceScenario,
  s: Shape,
  target: Target,
  rep: number,
): Promise<SyscallRun> {
  if (target.pid === undefined) throw new Error(`strace: ${target.name} has no process to trace`);
  h.log(`strace ${scenario} ${target.name} rep ${rep + 1}`);
  const tracing = await attachStrace(target.pid);
  let counts: SyscallCounts | undefined;
  try {
    const m = await h.job('strace', `${scenario} ${s.streams}x${s.pace.tokens}`, rep, target, {
      streams: s.streams,
      concurrency: s.concurrency,
      startSpreadMs: s.spreadMs,
      pace: s.pace,
      action: { kind: 'complete' },
      // Traced, the server is several times slower.
      timeoutMs: durationMs(s.pace) * 8 + s.spreadMs + 120_000,
    });
    counts = await tracing.stop();
    return {
      target: target.name,
      rep,
      streams: m.result.streams,
      tokens: m.result.tokens,
      calls: counts.calls,
      errors: counts.errors,
    };
  } finally {
    if (counts === undefined) await tracing.stop().catch(() => undefined);
  }
}

/** Per target: each call's count per 1,000 tokens, median over repetitions. Exported for tests. */
export function summarize(targets: readonly string[], runs: readonly SyscallRun[]): SyscallRow[] {
  return targets.map((target): SyscallRow => {
    const mine = runs.filter((r) => r.target === target && r.tokens > 0);
    const per = (r: SyscallRun, calls: number) => (calls * 1000) / r.tokens;
    const names = [...new Set(mine.flatMap((r) => Object.keys(r.calls)))].sort();
    const per1k: Record<string, number> = {};
    for (const name of names) per1k[name] = median(mine.map((r) => per(r, r.calls[name] ?? 0))) ?? 0;
    const sum = (r: SyscallRun, only?: readonly string[]) =>
      Object.entries(r.calls).reduce(
        (n, [name, c]) => (only === undefined || only.includes(name) ? n + c : n),
        0,
      );
    const io = mine.map((r) => per(r, sum(r, SOCKET_IO)));
    const total = mine.map((r) => per(r, sum(r)));
    return {
      target,
      per1k,
      ioPer1k: median(io),
      totalPer1k: median(total),
      ioRange: range(io),
      totalRange: range(total),
    };
  });
}

const range = (values: readonly number[]): [number, number] | null =>
  values.length === 0 ? null : [Math.min(...values), Math.max(...values)];
