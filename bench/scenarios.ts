/**
 * The six scenarios of issue 6. Each starts its own relay and pipe (so no scenario inherits
 * another's retained streams or heap), warms every target up, then runs every target in rotated
 * order for each repetition. Raw per-run numbers and the per-target medians are both returned.
 */
import { type Harness, type Measured, rotate, type SimRecord, sleep, type Target } from './harness.js';
import {
  curve,
  decode,
  encode,
  median,
  merge,
  newHistogram,
  type Percentiles,
  percentiles,
  recordNs,
} from './hist.js';
import type { ScenarioName } from './options.js';
import { cpuMs, rssBytes } from './procs.js';
import type { CancelHow, Pace } from './protocol.js';
import { promptIndex } from './protocol.js';

/** How long a paced stream lasts, ms. */
function durationMs(p: Pace): number {
  return p.ttftMs + (p.tps > 0 ? ((p.tokens - 1) * 1000) / p.tps : 0);
}

const per1k = (cpu: number | null, tokens: number): number | null =>
  cpu === null || tokens === 0 ? null : (cpu * 1000) / tokens;

/** Scenarios that run `ws-mux` (one shared WebSocket per job); the others measure one socket per stream. */
const MUX_SCENARIOS: readonly ScenarioName[] = ['bulk100'];
/** Scenarios that run `ws-batch` (batched frames, one socket per stream): the CPU-per-token ones. */
const BATCH_SCENARIOS: readonly ScenarioName[] = ['latency', 'throughput', 'bulk100'];

/** Starts this scenario's relay (under --cpu-prof when it is the profiled one) and pipe; warms up. */
async function prepare(h: Harness, scenario: ScenarioName): Promise<Target[]> {
  const names = h.opts.targets.filter(
    (t) =>
      (t !== 'ws-mux' || MUX_SCENARIOS.includes(scenario)) &&
      (t !== 'ws-batch' || BATCH_SCENARIOS.includes(scenario)),
  );
  const prof = h.opts.cpuProfDir;
  const flags =
    prof !== undefined && h.opts.cpuProfScenario === scenario ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [];
  if (names.some((t) => t === 'sse' || t.startsWith('ws'))) await h.startRelay(flags);
  if (names.includes('pipe')) await h.startPipe();
  const targets = h.targets([...names, ...h.opts.extra.map((e) => e.name)]);
  await h.warmUp(targets);
  await sleep(300);
  return targets;
}

const reps = (h: Harness, perRep = 1): number[] => Array.from({ length: h.opts.reps * perRep }, (_, i) => i);

// ---------------------------------------------------------------- 1. latency

export interface LatencyRun {
  readonly c: number;
  readonly target: string;
  readonly rep: number;
  readonly streams: number;
  readonly tokens: number;
  readonly ttft: Percentiles;
  /** TTFT from the request leaving on an established connection (WebSocket: the `start` frame). */
  readonly ttftSent: Percentiles;
  readonly token: Percentiles;
  readonly jitter: Percentiles;
  readonly cpuMs: number | null;
  readonly cpuPer1k: number | null;
  readonly simCpuMs: number;
  readonly clientCpuMs: number;
  readonly wallMs: number;
  /** CPU other processes on the machine used meanwhile, in cores (see Measured). */
  readonly foreignCores: number;
  readonly tokenHistogram: string;
}

export interface LatencyRow {
  readonly c: number;
  readonly target: string;
  readonly ttftP50: number | null;
  readonly addedTtftP50: number | null;
  readonly addedTtftP99: number | null;
  /** Added TTFT p50 without connection setup on either side (WebSocket: from the `start` frame). */
  readonly addedTtftSentP50: number | null;
  readonly tokenP50: number | null;
  readonly tokenP99: number | null;
  readonly addedP50: number | null;
  readonly addedP90: number | null;
  readonly addedP99: number | null;
  readonly addedMax: number | null;
  readonly jitterP50: number | null;
  readonly jitterP99: number | null;
  readonly cpuPer1k: number | null;
}

