/**
 * The memory table's per-stream figures: the marginal RSS per stream between levels (taken within
 * each repetition's process, then the median) and the young generation's size beside them, so a
 * young generation grown during one level is told apart from what each stream holds.
 */
import { describe, expect, it } from 'vitest';
import { renderMarkdown } from '../bench/report.js';
import type { BenchResult } from '../bench/result.js';
import { type MemoryRun, memoryRows } from '../bench/scenarios.js';

function run(target: string, rep: number, level: number, rssMb: number, youngMb: number): MemoryRun {
  return {
    target,
    rep,
    level,
    open: level,
    baselineRssMb: 50,
    rssMb,
    heapMb: 10,
    rssPerStreamKb: ((rssMb - 50) * 1024) / level,
    heapPerStreamKb: 10,
    baselineYoungMb: 4,
    youngMb,
    gc: true,
  };
}

describe('the memory table', () => {
  const runs = [
    run('pipe', 0, 1000, 80, 32),
    run('pipe', 0, 5000, 160, 32),
    run('pipe', 1, 1000, 82, 32),
    run('pipe', 1, 5000, 166, 32),
    run('pipe', 2, 1000, 81, 32),
    run('pipe', 2, 5000, 141, 32),
  ];

  it('gives the marginal RSS per stream from the previous level, per repetition, then the median', () => {
    const rows = memoryRows([1000, 5000], ['pipe'], runs);
    expect(rows.map((r) => r.level)).toEqual([1000, 5000]);
    expect(rows[0]!.marginalRssPerStreamKb).toBeUndefined();
    // Repetitions: 80 MB / 4000, 84 MB / 4000, 60 MB / 4000 streams → median 80 MB ÷ 4000 = 20.48 KB.
    expect(rows[1]!.marginalRssPerStreamKb).toBeCloseTo((80 * 1024) / 4000, 6);
    expect(rows[1]!.youngMb).toEqual({ before: 4, after: 32 });
  });

  it('prints the young generation and the marginal figure, and a dash where there is none', () => {
    const rows = memoryRows([1000, 5000], ['pipe'], runs);
    const result = {
      version: 1,
      mode: 'quick',
      command: 'relay bench --quick',
      startedAt: '2026-12-05T00:00:00.000Z',
      finishedAt: '2026-12-05T00:01:00.000Z',
      durationMs: 60_000,
      machine: { cpuModel: 'x', cores: 2, node: 'v20', os: 'linux', memoryGb: 24, clockTicks: 100 },
      reps: 3,
      targets: ['pipe'],
      sizes: {},
      scenarios: {
        memory: { levels: [1000, 5000], pace: { tokens: 2000, ttftMs: 0, tps: 0.5 }, runs, rows },
      },
      errors: [],
      checks: { ok: true, streams: 1, failedStreams: 0, gaps: 0, duplicates: 0, failed: [] },
      background: { medianCores: 0, maxCores: 0 },
      goals: [],
    } as BenchResult;
    const md = renderMarkdown(result, 'x.json');
    expect(md).toContain('|  young gen MB |  marginal RSS KB/stream |');
    expect(md).toMatch(/\| pipe \| 1000 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| 4 → 32\.00 \| – \|/);
    expect(md).toMatch(/\| pipe \| 5000 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| 4 → 32\.00 \| 20\.48 \|/);
  });
});
