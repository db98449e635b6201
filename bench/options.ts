/**
 * `relay bench` flags and the three sizes (full, `--quick`, `--smoke`): every number a run uses is
 * here, so the report can print it and a reader can rerun it.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Pace } from './protocol.js';

export const SCENARIOS = [
  'latency',
  'throughput',
  'burst',
  'cancel',
  'resume',
  'memory',
  'bulk100',
  'retained',
  'redis',
  'browser',
  'idle',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** Scenarios whose job `--strace` can count syscalls for (one job shape each: paced, bulk, bulk at C = 100). */
export const STRACE_SCENARIOS = ['latency', 'throughput', 'bulk100'] as const;
export type StraceScenario = (typeof STRACE_SCENARIOS)[number];

/**
 * `ws-mux`: every stream of a job on one WebSocket; only the bulk100 scenario runs it.
 * `ws-batch`: one WebSocket per stream with batched frames (`?frames=batch`); latency,
 * throughput and bulk100 run it.
 */
export const BUILTIN_TARGETS = ['direct', 'pipe', 'sse', 'ws', 'ws-mux', 'ws-batch'] as const;
export type BuiltinTarget = (typeof BUILTIN_TARGETS)[number];
/** Without --targets: all but `ws-batch` (an opt-in protocol variant; name it to measure it). */
const DEFAULT_TARGETS: readonly BuiltinTarget[] = BUILTIN_TARGETS.filter((t) => t !== 'ws-batch');

export type Mode = 'full' | 'quick' | 'smoke';

export interface Sizes {
  readonly latency: {
    readonly concurrency: readonly number[];
    readonly pace: Pace;
    /** Streams per slot (more samples at low C). */
    readonly rounds: (c: number) => number;
    /**
     * The first C starts are spread over this many ms (≤ 100 starts/s, at most 2 s): streams do
     * not tick in lockstep, and a start storm is not what per-token latency measures (burst does).
     */
    readonly spreadMs: (c: number) => number;
  };
  /**
   * Bulk at C = 20. `repsPerRep`: repetitions per `--reps`. A repetition is ~0.6 s of work, and on a
   * shared two-core machine one repetition's relay ÷ pipe ratio ranged 0.76–1.34× (Node 24) and
   * 0.89–1.70× (Node 20) over ten of one build: three cannot tell 1.2× from 1.0×, so this cheap
   * scenario takes three times the samples (a full run: 9 per target, ~40 s).
   */
  readonly throughput: { readonly streams: number; readonly pace: Pace; readonly repsPerRep: number };
  readonly burst: { readonly streams: number; readonly bursts: number; readonly pace: Pace };
  readonly cancel: { readonly streams: number; readonly pace: Pace; readonly afterTokens: number };
  readonly resume: {
    readonly streams: number;
    readonly pace: Pace;
    readonly afterTokens: number;
    readonly pauseMs: number;
  };
  readonly memory: { readonly levels: readonly number[]; readonly pace: Pace; readonly startsPerMs: number };
  /** Bulk at high concurrency: one socket per stream (`ws`) beside one shared socket (`ws-mux`). */
  readonly bulk100: { readonly streams: number; readonly pace: Pace };
  /** Finished streams kept for resume: memory each holds after GC, vs the bytes it sent. */
  readonly retained: { readonly streams: number; readonly concurrency: number; readonly pace: Pace };
  /** Open connections with no stream: what each costs the relay. */
  readonly idle: { readonly connections: number };
  /** A scenario still running after this long is stopped and reported as failed. */
  readonly scenarioTimeoutMs: Readonly<Record<ScenarioName, number>>;
}

