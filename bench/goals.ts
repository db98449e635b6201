/**
 * Issue 6's targets, each checked as a limit or a ratio measured in the same run, per transport.
 */
import type { BenchResult } from './result.js';
import type { LatencyRow } from './scenarios.js';

export interface Goal {
  readonly goal: string;
  readonly transport: string;
  readonly measured: string;
  readonly limit: string;
  /** null: not measured in this run (scenario or C not included). */
  readonly met: boolean | null;
}

const f = (v: number | null | undefined, unit = ''): string =>
  v === null || v === undefined || !Number.isFinite(v)
    ? 'n/a'
    : `${Math.abs(v) < 10 ? v.toFixed(3) : Math.abs(v) < 100 ? v.toFixed(2) : v.toFixed(1)}${unit}`;

const TRANSPORTS = ['sse', 'ws'] as const;

export function evaluateGoals(r: BenchResult): Goal[] {
  const goals: Goal[] = [];
  const { latency, throughput, burst, cancel, memory, resume } = r.scenarios;
  const limit = (goal: string, transport: string, v: number | null | undefined, max: number, unit: string) =>
    goals.push({
      goal,
      transport,
      measured: f(v, unit),
      limit: `≤ ${max} ${unit.trim()}`,
      met: v === null || v === undefined ? null : v <= max,
    });
  const ratio = (
    goal: string,
    transport: string,
    mine: number | null | undefined,
    ref: number | null | undefined,
    max: number,
    refName: string,
  ) => {
    const q = mine != null && ref != null && ref > 0 ? mine / ref : null;
    goals.push({
      goal,
      transport,
      measured: q === null ? 'n/a' : `${q.toFixed(2)}× (${f(mine)} vs ${refName} ${f(ref)})`,
      limit: `≤ ${max}× ${refName}`,
      met: q === null ? null : q <= max,
    });
  };

  const lat = (t: string, pick: (row: LatencyRow) => number | null, cs: (c: number) => boolean) => {
    const rows = latency?.rows.filter((row) => row.target === t && cs(row.c)) ?? [];
    const vs = rows.map(pick).filter((v): v is number => v !== null);
    return vs.length === 0 ? null : Math.max(...vs);
  };
  const pacedC =
    latency === undefined
      ? undefined
      : [...latency.rows.map((x) => x.c)].filter((c) => c <= 100).sort((a, b) => b - a)[0];

  for (const t of TRANSPORTS) {
    const fresh = lat(
      t,
      (x) => x.addedTtftP50,
      (c) => c === 1,
    );
    const open = lat(
      t,
      (x) => x.addedTtftSentP50,
      (c) => c === 1,
    );
    goals.push({
      goal: 'added time to first token, p50 at C = 1 (fresh connection per stream)',
      transport: t,
      measured: `${f(fresh, ' ms')} (on an open connection: ${f(open, ' ms')})`,
      limit: '≤ 2 ms',
      met: fresh === null ? null : fresh <= 2,
    });
  }
  for (const t of TRANSPORTS) {
    limit(
      'added per-token latency p50, C ≤ 10 (worst C)',
      t,
      lat(
        t,
        (x) => x.addedP50,
        (c) => c <= 10,
      ),
      0.5,
      ' ms',
    );
    limit(
      'added per-token latency p99, C ≤ 10 (worst C)',
      t,
      lat(
        t,
        (x) => x.addedP99,
        (c) => c <= 10,
      ),
      3,
      ' ms',
    );
    limit(
      'added per-token latency p99, C = 100',
      t,
      lat(
        t,
        (x) => x.addedP99,
        (c) => c === 100,
      ),
      10,
      ' ms',
    );
  }
  const pipePaced = latency?.rows.find((x) => x.target === 'pipe' && x.c === pacedC)?.cpuPer1k;
  const pipeBulk = throughput?.rows.find((x) => x.target === 'pipe')?.cpuPer1k;
  for (const t of TRANSPORTS) {
    const paced = latency?.rows.find((x) => x.target === t && x.c === pacedC)?.cpuPer1k;
    ratio(`relay CPU per 1000 tokens, paced (C = ${pacedC ?? '?'})`, t, paced, pipePaced, 1.25, 'pipe');
    const bulk = throughput?.rows.find((x) => x.target === t)?.cpuPer1k;
    ratio('relay CPU per 1000 tokens, bulk', t, bulk, pipeBulk, 1.25, 'pipe');
  }
  for (const t of TRANSPORTS) {
    limit(
      'relay CPU per stream start (burst)',
      t,
      burst?.rows.find((x) => x.target === t)?.cpuPerStreamMs,
      1.5,
      ' ms',
    );
  }
  for (const level of memory?.levels ?? []) {
    const pipe = memory?.rows.find((x) => x.target === 'pipe' && x.level === level)?.rssPerStreamKb;
    for (const t of TRANSPORTS) {
      ratio(
        `RSS per open stream, ${level} open`,
        t,
        memory?.rows.find((x) => x.target === t && x.level === level)?.rssPerStreamKb,
        pipe,
        1,
        'pipe',
      );
    }
  }
  for (const row of cancel?.rows ?? []) {
    if (!row.variant.startsWith('sse') && !row.variant.startsWith('ws')) continue;
    goals.push({
      goal: `cancel → upstream socket closed, p99 (${row.variant})`,
      transport: row.variant.split(' ')[0]!,
      measured: `${f(row.p99, ' ms')}${row.notClosed > 0 ? `, ${row.notClosed} never closed` : ''}`,
      limit: '≤ 5 ms',
      met: row.p99 === null ? null : row.p99 <= 5 && row.notClosed === 0,
    });
  }
  const within = (label: string, a: number | null | undefined, b: number | null | undefined) => {
    const q = a != null && b != null && Math.min(a, b) > 0 ? Math.abs(a - b) / Math.min(a, b) : null;
    goals.push({
      goal: `SSE and WebSocket within 15 % on CPU per token, ${label}`,
      transport: 'both',
      measured: q === null ? 'n/a' : `${(q * 100).toFixed(1)} % (sse ${f(a)} / ws ${f(b)} ms per 1k)`,
      limit: '≤ 15 %',
      met: q === null ? null : q <= 0.15,
    });
  };
  within(
    `paced (C = ${pacedC ?? '?'})`,
    latency?.rows.find((x) => x.target === 'sse' && x.c === pacedC)?.cpuPer1k,
    latency?.rows.find((x) => x.target === 'ws' && x.c === pacedC)?.cpuPer1k,
  );
  within(
    'bulk',
    throughput?.rows.find((x) => x.target === 'sse')?.cpuPer1k,
    throughput?.rows.find((x) => x.target === 'ws')?.cpuPer1k,
  );
  if (resume !== undefined) {
    for (const row of resume.rows) {
      goals.push({
        goal: 'resume: gaps and duplicates',
        transport: row.target,
        measured: `${row.gaps} gaps, ${row.duplicates} duplicates`,
        limit: '0',
        met: row.gaps === 0 && row.duplicates === 0 && row.ok === row.streams,
      });
    }
  }
  goals.push({
    goal: 'every stream complete and in order',
    transport: 'all',
    measured: `${r.checks.failedStreams} of ${r.checks.streams} streams failed`,
    limit: '0',
    met: r.checks.failedStreams === 0 && r.errors.length === 0,
  });
  return goals;
}
