/**
 * Issue 6's targets and issue 18's tighter ones (marked "(18)"), each checked as a limit or a ratio
 * measured in the same run, per transport.
 */
import type { BenchResult, Goal, Verdict } from './result.js';
import type { LatencyRow, LatencyRun } from './scenarios.js';

export type { Goal, Verdict } from './result.js';

/** Finer than this the latency histograms (µs) and hrtime stamps cannot tell two figures apart. */
const RESOLUTION_MS = 0.001;
/** Run-to-run variation of a latency figure on this machine (README, Benchmark: about ±20 %). */
const NOISE_FRACTION = 0.2;

/**
 * The verdict on an "added" figure below zero. Its noise band is the larger of: the measuring
 * resolution, the spread of the floor's (`direct`) same figure across this run's repetitions, and
 * NOISE_FRACTION of that figure. Inside the band → `noise` (indistinguishable from adding nothing);
 * beyond it → `measuring error` (the floor itself was disturbed, e.g. by background load, or a
 * stamp is wrong). Exported for tests.
 */
export function belowFloor(
  added: number,
  floor: readonly number[],
): { verdict: 'noise' | 'measuring error'; bandMs: number } {
  const sorted = [...floor].sort((a, b) => a - b);
  const spread = sorted.length > 1 ? sorted.at(-1)! - sorted[0]! : 0;
  const mid = sorted.length === 0 ? 0 : sorted[Math.floor(sorted.length / 2)]!;
  const bandMs = Math.max(RESOLUTION_MS, spread, NOISE_FRACTION * Math.abs(mid));
  return { verdict: -added <= bandMs ? 'noise' : 'measuring error', bandMs };
}

const verdictOf = (met: boolean | null): Verdict => (met === null ? 'not measured' : met ? 'met' : 'missed');

const f = (v: number | null | undefined, unit = ''): string =>
  v === null || v === undefined || !Number.isFinite(v)
    ? 'n/a'
    : `${Math.abs(v) < 10 ? v.toFixed(3) : Math.abs(v) < 100 ? v.toFixed(2) : v.toFixed(1)}${unit}`;

const TRANSPORTS = ['sse', 'ws'] as const;

/**
 * The spread of a figure across the run's repetitions, shown beside its median: `min–max` of the
 * per-repetition figures (a ratio is taken within each repetition, as the median's sides are
 * measured side by side in it). `1 rep` when there is one; undefined when there is none.
 * Exported for tests.
 */
export function spreadOf(
  perRep: readonly (number | null | undefined)[],
  unit = '',
  fmt: (v: number) => string = (v) => f(v),
): string | undefined {
  const values = perRep.filter((v): v is number => v !== null && v !== undefined && Number.isFinite(v));
  if (values.length === 0) return undefined;
  if (values.length === 1) return '1 rep';
  const min = Math.min(...values);
  const max = Math.max(...values);
  return `${fmt(min)}–${fmt(max)}${unit} over ${values.length} reps`;
}

/** `mine`'s figure ÷ `ref`'s, per repetition (null where either is missing). */
function perRepRatios<R extends { readonly rep: number; readonly target: string }>(
  runs: readonly R[],
  pick: (run: R) => number | null | undefined,
  mine: string,
  ref: string,
): (number | null)[] {
  const value = (target: string, rep: number): number | null => {
    const run = runs.find((r) => r.target === target && r.rep === rep);
    return run === undefined ? null : (pick(run) ?? null);
  };
  const reps = [...new Set(runs.map((r) => r.rep))].sort((a, b) => a - b);
  return reps.map((rep) => {
    const a = value(mine, rep);
    const b = value(ref, rep);
    return a === null || b === null || b <= 0 ? null : a / b;
  });
}

interface Worst {
  readonly value: number;
  readonly c: number;
}

