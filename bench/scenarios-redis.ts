/**
 * Scenario `redis` (issue 14's targets): several relay instances on one Redis, measured side by
 * side in one run against the same simulator.
 *
 * - **CPU**: relay CPU per 1,000 paced tokens of a relay with `REDIS_URL` (the generating instance)
 *   beside a relay without, the same job on each in rotated order (target ≤ 1.3×). The second
 *   instance's and redis-server's CPU over the same job are reported too.
 * - **Reader on B**: each stream is started (and read) on instance A, and read at the same time on
 *   instance B through `GET /v1/streams/:id/events`; per-token latency p50 of B's readers minus A's
 *   (target ≤ +1 ms). The first tokens are left out on both sides (B's reader may still be
 *   attaching while they are written).
 * - **Cancel on B**: streams generated on A are cancelled with `POST /v1/streams/:id/cancel` on B;
 *   client's cancel → the simulator saw the upstream socket close, p99 (target ≤ 10 ms); the same
 *   cancel on A beside it for reference.
 *
 * It starts its own redis-server (bench/redis-server.ts: a free port, persistence off; tracked like
 * every child, and killed by the kernel if the bench is killed outright) and three relays; without redis-server it is skipped with a line that
 * says so. The readers and cancels run in the orchestrator (idle otherwise during this scenario) on
 * the load client's own wire functions.
 */

import { RELAY_NODE_FLAGS } from '../src/runtime-flags.js';
import type { Check, Harness, Target } from './harness.js';
import { sleep } from './harness.js';
import { type Histogram, median, newHistogram, type Percentiles, percentiles, recordNs } from './hist.js';
import { childPath, cpuMsOr0, findOnPath, type ServerProcess, startServer, track } from './procs.js';
import { benchPrompt, type Pace, promptIndex, type TargetSpec } from './protocol.js';
import { startRedisServer } from './redis-server.js';
import { relayRequest, relaySseCancel, relaySseResume, relaySseStream } from './wire-clients.js';

interface RedisSizes {
  readonly cpu: { readonly streams: number; readonly pace: Pace };
  readonly readers: { readonly streams: number; readonly pace: Pace; readonly skipTokens: number };
  readonly cancel: { readonly streams: number; readonly pace: Pace; readonly afterTokens: number };
}

const SIZES: Record<'full' | 'quick' | 'smoke', RedisSizes> = {
  full: {
    cpu: { streams: 200, pace: { tokens: 200, ttftMs: 100, tps: 60 } },
    readers: { streams: 50, pace: { tokens: 200, ttftMs: 300, tps: 60 }, skipTokens: 3 },
    cancel: { streams: 50, pace: { tokens: 200, ttftMs: 50, tps: 60 }, afterTokens: 10 },
  },
  quick: {
    cpu: { streams: 100, pace: { tokens: 100, ttftMs: 100, tps: 60 } },
    readers: { streams: 20, pace: { tokens: 100, ttftMs: 300, tps: 60 }, skipTokens: 3 },
    cancel: { streams: 20, pace: { tokens: 200, ttftMs: 50, tps: 60 }, afterTokens: 10 },
  },
  smoke: {
    cpu: { streams: 4, pace: { tokens: 40, ttftMs: 20, tps: 200 } },
    readers: { streams: 2, pace: { tokens: 40, ttftMs: 200, tps: 200 }, skipTokens: 3 },
    cancel: { streams: 2, pace: { tokens: 100, ttftMs: 10, tps: 100 }, afterTokens: 5 },
  },
};

export interface RedisGoal {
  readonly goal: string;
  readonly measured: string;
  readonly limit: string;
  readonly met: boolean | null;
}