const FULL: Sizes = {
  latency: {
    concurrency: [1, 10, 100, 1000],
    pace: { tokens: 200, ttftMs: 200, tps: 60 },
    rounds: (c) => (c === 1 ? 3 : 1),
    spreadMs: (c) => Math.min(c * 10, 2000),
  },
  throughput: { streams: 20, pace: { tokens: 2000, ttftMs: 0, tps: 0 }, repsPerRep: 3 },
  burst: { streams: 100, bursts: 3, pace: { tokens: 1, ttftMs: 0, tps: 0 } },
  cancel: { streams: 50, pace: { tokens: 200, ttftMs: 50, tps: 60 }, afterTokens: 10 },
  resume: { streams: 20, pace: { tokens: 100, ttftMs: 50, tps: 60 }, afterTokens: 30, pauseMs: 200 },
  memory: { levels: [1000, 5000], pace: { tokens: 2000, ttftMs: 0, tps: 0.5 }, startsPerMs: 0.5 },
  bulk100: { streams: 100, pace: { tokens: 1000, ttftMs: 0, tps: 0 } },
  retained: { streams: 2000, concurrency: 50, pace: { tokens: 100, ttftMs: 0, tps: 0 } },
  idle: { connections: 1000 },
  scenarioTimeoutMs: {
    latency: 480_000,
    throughput: 120_000,
    burst: 120_000,
    cancel: 120_000,
    resume: 120_000,
    memory: 300_000,
    bulk100: 300_000,
    retained: 180_000,
    idle: 120_000,
    redis: 300_000,
    browser: 480_000,
  },
};

const QUICK: Sizes = {
  latency: {
    concurrency: [1, 100],
    pace: { tokens: 100, ttftMs: 100, tps: 60 },
    rounds: (c) => (c === 1 ? 2 : 1),
    spreadMs: (c) => Math.min(c * 10, 2000),
  },
  throughput: { streams: 20, pace: { tokens: 1000, ttftMs: 0, tps: 0 }, repsPerRep: 3 },
  burst: { streams: 100, bursts: 2, pace: { tokens: 1, ttftMs: 0, tps: 0 } },
  cancel: { streams: 20, pace: { tokens: 200, ttftMs: 50, tps: 60 }, afterTokens: 10 },
  resume: { streams: 10, pace: { tokens: 60, ttftMs: 50, tps: 60 }, afterTokens: 20, pauseMs: 200 },
  memory: { levels: [1000], pace: { tokens: 2000, ttftMs: 0, tps: 0.5 }, startsPerMs: 0.5 },
  bulk100: { streams: 100, pace: { tokens: 500, ttftMs: 0, tps: 0 } },
  retained: { streams: 1000, concurrency: 50, pace: { tokens: 100, ttftMs: 0, tps: 0 } },
  idle: { connections: 1000 },
  scenarioTimeoutMs: {
    latency: 120_000,
    throughput: 120_000,
    burst: 60_000,
    cancel: 60_000,
    resume: 60_000,
    memory: 120_000,
    // Four targets at C = 100 on a shared two-core machine: --reps 3 needs the room.
    bulk100: 180_000,
    retained: 120_000,
    idle: 60_000,
    redis: 120_000,
    browser: 240_000,
  },
};

const SMOKE: Sizes = {
  latency: {
    concurrency: [1, 2],
    pace: { tokens: 20, ttftMs: 20, tps: 200 },
    rounds: () => 1,
    spreadMs: () => 0,
  },
  throughput: { streams: 2, pace: { tokens: 200, ttftMs: 0, tps: 0 }, repsPerRep: 1 },
  burst: { streams: 5, bursts: 1, pace: { tokens: 1, ttftMs: 0, tps: 0 } },
  cancel: { streams: 2, pace: { tokens: 100, ttftMs: 10, tps: 100 }, afterTokens: 5 },
  resume: { streams: 2, pace: { tokens: 40, ttftMs: 10, tps: 100 }, afterTokens: 10, pauseMs: 50 },
  memory: { levels: [20], pace: { tokens: 200, ttftMs: 0, tps: 1 }, startsPerMs: 0.5 },
  bulk100: { streams: 4, pace: { tokens: 100, ttftMs: 0, tps: 0 } },
  retained: { streams: 20, concurrency: 5, pace: { tokens: 20, ttftMs: 0, tps: 0 } },
  idle: { connections: 20 },
  scenarioTimeoutMs: {
    latency: 20_000,
    throughput: 20_000,
    burst: 20_000,
    cancel: 20_000,
    resume: 20_000,
    memory: 20_000,
    bulk100: 20_000,
    retained: 20_000,
    idle: 20_000,
    redis: 60_000,
    browser: 120_000,
  },
};