export interface LatencyData {
  readonly pace: Pace;
  readonly runs: LatencyRun[];
  readonly rows: LatencyRow[];
  /** Per C, per target: per-token latency percentile curve, histograms of every rep merged. */
  readonly curves: Record<number, Record<string, { p: number; ms: number }[]>>;
}

const diff = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : a - b);

/** Median over a target's repetitions of (its figure − `direct`'s in the same repetition). */
function addedOverDirect<R extends { readonly rep: number }>(
  mine: readonly R[],
  direct: (rep: number) => R | undefined,
  pick: (r: R) => number | null,
): number | null {
  return median(
    mine.map((r) => {
      const floor = direct(r.rep);
      return diff(pick(r), floor === undefined ? null : pick(floor));
    }),
  );
}

export async function latency(h: Harness): Promise<LatencyData> {
  const s = h.opts.sizes.latency;
  const targets = await prepare(h, 'latency');
  const runs: LatencyRun[] = [];
  for (const c of s.concurrency) {
    const rounds = s.rounds(c);
    const spread = s.spreadMs(c);
    for (const rep of reps(h)) {
      for (const target of rotate(targets, rep + c)) {
        h.log(`latency C=${c} ${target.name} rep ${rep + 1}`);
        const m = await h.job('latency', `C=${c}`, rep, target, {
          streams: c * rounds,
          concurrency: c,
          startSpreadMs: spread,
          pace: s.pace,
          action: { kind: 'complete' },
          timeoutMs: rounds * durationMs(s.pace) * 4 + spread + 30_000,
        });
        runs.push({
          c,
          target: target.name,
          rep,
          streams: c * rounds,
          tokens: m.result.tokens,
          ttft: percentiles(decode(m.result.ttftUs)),
          ttftSent: percentiles(decode(m.result.ttftSentUs)),
          token: percentiles(decode(m.result.tokenLatencyUs)),
          jitter: percentiles(decode(m.result.jitterUs)),
          cpuMs: m.targetCpuMs,
          cpuPer1k: per1k(m.targetCpuMs, m.result.tokens),
          simCpuMs: m.simCpuMs,
          clientCpuMs: m.clientCpuMs,
          wallMs: m.wallMs,
          foreignCores: m.foreignCores,
          tokenHistogram: m.result.tokenLatencyUs,
        });
        await sleep(200);
      }
    }
  }
  await h.stopServers();

  const rows: LatencyRow[] = [];
  const curves: LatencyData['curves'] = {};
  for (const c of s.concurrency) {
    curves[c] = {};
    for (const target of targets) {
      const mine = runs.filter((r) => r.c === c && r.target === target.name);
      const direct = (rep: number) => runs.find((r) => r.c === c && r.rep === rep && r.target === 'direct');
      const added = (pick: (r: LatencyRun) => number | null) => addedOverDirect(mine, direct, pick);
      rows.push({
        c,
        target: target.name,
        ttftP50: median(mine.map((r) => r.ttft.p50)),
        addedTtftP50: added((r) => r.ttft.p50),
        addedTtftP99: added((r) => r.ttft.p99),
        addedTtftSentP50: added((r) => r.ttftSent.p50),
        tokenP50: median(mine.map((r) => r.token.p50)),
        tokenP99: median(mine.map((r) => r.token.p99)),
        addedP50: added((r) => r.token.p50),
        addedP90: added((r) => r.token.p90),
        addedP99: added((r) => r.token.p99),
        addedMax: added((r) => r.token.max),
        jitterP50: median(mine.map((r) => r.jitter.p50)),
        jitterP99: median(mine.map((r) => r.jitter.p99)),
        cpuPer1k: median(mine.map((r) => r.cpuPer1k)),
      });
      curves[c]![target.name] = curve(merge(mine.map((r) => r.tokenHistogram)));
    }
  }
  return { pace: s.pace, runs, rows, curves };
}

// ---------------------------------------------------------------- 2. throughput

