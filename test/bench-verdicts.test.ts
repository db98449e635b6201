/**
 * The benchmark's judgement, without running it: an "added" figure below the floor is reported as
 * noise or as a measuring error, never as met; and where a run writes its results (git-ignored
 * unless --record).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { belowFloor, evaluateGoals } from '../bench/goals.js';
import { parseBenchArgs } from '../bench/options.js';
import type { BenchResult } from '../bench/result.js';
import type { LatencyRow, LatencyRun } from '../bench/scenarios.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const pct = (p50: number, p99: number) => ({ count: 100, p50, p90: p99, p99, max: p99, min: p50 });

function run(target: string, rep: number, tokenP50: number, tokenP99: number): LatencyRun {
  return {
    c: 1,
    target,
    rep,
    streams: 10,
    tokens: 100,
    ttft: pct(1, 2),
    ttftSent: pct(1, 2),
    token: pct(tokenP50, tokenP99),
    jitter: pct(0, 0),
    cpuMs: null,
    cpuPer1k: null,
    simCpuMs: 0,
    clientCpuMs: 0,
    wallMs: 1,
    foreignCores: 0,
    tokenHistogram: '',
  };
}

function row(target: string, addedP50: number, addedP99: number): LatencyRow {
  return {
    c: 1,
    target,
    ttftP50: 1,
    addedTtftP50: 0.5,
    addedTtftP99: 0.5,
    addedTtftSentP50: 0.4,
    tokenP50: null,
    tokenP99: null,
    addedP50,
    addedP90: addedP99,
    addedP99,
    addedMax: addedP99,
    jitterP50: null,
    jitterP99: null,
    cpuPer1k: null,
  };
}

/** A result with only the latency scenario at C = 1: the floor's p50 is 0.30 / 0.32 ms, its p99 2 ms. */
function result(sse: { p50: number; p99: number }): BenchResult {
  return {
    scenarios: {
      latency: {
        pace: { firstTokenMs: 0, tokensPerSecond: 0 },
        runs: [run('direct', 0, 0.3, 2), run('direct', 1, 0.32, 2)],
        rows: [row('direct', 0, 0), row('sse', sse.p50, sse.p99), row('ws', 0.1, 1)],
        curves: {},
      },
    },
    checks: { ok: true, streams: 1, failedStreams: 0, gaps: 0, duplicates: 0, failed: [] },
    errors: [],
  } as unknown as BenchResult;
}

const goal = (goals: ReturnType<typeof evaluateGoals>, name: string, transport: string) =>
  goals.find((g) => g.goal.startsWith(name) && g.transport === transport)!;

describe('figures below the floor', () => {
  it('calls a small negative added latency noise, not met', () => {
    // The floor p50 is 0.30–0.32 ms: its noise band is 20 % of it (0.062 ms) > its 0.02 ms spread.
    const g = goal(evaluateGoals(result({ p50: -0.05, p99: 1 })), 'added per-token latency p50', 'sse');
    expect(g.verdict).toBe('noise');
    expect(g.met).toBeNull();
    expect(g.measured).toContain('below the floor; inside its noise');
  });

  it('calls a negative added latency beyond the floor noise a measuring error, not met', () => {
    const g = goal(evaluateGoals(result({ p50: -0.2, p99: 1 })), 'added per-token latency p50', 'sse');
    expect(g.verdict).toBe('measuring error');
    expect(g.met).toBeNull();
    expect(g.measured).toContain('beyond its noise');
  });

  it('still judges a figure at or above the floor against its limit', () => {
    const goals = evaluateGoals(result({ p50: 0.2, p99: 5 }));
    expect(goal(goals, 'added per-token latency p50', 'sse')).toMatchObject({ verdict: 'met', met: true });
    expect(goal(goals, 'added per-token latency p99, C ≤ 10', 'sse')).toMatchObject({
      verdict: 'missed',
      met: false,
    });
  });

  it('widens the band to the floor spread across repetitions', () => {
    expect(belowFloor(-0.5, [1, 1.6]).verdict).toBe('noise'); // spread 0.6 ms
    expect(belowFloor(-0.5, [1, 1.1]).verdict).toBe('measuring error'); // band 0.22 ms (20 % of 1.1)
    expect(belowFloor(-0.0005, []).verdict).toBe('noise'); // below the 1 µs resolution
  });
});

describe('where a benchmark run writes', () => {
  const outDir = (argv: string[]) => {
    const opts = parseBenchArgs(argv, {});
    if (opts === 'help') throw new Error('help');
    return opts.outDir;
  };

  it('writes to bench/runs/, which git ignores, unless --record', () => {
    expect(outDir(['--quick'])).toMatch(/bench\/runs$/);
    // check-ignore exits 0 when ignored (and throws otherwise).
    execFileSync('git', ['check-ignore', '-q', 'bench/runs/2026-01-01.json'], { cwd: ROOT });
  });

  it('writes to the tracked bench/results/ with --record', () => {
    expect(outDir(['--quick', '--record'])).toMatch(/bench\/results$/);
    expect(() =>
      execFileSync('git', ['check-ignore', '-q', 'bench/results/latest.md'], { cwd: ROOT, stdio: 'ignore' }),
    ).toThrow();
  });

  it('refuses --record together with --out', () => {
    expect(() => parseBenchArgs(['--record', '--out', '/tmp/x'], {})).toThrow(/--record .*--out/);
  });
});