const SMOKE_SCENARIOS: readonly ScenarioName[] = [
  'latency',
  'throughput',
  'cancel',
  'resume',
  'bulk100',
  'retained',
];

export interface ExtraTarget {
  readonly name: string;
  readonly url: string;
}

export interface BenchOptions {
  readonly mode: Mode;
  readonly reps: number;
  readonly scenarios: readonly ScenarioName[];
  readonly targets: readonly BuiltinTarget[];
  /** `--target [NAME=]URL`: other relays speaking Anthropic's /v1/messages. */
  readonly extra: readonly ExtraTarget[];
  readonly sizes: Sizes;
  /** The simulator's port (0 = free): fixed, so a `--target` gateway can be pointed at it beforehand. */
  readonly simPort: number;
  /**
   * Where results go: `bench/runs/` (git-ignored) by default, so a run never dirties the tree;
   * `bench/results/` (tracked, the README's chart) only with `--record`; or `--out DIR`.
   */
  readonly outDir: string;
  /** Write the relay's CPU profile of one scenario (`cpuProfScenario`) here. */
  readonly cpuProfDir: string | undefined;
  readonly cpuProfScenario: ScenarioName;
  /** `--strace`: count syscalls per 1,000 tokens of pipe, sse and ws on these scenarios' jobs (a pass of its own). */
  readonly strace: readonly StraceScenario[];
  /** The command as a user would retype it. */
  readonly command: string;
}

export const BENCH_HELP = `relay bench — SSE versus WebSocket versus the floor, measured in one run

Usage: relay bench [--quick | --smoke] [flags]      (npm run bench -- [flags])

Flags:
  --quick               fewer sizes, 1 repetition (under two minutes)
  --smoke               tiny sizes, a subset of scenarios (CI: checks the harness, not speed)
  --reps N              repetitions per measurement (default 3 full, 1 quick/smoke)
  --scenarios a,b       among ${SCENARIOS.join(', ')} (default all; smoke: ${SMOKE_SCENARIOS.join(', ')})
  --targets a,b         among ${BUILTIN_TARGETS.join(', ')} (default all but ws-batch)
  --target [NAME=]URL   also measure another relay speaking Anthropic's /v1/messages (repeatable);
                        its requests carry BENCH_TARGET_API_KEY as x-api-key when set. Point it at
                        the bench's simulator (fix its port with --sim-port) to relay the same stream
  --sim-port N          the simulator's port (default 0 = a free one)
  --record              write to bench/results/ (tracked: the README's chart and tables link there);
                        without it a run writes to bench/runs/, which git ignores
  --out DIR             results directory instead (not with --record)
  --cpu-prof DIR        run the relay under --cpu-prof during one scenario, profile to DIR
  --cpu-prof-scenario S the scenario to profile (default throughput; latency = the paced case)
  --strace a,b          count syscalls per 1000 tokens by call (strace -c -f attached to the pipe
                        and relay for one job each) in these of ${STRACE_SCENARIOS.join(', ')}; a pass
                        of its own after the scenarios (only it, when --scenarios is not given).
                        strace slows the processes: its counts are the figure, not its times.
                        Skipped, with a line saying why, without strace or ptrace permission
  --render FILE.json    only rewrite the summary and chart of a raw result (after a report change)
  -h, --help            this text

Writes DIR/<ISO date>.json (raw), DIR/latest.md (summary) and DIR/latest.svg (chart); quick and
smoke runs write latest-quick.* / latest-smoke.* instead. DIR is bench/runs/ unless --record or
--out says otherwise. Exits 1 when
any stream lost, duplicated or reordered a token, or a scenario failed.
`;

/** The repository root (this file runs as dist/bench/options.js). */
export function repoRoot(): string {
  return fileURLToPath(new URL('../../', import.meta.url));
}