export interface ThroughputRun {
  readonly target: string;
  readonly rep: number;
  readonly tokens: number;
  readonly wallMs: number;
  readonly tokensPerSec: number;
  readonly cpuMs: number | null;
  readonly cpuPer1k: number | null;
  readonly simCpuMs: number;
  readonly clientCpuMs: number;
  readonly foreignCores: number;
}

export interface ThroughputRow {
  readonly target: string;
  readonly tokensPerSec: number | null;
  readonly cpuPer1k: number | null;
  readonly simCpuPer1k: number | null;
  readonly clientCpuPer1k: number | null;
}

export interface ThroughputData {
  readonly streams: number;
  readonly pace: Pace;
  /** Repetitions per target (the run's `--reps`, times the scenario's `repsPerRep`); absent in older files. */
  readonly reps?: number;
  readonly runs: ThroughputRun[];
  readonly rows: ThroughputRow[];
}

export function throughput(h: Harness): Promise<ThroughputData> {
  return bulk(h, 'throughput', h.opts.sizes.throughput);
}

/**
 * Bulk at C = 100: where one WebSocket per stream (`ws`, what clients usually open) and one
 * shared WebSocket (`ws-mux`) part ways on per-socket costs.
 */
export function bulk100(h: Harness): Promise<ThroughputData> {
  return bulk(h, 'bulk100', h.opts.sizes.bulk100);
}

/** Every stream at once, no pacing: tokens per second and CPU per 1000 tokens. */
async function bulk(
  h: Harness,
  scenario: 'throughput' | 'bulk100',
  s: { readonly streams: number; readonly pace: Pace; readonly repsPerRep?: number },
): Promise<ThroughputData> {
  const targets = await prepare(h, scenario);
  const runs: ThroughputRun[] = [];
  const repList = reps(h, s.repsPerRep);
  for (const rep of repList) {
    for (const target of rotate(targets, rep)) {
      h.log(`${scenario} ${target.name} rep ${rep + 1}`);
      const m = await h.job(scenario, `${s.streams}x${s.pace.tokens}`, rep, target, {
        streams: s.streams,
        concurrency: s.streams,
        startSpreadMs: 0,
        pace: s.pace,
        action: { kind: 'complete' },
        timeoutMs: 60_000,
      });
      runs.push({
        target: target.name,
        rep,
        tokens: m.result.tokens,
        wallMs: m.wallMs,
        tokensPerSec: m.wallMs > 0 ? (m.result.tokens * 1000) / m.wallMs : 0,
        cpuMs: m.targetCpuMs,
        cpuPer1k: per1k(m.targetCpuMs, m.result.tokens),
        simCpuMs: m.simCpuMs,
        clientCpuMs: m.clientCpuMs,
        foreignCores: m.foreignCores,
      });
      await sleep(200);
    }
  }
  // SIGTERM lets the relay exit cleanly, which is when --cpu-prof writes its file.
  await h.stopServers();
  const rows = targets.map((t): ThroughputRow => {
    const mine = runs.filter((r) => r.target === t.name);
    return {
      target: t.name,
      tokensPerSec: median(mine.map((r) => r.tokensPerSec)),
      cpuPer1k: median(mine.map((r) => r.cpuPer1k)),
      simCpuPer1k: median(mine.map((r) => per1k(r.simCpuMs, r.tokens))),
      clientCpuPer1k: median(mine.map((r) => per1k(r.clientCpuMs, r.tokens))),
    };
  });
  return { streams: s.streams, pace: s.pace, reps: repList.length, runs, rows };
}

// ---------------------------------------------------------------- 3. start burst

export interface BurstRun {
  readonly target: string;
  readonly rep: number;
  readonly streams: number;
  readonly ttft: Percentiles;
  /**
   * TTFT from the request on its connection (WebSocket: the `start` frame on the open socket; HTTP:
   * its TCP connection made): the WebSocket handshake left out. Absent in results before it.
   */
  readonly ttftSent?: Percentiles;
  /** Median over the bursts of (slowest − fastest first token). */
  readonly spreadMs: number | null;
  readonly cpuMs: number | null;
  readonly cpuPerStreamMs: number | null;
}