export function evaluateGoals(r: BenchResult): Goal[] {
  const goals: Goal[] = [];
  const { latency, throughput, burst, cancel, memory, resume, bulk100, retained } = r.scenarios;
  const push = (g: Omit<Goal, 'verdict'>) => goals.push({ ...g, verdict: verdictOf(g.met) });
  const spreadField = (spread: string | undefined) => (spread === undefined ? {} : { spread });
  /** `perRep`: the figure in each repetition, for the spread beside the median `v`. */
  const limit = (
    goal: string,
    transport: string,
    v: number | null | undefined,
    max: number,
    unit: string,
    perRep?: readonly (number | null | undefined)[],
    suffix = '',
  ) =>
    push({
      goal,
      transport,
      measured: `${f(v, unit)}${suffix}`,
      limit: `≤ ${max} ${unit.trim()}`,
      met: v === null || v === undefined ? null : v <= max,
      ...spreadField(perRep === undefined ? undefined : spreadOf(perRep, unit)),
    });
  /** An "added" latency limit: a figure below the floor gets `noise` or `measuring error`, never `met`. */
  const addedLimit = (
    goal: string,
    transport: string,
    worst: Worst | null,
    max: number,
    pick: (run: LatencyRun) => number | null,
    suffix = '',
  ) => {
    if (worst === null || worst.value >= 0) {
      const v = worst?.value ?? null;
      push({
        goal,
        transport,
        measured: `${f(v, ' ms')}${suffix}`,
        limit: `≤ ${max} ms`,
        met: v === null ? null : v <= max,
      });
      return;
    }
    const floor = (latency?.runs ?? [])
      .filter((run) => run.target === 'direct' && run.c === worst.c)
      .map(pick)
      .filter((v): v is number => v !== null);
    const { verdict, bandMs } = belowFloor(worst.value, floor);
    goals.push({
      goal,
      transport,
      measured: `${f(worst.value, ' ms')}${suffix} — below the floor; ${verdict === 'noise' ? 'inside' : 'beyond'} its noise (±${f(bandMs, ' ms')})`,
      limit: `≤ ${max} ms`,
      met: null,
      verdict,
    });
  };
  const ratio = (
    goal: string,
    transport: string,
    mine: number | null | undefined,
    ref: number | null | undefined,
    max: number,
    refName: string,
    perRep?: readonly (number | null)[],
  ) => {
    const q = mine != null && ref != null && ref > 0 ? mine / ref : null;
    push({
      goal,
      transport,
      measured: q === null ? 'n/a' : `${q.toFixed(2)}× (${f(mine)} vs ${refName} ${f(ref)})`,
      limit: `≤ ${max}× ${refName}`,
      met: q === null ? null : q <= max,
      ...spreadField(perRep === undefined ? undefined : spreadOf(perRep, '×', (v) => v.toFixed(2))),
    });
  };

  /** The worst (largest) figure over the concurrencies `cs`, and the C it was measured at. */
  const lat = (
    t: string,
    pick: (row: LatencyRow) => number | null,
    cs: (c: number) => boolean,
  ): Worst | null => {
    let worst: Worst | null = null;
    for (const row of latency?.rows ?? []) {
      const value = row.target === t && cs(row.c) ? pick(row) : null;
      if (value !== null && (worst === null || value > worst.value)) worst = { value, c: row.c };
    }
    return worst;
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
    addedLimit(
      'added time to first token, p50 at C = 1 (fresh connection per stream)',
      t,
      fresh,
      2,
      (run) => run.ttft.p50,
      ` (on an open connection: ${f(open?.value ?? null, ' ms')})`,
    );
  }
  for (const t of TRANSPORTS) {
    const worst = (pick: (row: LatencyRow) => number | null, cs: (c: number) => boolean) => lat(t, pick, cs);
    addedLimit(
      'added per-token latency p50, C ≤ 10 (worst C)',
      t,
      worst(
        (x) => x.addedP50,
        (c) => c <= 10,
      ),
      0.5,
      (run) => run.token.p50,
    );
    addedLimit(
      'added per-token latency p99, C ≤ 10 (worst C)',
      t,
      worst(
        (x) => x.addedP99,
        (c) => c <= 10,
      ),
      3,
      (run) => run.token.p99,
    );
    addedLimit(
      'added per-token latency p99, C = 100',
      t,
      worst(
        (x) => x.addedP99,
        (c) => c === 100,
      ),
      10,
      (run) => run.token.p99,
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
    push({
      goal: `cancel → upstream socket closed, p99 (${row.variant})`,
      transport: row.variant.split(' ')[0]!,
      measured: `${f(row.p99, ' ms')}${row.notClosed > 0 ? `, ${row.notClosed} never closed` : ''}`,
      limit: '≤ 5 ms',
      met: row.p99 === null ? null : row.p99 <= 5 && row.notClosed === 0,
    });
  }
  const within = (label: string, a: number | null | undefined, b: number | null | undefined) => {
    const q = a != null && b != null && Math.min(a, b) > 0 ? Math.abs(a - b) / Math.min(a, b) : null;
    push({
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
      push({
        goal: 'resume: gaps and duplicates',
        transport: row.target,
        measured: `${row.gaps} gaps, ${row.duplicates} duplicates`,
        limit: '0',
        met: row.gaps === 0 && row.duplicates === 0 && row.ok === row.streams,
      });
    }
  }
  // Issue 18: performance, round two.
  for (const t of TRANSPORTS) {
    const paced = latency?.rows.find((x) => x.target === t && x.c === pacedC)?.cpuPer1k;
    const pacedRuns = (latency?.runs ?? []).filter((x) => x.c === pacedC);
    ratio(
      `(18) relay CPU per 1000 tokens, paced (C = ${pacedC ?? '?'})`,
      t,
      paced,
      pipePaced,
      1.4,
      'pipe',
      perRepRatios(pacedRuns, (x) => x.cpuPer1k, t, 'pipe'),
    );
    const bulk = throughput?.rows.find((x) => x.target === t)?.cpuPer1k;
    ratio(
      '(18) relay CPU per 1000 tokens, bulk',
      t,
      bulk,
      pipeBulk,
      1.2,
      'pipe',
      perRepRatios(throughput?.runs ?? [], (x) => x.cpuPer1k, t, 'pipe'),
    );
  }
  if (bulk100 !== undefined) {
    const cpu = (t: string) => bulk100.rows.find((x) => x.target === t)?.cpuPer1k;
    const runs = bulk100.runs ?? [];
    for (const t of TRANSPORTS)
      ratio(
        `(18) relay CPU per 1000 tokens, bulk C = ${bulk100.streams}`,
        t,
        cpu(t),
        cpu('pipe'),
        1.2,
        'pipe',
        perRepRatios(runs, (x) => x.cpuPer1k, t, 'pipe'),
      );
    ratio(
      `(18) WebSocket one socket per stream vs SSE, bulk CPU per token, C = ${bulk100.streams}`,
      'ws',
      cpu('ws'),
      cpu('sse'),
      1.15,
      'sse',
      perRepRatios(runs, (x) => x.cpuPer1k, 'ws', 'sse'),
    );
  }
  for (const t of TRANSPORTS) {
    const runs = burst?.runs ?? [];
    const direct = (rep: number) => runs.find((x) => x.target === 'direct' && x.rep === rep)?.ttft.p50;
    const row = burst?.rows.find((x) => x.target === t);
    limit(
      '(18) added time to first token p50, burst of streams started at once',
      t,
      row?.addedTtftP50,
      40,
      ' ms',
      runs
        .filter((x) => x.target === t)
        .map((x) => {
          const floor = direct(x.rep);
          return floor === undefined || floor === null
            ? null
            : x.ttft.p50 === null
              ? null
              : x.ttft.p50 - floor;
        }),
      // The same from the request on its connection: for WebSocket that leaves out the handshake
      // phase (every socket's upgrade, the relay's and the client's), which the verdict counts.
      row?.addedTtftSentP50 === undefined
        ? ''
        : ` (request on its connection: ${f(row.addedTtftSentP50, ' ms')})`,
    );
  }
  for (const level of memory?.levels ?? []) {
    const pipe = memory?.rows.find((x) => x.target === 'pipe' && x.level === level)?.rssPerStreamKb;
    for (const t of TRANSPORTS) {
      ratio(
        `(18) RSS per open stream, ${level} open`,
        t,
        memory?.rows.find((x) => x.target === t && x.level === level)?.rssPerStreamKb,
        pipe,
        1.25,
        'pipe',
        perRepRatios(
          (memory?.runs ?? []).filter((x) => x.level === level),
          (x) => x.rssPerStreamKb,
          t,
          'pipe',
        ),
      );
    }
  }
  for (const row of retained?.rows ?? []) {
    const q = row.heapPerSseByte;
    // The SSE bytes the row divided by (the heap's median over its ratio), applied to each repetition's heap.
    const sseKb = q === null || row.heapPerStreamKb === null ? null : row.heapPerStreamKb / q;
    const perRep = (retained?.runs ?? [])
      .filter((x) => x.target === row.target)
      .map((x) => (sseKb === null || sseKb <= 0 ? null : x.heapPerStreamKb / sseKb));
    push({
      goal: '(18) heap held per finished, retained stream ÷ its serialised SSE bytes',
      transport: row.target,
      measured:
        q === null
          ? 'n/a'
          : `${q.toFixed(2)}× (${f(row.heapPerStreamKb, ' KB')} for ${f(((row.heapPerStreamKb ?? 0) * 1024) / q / 1024, ' KB')} of SSE)`,
      limit: '≤ 1.5×',
      met: q === null ? null : q <= 1.5,
      ...spreadField(spreadOf(perRep, '×', (v) => v.toFixed(2))),
    });
  }
  push({
    goal: 'every stream complete and in order',
    transport: 'all',
    measured: `${r.checks.failedStreams} of ${r.checks.streams} streams failed`,
    limit: '0',
    met: r.checks.failedStreams === 0 && r.errors.length === 0,
  });
  return goals;
}