export interface RedisData {
  /** Why nothing was measured (no redis-server). */
  readonly skipped?: string;
  readonly sizes?: RedisSizes;
  readonly cpu?: {
    readonly runs: {
      readonly target: 'without redis' | 'with redis';
      readonly rep: number;
      readonly tokens: number;
      readonly cpuPer1k: number | null;
      /** The other instance (B) and redis-server over the same job, per 1,000 tokens of it. */
      readonly otherInstancePer1k: number | null;
      readonly redisServerPer1k: number | null;
    }[];
    readonly withoutPer1k: number | null;
    readonly withPer1k: number | null;
    readonly ratio: number | null;
  };
  readonly readers?: {
    readonly runs: { readonly rep: number; readonly onA: Percentiles; readonly onB: Percentiles }[];
    readonly p50A: number | null;
    readonly p50B: number | null;
    readonly addedP50: number | null;
  };
  readonly cancel?: {
    readonly runs: {
      readonly where: 'B (other instance)' | 'A (generating instance)';
      readonly rep: number;
      readonly close: Percentiles;
      readonly notClosed: number;
    }[];
    readonly p99B: number | null;
    readonly p99A: number | null;
  };
  readonly goals: RedisGoal[];
}

export async function redis(h: Harness): Promise<RedisData> {
  const binary = findOnPath('redis-server');
  if (binary === undefined) {
    const skipped = 'redis-server not found on PATH (apt-get install redis-server); scenario skipped';
    h.log(`redis: ${skipped}`);
    return { skipped, goals: [] };
  }
  const sizes = SIZES[h.opts.mode];
  // Tracked like every child: any way out of the bench kills it.
  const server = await startRedisServer(binary, { onSpawn: track });
  h.log(`redis-server pid ${server.pid} at ${server.url}`);
  const started: ServerProcess[] = [];
  try {
    const relay = async (name: string, redisUrl: string | undefined): Promise<ServerProcess> => {
      const p = await startServer({
        name,
        nodeFlags: ['--expose-gc', ...RELAY_NODE_FLAGS],
        script: childPath('bin/relay.js'),
        args: ['serve', '--port', '0', '--host', '127.0.0.1'],
        env: {
          ANTHROPIC_BASE_URL: h.sim.url,
          ANTHROPIC_API_KEY: 'bench-dummy-key',
          RELAY_LOG_LEVEL: 'warn',
          RELAY_DRAIN_MS: '1000',
          ...(redisUrl === undefined ? {} : { REDIS_URL: redisUrl }),
        },
      });
      started.push(p);
      h.log(`${name} pid ${p.pid} at ${p.url}`);
      return p;
    };
    const plain = await relay('relay (no redis)', undefined);
    const a = await relay('relay A (redis)', server.url);
    const b = await relay('relay B (redis)', server.url);
    const target = (name: string, p: ServerProcess): Target => ({
      name,
      spec: { name, protocol: 'relay-sse', url: p.url, ...authHeaders() },
      pid: p.pid,
    });
    const targets = { plain: target('sse', plain), a: target('sse+redis A', a), b: target('sse+redis B', b) };
    await h.warmUp([targets.plain, targets.a, targets.b]);
    await sleep(300);

    const cpu = await measureCpu(h, sizes, targets.plain, targets.a, b.pid, server.pid);
    const readers = await measureReaders(h, sizes, targets.a.spec, targets.b.spec);
    const cancel = await measureCancel(h, sizes, targets.a.spec, targets.b.spec);
    const goals: RedisGoal[] = [
      {
        goal: 'relay CPU per 1,000 paced tokens, with Redis ÷ without',
        measured: fmt(cpu.ratio, '×'),
        limit: '≤ 1.3×',
        met: cpu.ratio === null ? null : cpu.ratio <= 1.3,
      },
      {
        goal: 'per-token latency p50, reader on B − reader on A (same streams)',
        measured: fmt(readers.addedP50, ' ms'),
        limit: '≤ 1 ms',
        met: readers.addedP50 === null ? null : readers.addedP50 <= 1,
      },
      {
        goal: 'cancel on B → upstream socket closed, p99',
        measured: fmt(cancel.p99B, ' ms'),
        limit: '≤ 10 ms',
        met: cancel.p99B === null ? null : cancel.p99B <= 10,
      },
    ];
    for (const g of goals) h.log(`redis: ${g.goal}: ${g.measured} (${g.limit})`);
    return { sizes, cpu, readers, cancel, goals };
  } finally {
    await Promise.all(started.map((p) => p.stop()));
    await server.stop();
  }
}