export interface BurstRow {
  readonly target: string;
  readonly ttftP50: number | null;
  /** TTFT p50 − `direct`'s in the same repetition, median over repetitions. */
  readonly addedTtftP50: number | null;
  /** The same from the request on its connection (see BurstRun.ttftSent). Absent in results before it. */
  readonly addedTtftSentP50?: number | null;
  readonly ttftP99: number | null;
  readonly ttftMax: number | null;
  readonly spreadMs: number | null;
  readonly cpuPerStreamMs: number | null;
}

export interface BurstData {
  readonly streams: number;
  readonly bursts: number;
  readonly pace: Pace;
  readonly runs: BurstRun[];
  readonly rows: BurstRow[];
}

export async function burst(h: Harness): Promise<BurstData> {
  const s = h.opts.sizes.burst;
  const targets = await prepare(h, 'burst');
  const runs: BurstRun[] = [];
  for (const rep of reps(h)) {
    for (const target of rotate(targets, rep)) {
      h.log(`burst ${target.name} rep ${rep + 1}`);
      const measured: Measured[] = [];
      const cpu0 = target.pid === undefined ? 0 : cpuMs(target.pid);
      for (let b = 0; b < s.bursts; b++) {
        measured.push(
          await h.job('burst', `${s.streams} at once`, rep, target, {
            streams: s.streams,
            concurrency: s.streams,
            startSpreadMs: 0,
            pace: s.pace,
            action: { kind: 'complete' },
            timeoutMs: 30_000,
          }),
        );
        await sleep(300);
      }
      // Measured across the bursts and the pauses between them: what the starts cost in total.
      const cpu = target.pid === undefined ? null : cpuMs(target.pid) - cpu0;
      const ttfts = measured.map((m) => decode(m.result.ttftUs));
      const all = merge(ttfts.map(encode), 4);
      const sent = merge(
        measured.map((m) => m.result.ttftSentUs),
        4,
      );
      runs.push({
        target: target.name,
        rep,
        streams: s.streams * s.bursts,
        ttft: percentiles(all),
        ttftSent: percentiles(sent),
        spreadMs: median(
          ttfts.map((t) => (t.totalCount === 0 ? null : (t.maxValue - t.getValueAtPercentile(0)) / 1000)),
        ),
        cpuMs: cpu,
        cpuPerStreamMs: cpu === null ? null : cpu / (s.streams * s.bursts),
      });
    }
  }
  await h.stopServers();
  const rows = targets.map((t): BurstRow => {
    const mine = runs.filter((r) => r.target === t.name);
    const direct = (rep: number) => runs.find((r) => r.rep === rep && r.target === 'direct');
    const added = (pick: (r: BurstRun) => number | null) =>
      t.name === 'direct' ? null : addedOverDirect(mine, direct, pick);
    return {
      target: t.name,
      ttftP50: median(mine.map((r) => r.ttft.p50)),
      addedTtftP50: added((r) => r.ttft.p50),
      addedTtftSentP50: added((r) => r.ttftSent?.p50 ?? null),
      ttftP99: median(mine.map((r) => r.ttft.p99)),
      ttftMax: median(mine.map((r) => r.ttft.max)),
      spreadMs: median(mine.map((r) => r.spreadMs)),
      cpuPerStreamMs: median(mine.map((r) => r.cpuPerStreamMs)),
    };
  });
  return { streams: s.streams, bursts: s.bursts, pace: s.pace, runs, rows };
}

// ---------------------------------------------------------------- 4. cancel

interface CancelVariant {
  readonly name: string;
  readonly target: Target;
  readonly how: CancelHow;
  readonly onDisconnect?: 'abort';
}