/** Throws parseArgs-style errors (code ERR_PARSE_ARGS_…) so the CLI reports them as usage errors. */
function usage(message: string): Error {
  return Object.assign(new TypeError(message), { code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' });
}

function list<T extends string>(raw: string, allowed: readonly T[], flag: string): T[] {
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const item of items) {
    if (!allowed.includes(item as T))
      throw usage(`--${flag}: unknown "${item}" (known: ${allowed.join(', ')})`);
  }
  return items as T[];
}

function port(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw usage(`--sim-port must be a port 0..65535, got "${raw}"`);
  return n;
}

export function parseBenchArgs(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      quick: { type: 'boolean' },
      smoke: { type: 'boolean' },
      reps: { type: 'string' },
      scenarios: { type: 'string' },
      targets: { type: 'string' },
      target: { type: 'string', multiple: true },
      out: { type: 'string' },
      record: { type: 'boolean' },
      'sim-port': { type: 'string', default: '0' },
      'cpu-prof': { type: 'string' },
      'cpu-prof-scenario': { type: 'string', default: 'throughput' },
      strace: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (values.quick && values.smoke) throw usage('--quick and --smoke exclude each other');
  if (values.record && values.out !== undefined)
    throw usage('--record writes to bench/results; --out chooses another folder: give one of them');
  const mode: Mode = values.smoke ? 'smoke' : values.quick ? 'quick' : 'full';
  const reps = values.reps === undefined ? (mode === 'full' ? 3 : 1) : Number(values.reps);
  if (!Number.isInteger(reps) || reps < 1 || reps > 20) throw usage('--reps must be an integer 1..20');
  const strace = values.strace === undefined ? [] : list(values.strace, STRACE_SCENARIOS, 'strace');
  if (values.strace !== undefined && strace.length === 0) throw usage('--strace: name at least one scenario');
  const scenarios =
    values.scenarios !== undefined
      ? list(values.scenarios, SCENARIOS, 'scenarios')
      : strace.length > 0
        ? [] // the syscall pass alone: strace does not need the timed scenarios
        : mode === 'smoke'
          ? [...SMOKE_SCENARIOS]
          : [...SCENARIOS];
  const targets =
    values.targets !== undefined ? list(values.targets, BUILTIN_TARGETS, 'targets') : [...DEFAULT_TARGETS];
  if (!targets.includes('direct')) targets.unshift('direct'); // the floor every "added" is measured from
  const extra = (values.target ?? []).map((raw, i): ExtraTarget => {
    const eq = raw.indexOf('=');
    const named = eq > 0 && !raw.slice(0, eq).includes('/');
    const name = named ? raw.slice(0, eq) : `target${i + 1}`;
    const url = named ? raw.slice(eq + 1) : raw;
    try {
      new URL(url);
    } catch {
      throw usage(`--target: "${url}" is not a URL`);
    }
    if ((BUILTIN_TARGETS as readonly string[]).includes(name))
      throw usage(`--target: "${name}" is a built-in name`);
    return { name, url: url.replace(/\/$/, '') };
  });
  const command =
    env.npm_lifecycle_event === 'bench'
      ? `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`
      : `relay bench${argv.length > 0 ? ` ${argv.join(' ')}` : ''}`;
  return {
    mode,
    reps,
    scenarios,
    targets,
    extra,
    sizes: mode === 'full' ? FULL : mode === 'quick' ? QUICK : SMOKE,
    simPort: port(values['sim-port']),
    outDir: values.out ?? `${repoRoot()}bench/${values.record ? 'results' : 'runs'}`,
    cpuProfDir: values['cpu-prof'],
    cpuProfScenario: list(values['cpu-prof-scenario'], SCENARIOS, 'cpu-prof-scenario')[0] ?? 'throughput',
    strace,
    command,
  };
}

/** The sizes as plain data (functions evaluated), for the raw JSON. */
export function describeSizes(s: Sizes): Record<string, unknown> {
  return {
    ...s,
    latency: {
      ...s.latency,
      rounds: Object.fromEntries(s.latency.concurrency.map((c) => [c, s.latency.rounds(c)])),
      spreadMs: Object.fromEntries(s.latency.concurrency.map((c) => [c, s.latency.spreadMs(c)])),
    },
  };
}