function authHeaders(): { headers?: Record<string, string> } {
  // With auth on (RELAY_API_KEYS or RELAY_KEYS_FILE for the relay), RELAY_KEY is the client's key.
  const key = process.env.RELAY_KEY;
  return key ? { headers: { 'x-api-key': key } } : {};
}

const fmt = (v: number | null, unit: string): string => (v === null ? 'n/a' : `${v.toFixed(3)}${unit}`);
const per1k = (cpuMs: number, tokens: number): number | null =>
  tokens === 0 ? null : (cpuMs * 1000) / tokens;
const durationMs = (p: Pace): number => p.ttftMs + (p.tps > 0 ? ((p.tokens - 1) * 1000) / p.tps : 0);

async function measureCpu(
  h: Harness,
  sizes: RedisSizes,
  plain: Target,
  withRedis: Target,
  otherPid: number,
  redisPid: number | undefined,
): Promise<NonNullable<RedisData['cpu']>> {
  const { streams, pace } = sizes.cpu;
  const runs: NonNullable<RedisData['cpu']>['runs'] = [];
  for (let rep = 0; rep < h.opts.reps; rep++) {
    const order = rep % 2 === 0 ? [plain, withRedis] : [withRedis, plain];
    for (const t of order) {
      const label = t === plain ? 'without redis' : 'with redis';
      h.log(`redis cpu ${label} rep ${rep + 1}`);
      const other0 = cpuMsOr0(otherPid);
      const redisCpu = (): number => (redisPid === undefined ? 0 : cpuMsOr0(redisPid));
      const redis0 = redisCpu();
      const m = await h.job('redis', `cpu ${label}`, rep, t, {
        streams,
        concurrency: streams,
        startSpreadMs: Math.min(streams * 10, 2000),
        pace,
        action: { kind: 'complete' },
        timeoutMs: durationMs(pace) * 4 + 30_000,
      });
      const tokens = m.result.tokens;
      runs.push({
        target: label,
        rep,
        tokens,
        cpuPer1k: m.targetCpuMs === null ? null : per1k(m.targetCpuMs, tokens),
        otherInstancePer1k: t === plain ? null : per1k(cpuMsOr0(otherPid) - other0, tokens),
        redisServerPer1k: t === plain ? null : per1k(redisCpu() - redis0, tokens),
      });
      await sleep(200);
    }
  }
  const withoutPer1k = median(runs.filter((r) => r.target === 'without redis').map((r) => r.cpuPer1k));
  const withPer1k = median(runs.filter((r) => r.target === 'with redis').map((r) => r.cpuPer1k));
  const ratio =
    withoutPer1k === null || withPer1k === null || withoutPer1k === 0 ? null : withPer1k / withoutPer1k;
  return { runs, withoutPer1k, withPer1k, ratio };
}

const TOKEN = /(\d+)@(\d+) /g;
const TERMINAL = new Set(['done', 'error', 'cancelled']);

/** One reader's check of a stream: every token once and in order, and how it ended. */
class Reading {
  lastSeq = 0;
  gaps = 0;
  duplicates = 0;
  terminal: string | undefined;
  problem: string | undefined;

  /** Records each token's latency (after the first `skip`) and checks its order. */
  tokens(body: string, now: bigint, into: Histogram | undefined, skip: number): void {
    TOKEN.lastIndex = 0;
    for (let m = TOKEN.exec(body); m !== null; m = TOKEN.exec(body)) {
      const seq = Number(m[1]);
      if (seq <= this.lastSeq) {
        this.duplicates++;
        this.problem ??= `duplicate token ${seq} after ${this.lastSeq}`;
        continue;
      }
      if (seq !== this.lastSeq + 1) {
        this.gaps++;
        this.problem ??= `gap: token ${seq} after ${this.lastSeq}`;
      }
      this.lastSeq = seq;
      if (into !== undefined && seq > skip) recordNs(into, Number(now - BigInt(m[2]!)));
    }
  }
}