export interface CancelRun {
  readonly variant: string;
  readonly target: string;
  readonly rep: number;
  readonly streams: number;
  /** Client's cancel → simulator saw its socket close (same monotonic clock). */
  readonly close: Percentiles;
  /** Tokens the upstream wrote after the client cancelled (beyond the last one it had seen). */
  readonly tokensAfterMean: number | null;
  readonly tokensAfterMax: number | null;
  /** Upstream requests that never saw their client leave (ran to completion): cancel did not propagate. */
  readonly notClosed: number;
  /** False when none of the job's requests reached the bench's simulator (a --target on another upstream). */
  readonly observed: boolean;
}

export interface CancelRow {
  readonly variant: string;
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly max: number | null;
  readonly tokensAfterMean: number | null;
  readonly tokensAfterMax: number | null;
  readonly notClosed: number;
  readonly observed: boolean;
}

export interface CancelData {
  readonly streams: number;
  readonly pace: Pace;
  readonly afterTokens: number;
  readonly runs: CancelRun[];
  readonly rows: CancelRow[];
}

export async function cancel(h: Harness): Promise<CancelData> {
  const s = h.opts.sizes.cancel;
  const targets = await prepare(h, 'cancel');
  const variants: CancelVariant[] = [];
  for (const t of targets) {
    if (t.name === 'ws') variants.push({ name: 'ws cancel frame', target: t, how: 'ws-cancel' });
    else if (t.name === 'sse') {
      variants.push({ name: 'sse cancel route', target: t, how: 'sse-cancel' });
      variants.push({ name: 'sse disconnect (abort)', target: t, how: 'disconnect', onDisconnect: 'abort' });
    } else variants.push({ name: `${t.name} disconnect`, target: t, how: 'disconnect' });
  }
  const runs: CancelRun[] = [];
  for (const rep of reps(h)) {
    for (const v of rotate(variants, rep)) {
      h.log(`cancel ${v.name} rep ${rep + 1}`);
      const m = await h.job('cancel', v.name, rep, v.target, {
        streams: s.streams,
        concurrency: s.streams,
        startSpreadMs: 200,
        pace: s.pace,
        action: { kind: 'cancel', afterTokens: s.afterTokens, how: v.how },
        ...(v.onDisconnect === undefined ? {} : { onDisconnect: v.onDisconnect }),
        timeoutMs: durationMs(s.pace) * 2 + 30_000,
      });
      const records = await h.simRecords(m.tag, s.streams);
      runs.push(cancelRun(v, rep, m, records));
      await sleep(200);
    }
  }
  await h.stopServers();
  const rows = variants.map((v): CancelRow => {
    const mine = runs.filter((r) => r.variant === v.name);
    return {
      variant: v.name,
      p50: median(mine.map((r) => r.close.p50)),
      p90: median(mine.map((r) => r.close.p90)),
      p99: median(mine.map((r) => r.close.p99)),
      max: median(mine.map((r) => r.close.max)),
      tokensAfterMean: median(mine.map((r) => r.tokensAfterMean)),
      tokensAfterMax: median(mine.map((r) => r.tokensAfterMax)),
      notClosed: mine.reduce((n, r) => n + r.notClosed, 0),
      observed: mine.some((r) => r.observed),
    };
  });
  return { streams: s.streams, pace: s.pace, afterTokens: s.afterTokens, runs, rows };
}

function cancelRun(v: CancelVariant, rep: number, m: Measured, records: readonly SimRecord[]): CancelRun {
  const byIndex = new Map<number, SimRecord>();
  for (const r of records) {
    const i = r.prompt === null ? undefined : promptIndex(r.prompt, m.tag);
    if (i !== undefined) byIndex.set(i, r);
  }
  const close = newHistogram();
  const after: number[] = [];
  let notClosed = 0;
  for (const trace of m.result.cancels) {
    const rec = byIndex.get(trace.index);
    if (rec?.clientClosedAtNs == null) {
      notClosed++;
      continue;
    }
    recordNs(close, Number(BigInt(rec.clientClosedAtNs) - BigInt(trace.cancelAtNs)));
    after.push(Math.max(0, rec.tokensSent - trace.seenTokens));
  }
  return {
    variant: v.name,
    target: v.target.name,
    rep,
    streams: m.result.streams,
    close: percentiles(close),
    tokensAfterMean: after.length === 0 ? null : after.reduce((a, b) => a + b, 0) / after.length,
    tokensAfterMax: after.length === 0 ? null : Math.max(...after),
    notClosed: byIndex.size === 0 ? 0 : notClosed,
    observed: byIndex.size > 0,
  };
}

