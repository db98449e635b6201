/** The raw result of a run: what `bench/results/<date>.json` holds and the reports are made from. */
import type { Check } from './harness.js';
import type { ProfileSummary } from './profile.js';
import type {
  BurstData,
  CancelData,
  LatencyData,
  MemoryData,
  ResumeData,
  RetainedData,
  ThroughputData,
} from './scenarios.js';
import type { BrowserData } from './scenarios-browser.js';
import type { IdleData } from './scenarios-idle.js';
import type { RedisData } from './scenarios-redis.js';
import type { SyscallData } from './scenarios-strace.js';

// A goal and its verdict are declared here, beside the result that holds them, so that goals.ts
// (which judges a result) and this file do not import each other.

/**
 * `noise` and `measuring error` are for an "added" figure below zero (the target faster than the
 * floor it is measured from, which no relay can be): never a pass. `noise` when it is inside the
 * floor's own noise band, `measuring error` when it is beyond it (see belowFloor).
 */
export type Verdict = 'met' | 'missed' | 'not measured' | 'noise' | 'measuring error';

export interface Goal {
  readonly goal: string;
  readonly transport: string;
  readonly measured: string;
  readonly limit: string;
  /** true only for a pass; null when there is no pass or fail to give (see verdict). */
  readonly met: boolean | null;
  readonly verdict: Verdict;
  /**
   * Issue 18's rows: the figure's min–max across the run's repetitions (`measured` is the
   * median), e.g. `1.62–1.81× over 3 reps`; absent on other rows and in older files.
   */
  readonly spread?: string;
}

export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly node: string;
  readonly os: string;
  readonly memoryGb: number;
  readonly clockTicks: number;
}

export interface BenchResult {
  readonly version: 1;
  readonly mode: 'full' | 'quick' | 'smoke';
  readonly command: string;
  /** The commit measured (`+dirty`: uncommitted changes under src/ or bench/). Absent in older files. */
  readonly revision?: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  readonly machine: Machine;
  /** Node flags every relay process ran with (RELAY_NODE_FLAGS; absent in older files: none). */
  readonly relayNodeFlags?: readonly string[];
  readonly reps: number;
  readonly targets: readonly string[];
  readonly sizes: Record<string, unknown>;
  readonly scenarios: {
    latency?: LatencyData;
    throughput?: ThroughputData;
    burst?: BurstData;
    cancel?: CancelData;
    resume?: ResumeData;
    memory?: MemoryData;
    /** Bulk at C = 100, with `ws-mux` beside one socket per stream (absent in older files). */
    bulk100?: ThroughputData;
    /** Memory per finished, retained stream (absent in older files). */
    retained?: RetainedData;
    /** Several instances on one Redis, issue 14's targets (absent in older files). */
    redis?: RedisData;
    /** Chromium: many streams per page over HTTP/1.1 and HTTP/2, drop and recover, via nginx (absent in older files). */
    browser?: BrowserData;
    /** Idle connections (no stream) per transport (absent in older files). */
    idle?: IdleData;
  };
  /** Scenarios that failed to run (time limit, a child that died …). */
  readonly errors: { scenario: string; message: string }[];
  readonly checks: {
    readonly ok: boolean;
    readonly streams: number;
    readonly failedStreams: number;
    readonly gaps: number;
    readonly duplicates: number;
    /** Only the jobs with a failure (every job is counted above). */
    readonly failed: readonly Check[];
  };
  /** CPU used by processes other than the bench's during measurements, in cores (a shared machine's noise). */
  readonly background: { readonly medianCores: number | null; readonly maxCores: number | null };
  goals: Goal[];
  profile?: ProfileSummary;
  /** `--strace`: syscalls per 1,000 tokens by call, pipe beside the relay (absent without the flag). */
  syscalls?: SyscallData;
}