/** Files a check of `outcomes` (one per stream) so a lost or reordered token fails the run. */
function file(
  h: Harness,
  label: string,
  target: string,
  rep: number,
  outcomes: readonly (string | undefined)[],
  r: readonly Reading[],
): void {
  const failures = outcomes.flatMap((reason, index) => (reason === undefined ? [] : [{ index, reason }]));
  const check: Check = {
    scenario: 'redis',
    target,
    rep,
    label,
    streams: outcomes.length,
    ok: outcomes.length - failures.length,
    gaps: r.reduce((n, x) => n + x.gaps, 0),
    duplicates: r.reduce((n, x) => n + x.duplicates, 0),
    failures: failures.slice(0, 10),
  };
  h.checks.push(check);
  if (failures.length > 0)
    h.log(
      `FAILED redis ${label} rep ${rep}: ${failures.length}/${outcomes.length}; first: ${failures[0]?.reason}`,
    );
}

async function measureReaders(
  h: Harness,
  sizes: RedisSizes,
  a: TargetSpec,
  b: TargetSpec,
): Promise<NonNullable<RedisData['readers']>> {
  const { streams, pace, skipTokens } = sizes.readers;
  const runs: NonNullable<RedisData['readers']>['runs'] = [];
  for (let rep = 0; rep < h.opts.reps; rep++) {
    h.log(`redis readers A and B rep ${rep + 1}`);
    const tag = `b${h.runId}r${rep}`;
    const onA = newHistogram();
    const onB = newHistogram();
    const readingsA = Array.from({ length: streams }, () => new Reading());
    const readingsB = Array.from({ length: streams }, () => new Reading());
    const limitMs = durationMs(pace) * 3 + 20_000;
    const outcomes = await Promise.all(
      readingsA.map(async (ra, i) => {
        await sleep((i * 200) / streams);
        const rb = readingsB[i]!;
        const whole = (reading: Reading): string | undefined =>
          reading.problem ??
          (reading.terminal !== 'done' || reading.lastSeq !== pace.tokens
            ? `ended ${reading.terminal ?? 'without a terminal event'} after ${reading.lastSeq} of ${pace.tokens} tokens`
            : undefined);
        await new Promise<void>((resolve) => {
          let open = 2;
          const drops: (() => void)[] = [];
          const timer = setTimeout(() => {
            for (const drop of drops) drop();
          }, limitMs);
          const closed = (): void => {
            if (--open === 0) {
              clearTimeout(timer);
              resolve();
            }
          };
          const reader = (reading: Reading, into: Histogram) => ({
            event: (type: string, _seq: number | undefined, body: string, now: bigint) => {
              if (type === 'text') reading.tokens(body, now, into, skipTokens);
              else if (TERMINAL.has(type)) reading.terminal = type;
            },
            closed: (error: string | undefined) => {
              if (error !== undefined) reading.problem ??= error;
              closed();
            },
          });
          const readerA = reader(ra, onA);
          const readerB = reader(rb, onB);
          let startedB = false;
          const startB = (id: string | undefined): void => {
            if (startedB) return;
            startedB = true;
            if (id === undefined) {
              rb.problem ??= 'the stream never opened on A';
              closed();
              return;
            }
            drops.push(relaySseResume(b, id, 0, { ...readerB, opened: () => {} }).drop);
          };
          const conn = relaySseStream(
            a,
            relayRequest(benchPrompt(pace, tag, i), pace.tokens + 16, undefined),
            {
              ...readerA,
              opened: startB,
              closed: (error) => {
                readerA.closed(error);
                startB(undefined);
              },
            },
          );
          drops.push(conn.drop);
        });
        return [whole(ra), whole(rb)] as const;
      }),
    );
    file(
      h,
      'reader on A',
      'sse+redis A',
      rep,
      outcomes.map((o) => o[0]),
      readingsA,
    );
    file(
      h,
      'reader on B',
      'sse+redis B',
      rep,
      outcomes.map((o) => o[1]),
      readingsB,
    );
    runs.push({ rep, onA: percentiles(onA), onB: percentiles(onB) });
    await sleep(200);
  }
  const p50A = median(runs.map((r) => r.onA.p50));
  const p50B = median(runs.map((r) => r.onB.p50));
  const added = median(
    runs.map((r) => (r.onA.p50 === null || r.onB.p50 === null ? null : r.onB.p50 - r.onA.p50)),
  );
  return { runs, p50A, p50B, addedP50: added };
}