// ---------------------------------------------------------------- 5. resume

export interface ResumeRun {
  readonly target: string;
  readonly rep: number;
  readonly streams: number;
  readonly ok: number;
  readonly replay: Percentiles;
  readonly gaps: number;
  readonly duplicates: number;
}

export interface ResumeRow {
  readonly target: string;
  readonly replayP50: number | null;
  readonly replayP99: number | null;
  readonly replayMax: number | null;
  readonly gaps: number;
  readonly duplicates: number;
  readonly streams: number;
  readonly ok: number;
}

export interface ResumeData {
  readonly streams: number;
  readonly pace: Pace;
  readonly afterTokens: number;
  readonly pauseMs: number;
  readonly runs: ResumeRun[];
  readonly rows: ResumeRow[];
}

export async function resume(h: Harness): Promise<ResumeData> {
  const s = h.opts.sizes.resume;
  const targets = (await prepare(h, 'resume')).filter((t) => t.name === 'sse' || t.name === 'ws');
  const runs: ResumeRun[] = [];
  for (const rep of reps(h)) {
    for (const target of rotate(targets, rep)) {
      h.log(`resume ${target.name} rep ${rep + 1}`);
      const m = await h.job('resume', 'drop and resume', rep, target, {
        streams: s.streams,
        concurrency: s.streams,
        startSpreadMs: 100,
        pace: s.pace,
        action: { kind: 'resume', afterTokens: s.afterTokens, pauseMs: s.pauseMs },
        onDisconnect: 'grace',
        timeoutMs: durationMs(s.pace) * 2 + s.pauseMs + 30_000,
      });
      runs.push({
        target: target.name,
        rep,
        streams: m.result.streams,
        ok: m.result.ok,
        replay: percentiles(decode(m.result.replayUs)),
        gaps: m.result.gaps,
        duplicates: m.result.duplicates,
      });
      await sleep(200);
    }
  }
  await h.stopServers();
  const rows = targets.map((t): ResumeRow => {
    const mine = runs.filter((r) => r.target === t.name);
    return {
      target: t.name,
      replayP50: median(mine.map((r) => r.replay.p50)),
      replayP99: median(mine.map((r) => r.replay.p99)),
      replayMax: median(mine.map((r) => r.replay.max)),
      gaps: mine.reduce((n, r) => n + r.gaps, 0),
      duplicates: mine.reduce((n, r) => n + r.duplicates, 0),
      streams: mine.reduce((n, r) => n + r.streams, 0),
      ok: mine.reduce((n, r) => n + r.ok, 0),
    };
  });
  return { streams: s.streams, pace: s.pace, afterTokens: s.afterTokens, pauseMs: s.pauseMs, runs, rows };
}

// ---------------------------------------------------------------- 6. memory

export interface MemoryRun {
  readonly target: string;
  readonly rep: number;
  readonly level: number;
  readonly open: number;
  readonly baselineRssMb: number;
  readonly rssMb: number;
  readonly heapMb: number;
  readonly rssPerStreamKb: number;
  readonly heapPerStreamKb: number;
  /** The young generation's committed MB before the first level and at this one (absent in older files). */
  readonly baselineYoungMb?: number;
  readonly youngMb?: number;
  readonly gc: boolean;
}

export interface MemoryRow {
  readonly target: string;
  readonly level: number;
  readonly rssPerStreamKb: number | null;
  readonly heapPerStreamKb: number | null;
  readonly rssMb: number | null;
  /**
   * RSS per stream added between the previous level and this one, (rss − rss before) ÷ streams
   * added, in the same process: the per-stream cost without a young generation that grew during the
   * warm-up in one process and during the first level in another (absent for the first level).
   */
  readonly marginalRssPerStreamKb?: number | null;
  /** The young generation's committed MB, before the first level → at this one (medians). */
  readonly youngMb?: { readonly before: number | null; readonly after: number | null };
}

export interface MemoryData {
  readonly levels: readonly number[];
  readonly pace: Pace;
  readonly runs: MemoryRun[];
  readonly rows: MemoryRow[];
}

const MB = 1024 * 1024;

export async function memory(h: Harness): Promise<MemoryData> {
  const s = h.opts.sizes.memory;
  const names = h.opts.targets.filter((t) => t === 'sse' || t === 'ws' || t === 'pipe');
  const runs: MemoryRun[] = [];
  for (const rep of reps(h)) {
    for (const name of rotate(names, rep)) {
      h.log(`memory ${name} rep ${rep + 1}`);
      // A fresh process per measurement: nothing left from other streams in its heap.
      const server = name === 'pipe' ? await h.startPipe() : await h.startRelay();
      const target = h.targets([name])[0]!;
      await h.warmUp([target]);
      await sleep(500);
      const base = await server.memory();
      const baseRss = rssBytes(server.pid);
      const held: { done: Promise<unknown>; release: () => void }[] = [];
      let open = 0;
      try {
        for (const level of s.levels) {
          const more = level - open;
          if (more <= 0) continue;
          const hold = await h.holdJob('memory', `${level} open`, rep, target, {
            streams: more,
            concurrency: more,
            startSpreadMs: more / s.startsPerMs,
            pace: s.pace,
            action: { kind: 'hold' },
            onDisconnect: 'abort',
            timeoutMs: more / s.startsPerMs + 60_000,
          });
          held.push({ done: hold.wait, release: hold.release });
          open += hold.open;
          await sleep(1000);
          const mem = await server.memory();
          const rss = rssBytes(server.pid);
          runs.push({
            target: name,
            rep,
            level,
            open,
            baselineRssMb: baseRss / MB,
            rssMb: rss / MB,
            heapMb: mem.heapUsed / MB,
            rssPerStreamKb: (rss - baseRss) / Math.max(1, open) / 1024,
            heapPerStreamKb: (mem.heapUsed - base.heapUsed) / Math.max(1, open) / 1024,
            baselineYoungMb: base.youngBytes / MB,
            youngMb: mem.youngBytes / MB,
            gc: mem.gc,
          });
        }
      } finally {
        for (const hj of held) hj.release();
        await Promise.allSettled(held.map((hj) => hj.done));
        await h.stopServers();
      }
    }
  }
  return { levels: s.levels, pace: s.pace, runs, rows: memoryRows(s.levels, names, runs) };
}

/** Medians per target and level, and the marginal RSS per stream from one level to the next. */
export function memoryRows(
  levels: readonly number[],
  names: readonly string[],
  runs: readonly MemoryRun[],
): MemoryRow[] {
  const rows: MemoryRow[] = [];
  levels.forEach((level, i) => {
    for (const name of names) {
      const mine = runs.filter((r) => r.target === name && r.level === level);
      const marginal: number[] = [];
      if (i > 0) {
        for (const run of mine) {
          const before = runs.find(
            (r) => r.target === name && r.rep === run.rep && r.level === levels[i - 1],
          );
          if (before !== undefined && run.open > before.open) {
            marginal.push(((run.rssMb - before.rssMb) * 1024) / (run.open - before.open));
          }
        }
      }
      const young = (pick: (r: MemoryRun) => number | undefined): number | null =>
        median(mine.map(pick).filter((v): v is number => v !== undefined));
      rows.push({
        target: name,
        level,
        rssPerStreamKb: median(mine.map((r) => r.rssPerStreamKb)),
        heapPerStreamKb: median(mine.map((r) => r.heapPerStreamKb)),
        rssMb: median(mine.map((r) => r.rssMb)),
        ...(i > 0 ? { marginalRssPerStreamKb: median(marginal) } : {}),
        youngMb: { before: young((r) => r.baselineYoungMb), after: young((r) => r.youngMb) },
      });
    }
  });
  return rows;
}