async function measureCancel(
  h: Harness,
  sizes: RedisSizes,
  a: TargetSpec,
  b: TargetSpec,
): Promise<NonNullable<RedisData['cancel']>> {
  const { streams, pace, afterTokens } = sizes.cancel;
  const runs: NonNullable<RedisData['cancel']>['runs'] = [];
  const wheres = ['B (other instance)', 'A (generating instance)'] as const;
  for (let rep = 0; rep < h.opts.reps; rep++) {
    for (const where of rep % 2 === 0 ? wheres : [...wheres].reverse()) {
      h.log(`redis cancel on ${where} rep ${rep + 1}`);
      const tag = `b${h.runId}c${rep}${where[0]}`;
      const at = where[0] === 'B' ? b : a;
      const cancelAt: (bigint | undefined)[] = [];
      const readings = Array.from({ length: streams }, () => new Reading());
      const limitMs = durationMs(pace) * 2 + 20_000;
      const outcomes = await Promise.all(
        readings.map(async (reading, i) => {
          await sleep((i * 200) / streams);
          await new Promise<void>((resolve) => {
            let id: string | undefined;
            let drop: () => void = () => {};
            const timer = setTimeout(() => drop(), limitMs);
            drop = relaySseStream(a, relayRequest(benchPrompt(pace, tag, i), pace.tokens + 16, undefined), {
              opened: (streamId) => {
                id = streamId;
              },
              event: (type, _seq, body, now) => {
                if (type === 'text') {
                  reading.tokens(body, now, undefined, 0);
                  if (cancelAt[i] === undefined && reading.lastSeq >= afterTokens && id !== undefined) {
                    cancelAt[i] = process.hrtime.bigint();
                    void relaySseCancel(at, id);
                  }
                } else if (TERMINAL.has(type)) reading.terminal = type;
              },
              closed: (error) => {
                if (error !== undefined) reading.problem ??= error;
                clearTimeout(timer);
                resolve();
              },
            }).drop;
          });
          return (
            reading.problem ??
            (reading.terminal === 'cancelled'
              ? undefined
              : `ended ${reading.terminal ?? 'without a terminal event'}, not cancelled`)
          );
        }),
      );
      file(
        h,
        `cancel on ${where}`,
        where[0] === 'B' ? 'sse+redis B' : 'sse+redis A',
        rep,
        outcomes,
        readings,
      );
      const records = await h.simRecords(tag, streams);
      const close = newHistogram();
      let notClosed = 0;
      for (const rec of records) {
        const i = rec.prompt === null ? undefined : promptIndex(rec.prompt, tag);
        const sent = i === undefined ? undefined : cancelAt[i];
        if (sent === undefined) continue;
        if (rec.clientClosedAtNs === null) notClosed++;
        else recordNs(close, Number(BigInt(rec.clientClosedAtNs) - sent));
      }
      runs.push({ where, rep, close: percentiles(close), notClosed });
      await sleep(200);
    }
  }
  return {
    runs,
    p99B: median(runs.filter((r) => r.where[0] === 'B').map((r) => r.close.p99)),
    p99A: median(runs.filter((r) => r.where[0] === 'A').map((r) => r.close.p99)),
  };
}