// ---------------------------------------------------------------- 8. retained

export interface RetainedRun {
  readonly target: string;
  readonly rep: number;
  readonly streams: number;
  /** Bytes the client received per stream on this target (SSE body, WebSocket payloads). */
  readonly bytesPerStream: number;
  readonly rssPerStreamKb: number;
  readonly heapPerStreamKb: number;
  readonly gc: boolean;
}

export interface RetainedRow {
  readonly target: string;
  readonly streams: number;
  readonly bytesPerStream: number | null;
  readonly rssPerStreamKb: number | null;
  readonly heapPerStreamKb: number | null;
  /** Heap held per retained stream ÷ the SSE bytes of that stream (sse runs' median bytes). */
  readonly heapPerSseByte: number | null;
}

export interface RetainedData {
  readonly streams: number;
  readonly pace: Pace;
  readonly runs: RetainedRun[];
  readonly rows: RetainedRow[];
}

/**
 * Memory a finished stream holds while it stays resumable (RELAY_RETENTION_MS): a fresh relay, a
 * warm-up, a forced GC, N complete streams, a forced GC; heap and RSS growth per stream, against
 * the bytes its events take serialised as SSE. GC and `memoryUsage()` come through the bench's
 * preload (`--expose-gc` in the bench only), so the relay has no debug route for it.
 */
export async function retained(h: Harness): Promise<RetainedData> {
  const s = h.opts.sizes.retained;
  const names = h.opts.targets.filter((t) => t === 'sse' || t === 'ws');
  const runs: RetainedRun[] = [];
  for (const rep of reps(h)) {
    for (const name of rotate(names, rep)) {
      h.log(`retained ${name} rep ${rep + 1}`);
      const server = await h.startRelay();
      try {
        const target = h.targets([name])[0]!;
        await h.warmUp([target]);
        await sleep(300);
        const base = await server.memory();
        const baseRss = rssBytes(server.pid);
        const m = await h.job('retained', `${s.streams} finished`, rep, target, {
          streams: s.streams,
          concurrency: s.concurrency,
          startSpreadMs: 0,
          pace: s.pace,
          action: { kind: 'complete' },
          timeoutMs: 60_000,
        });
        await sleep(300);
        const mem = await server.memory();
        const rss = rssBytes(server.pid);
        runs.push({
          target: name,
          rep,
          streams: s.streams,
          bytesPerStream: m.result.bytes / Math.max(1, m.result.streams),
          rssPerStreamKb: (rss - baseRss) / s.streams / 1024,
          heapPerStreamKb: (mem.heapUsed - base.heapUsed) / s.streams / 1024,
          gc: mem.gc,
        });
      } finally {
        await h.stopServers();
      }
    }
  }
  const sseBytes = median(runs.filter((r) => r.target === 'sse').map((r) => r.bytesPerStream));
  const rows = names.map((name): RetainedRow => {
    const mine = runs.filter((r) => r.target === name);
    const heap = median(mine.map((r) => r.heapPerStreamKb));
    const bytes = sseBytes ?? median(mine.map((r) => r.bytesPerStream));
    return {
      target: name,
      streams: s.streams,
      bytesPerStream: median(mine.map((r) => r.bytesPerStream)),
      rssPerStreamKb: median(mine.map((r) => r.rssPerStreamKb)),
      heapPerStreamKb: heap,
      heapPerSseByte: heap === null || bytes === null || bytes === 0 ? null : (heap * 1024) / bytes,
    };
  });
  return { streams: s.streams, pace: s.pace, runs, rows };
}
