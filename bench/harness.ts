/**
 * The running pieces of a benchmark and the one way to measure with them: start the simulator,
 * the relay and the pipe as separate processes, send a job to the load client, read the CPU of
 * the process behind the target from /proc around it, and file every stream's completeness check.
 */

import { RELAY_NODE_FLAGS } from '../src/runtime-flags.js';
import type { BenchOptions, BuiltinTarget } from './options.js';
import {
  type ClientProcess,
  childPath,
  cpuMs,
  cpuMsOr0,
  machineBusyMs,
  type ServerProcess,
  snapshotBuild,
  startClient,
  startServer,
} from './procs.js';
import type { Job, JobResult, Protocol, TargetSpec } from './protocol.js';

/** How the load client speaks to each of the relay's targets. */
const RELAY_PROTOCOLS = {
  sse: 'relay-sse',
  ws: 'relay-ws',
  'ws-mux': 'relay-ws-mux',
  'ws-batch': 'relay-ws-batch',
} as const satisfies Record<string, Protocol>;

/** What the simulator's `GET /_sim/requests` answers, the fields the bench reads. */
export interface SimRecord {
  readonly id: string;
  readonly prompt: string | null;
  readonly tokensSent: number;
  readonly lastTokenAtNs: string | null;
  readonly clientClosedAtNs: string | null;
  readonly completedAt: number | null;
  readonly outcome: string;
}

export interface Target {
  readonly name: string;
  readonly spec: TargetSpec;
  /** The process whose CPU is the target's cost (relay, pipe); undefined for direct and foreign targets. */
  readonly pid: number | undefined;
}

/** One completeness check: a job's streams, how many passed, and why the others did not. */
export interface Check {
  readonly scenario: string;
  readonly target: string;
  readonly rep: number;
  readonly label: string;
  readonly streams: number;
  readonly ok: number;
  readonly gaps: number;
  readonly duplicates: number;
  readonly failures: readonly { index: number; reason: string }[];
}

export interface Measured {
  readonly result: JobResult;
  /** CPU ms of the target's process over the job (null when it has none we can read). */
  readonly targetCpuMs: number | null;
  readonly simCpuMs: number;
  /** Client-side wall time, first stream start to last stream end. */
  readonly wallMs: number;
  readonly clientCpuMs: number;
  /**
   * Cores' worth of CPU that processes other than the bench's used meanwhile (machine busy time
   * from /proc/stat minus every bench process): the noise a shared machine adds.
   */
  readonly foreignCores: number;
  readonly tag: string;
}

/**
 * The relay exactly as users start it (`node <RELAY_NODE_FLAGS> bin/relay.js serve`, as `npm start`
 * and the Docker image do), pointed at the simulator.
 */
const relayBin = (): string => childPath('bin/relay.js');

export class Harness {
  readonly checks: Check[] = [];
  relay: ServerProcess | undefined;
  pipe: ServerProcess | undefined;
  private jobSeq = 0;
  /** foreignCores of every measured job, for the report's noise line. */
  readonly foreign: number[] = [];
  readonly runId = Date.now().toString(36);

  private constructor(
    readonly opts: BenchOptions,
    readonly sim: ServerProcess,
    public client: ClientProcess,
  ) {}

  static async start(opts: BenchOptions): Promise<Harness> {
    snapshotBuild();
    const sim = await startServer({
      name: 'simulator',
      script: relayBin(),
      args: [
        'simulate-upstream',
        '--port',
        String(opts.simPort),
        '--benchmark',
        '--ttft-ms',
        '0',
        '--tps',
        '0',
      ],
    });
    return new Harness(opts, sim, startClient());
  }

  log(line: string): void {
    process.stderr.write(`bench: ${line}\n`);
  }

  /** A fresh relay process; `nodeFlags` e.g. `--cpu-prof`. */
  async startRelay(nodeFlags: readonly string[] = []): Promise<ServerProcess> {
    await this.relay?.stop();
    this.relay = await startServer({
      name: 'relay',
      nodeFlags: ['--expose-gc', ...RELAY_NODE_FLAGS, ...nodeFlags],
      script: relayBin(),
      args: ['serve', '--port', '0', '--host', '127.0.0.1'],
      env: {
        ANTHROPIC_BASE_URL: this.sim.url,
        ANTHROPIC_API_KEY: 'bench-dummy-key',
        RELAY_LOG_LEVEL: 'warn',
        // Stopping between scenarios must not wait out streams left in their grace period.
        RELAY_DRAIN_MS: '1000',
      },
    });
    this.log(`relay pid ${this.relay.pid} at ${this.relay.url}`);
    return this.relay;
  }

  async startPipe(): Promise<ServerProcess> {
    await this.pipe?.stop();
    this.pipe = await startServer({
      name: 'pipe',
      nodeFlags: ['--expose-gc'],
      script: childPath('dist/bench/pipe.js'),
      args: ['--port', '0'],
      env: { ANTHROPIC_BASE_URL: this.sim.url },
    });
    this.log(`pipe pid ${this.pipe.pid} at ${this.pipe.url}`);
    return this.pipe;
  }

  async stopServers(): Promise<void> {
    await Promise.all([this.relay?.stop(), this.pipe?.stop()]);
    this.relay = undefined;
    this.pipe = undefined;
  }

  /** Replaces the load client (after a scenario timed out with a job in flight). */
  async restartClient(): Promise<void> {
    await this.client.stop();
    this.client = startClient();
  }

  /** The targets of this run, in their canonical order; relay/pipe must be started for theirs. */
  targets(
    names: readonly (BuiltinTarget | string)[] = [
      ...this.opts.targets,
      ...this.opts.extra.map((e) => e.name),
    ],
  ): Target[] {
    const out: Target[] = [];
    for (const name of names) {
      switch (name) {
        case 'direct':
          out.push({ name, spec: { name, protocol: 'anthropic', url: this.sim.url }, pid: undefined });
          break;
        case 'pipe':
          if (this.pipe)
            out.push({ name, spec: { name, protocol: 'anthropic', url: this.pipe.url }, pid: this.pipe.pid });
          break;
        case 'sse':
        case 'ws':
        case 'ws-mux':
        case 'ws-batch':
          if (this.relay) {
            const protocol = RELAY_PROTOCOLS[name];
            // With auth on (RELAY_API_KEYS or RELAY_KEYS_FILE for the relay), RELAY_KEY is the client's key.
            const relayKey = process.env.RELAY_KEY;
            out.push({
              name,
              spec: {
                name,
                protocol,
                url: this.relay.url,
                ...(relayKey ? { headers: { 'x-api-key': relayKey } } : {}),
              },
              pid: this.relay.pid,
            });
          }
          break;
        default: {
          const extra = this.opts.extra.find((e) => e.name === name);
          const key = process.env.BENCH_TARGET_API_KEY;
          if (extra)
            out.push({
              name,
              spec: {
                name,
                protocol: 'anthropic',
                url: extra.url,
                ...(key ? { headers: { 'x-api-key': key, authorization: `Bearer ${key}` } } : {}),
              },
              pid: undefined,
            });
        }
      }
    }
    return out;
  }

  /**
   * Runs one job on the load client and measures around it. The completeness check is filed
   * under `scenario`/`label`; `check: false` for warm-ups that are checked but not reported apart.
   */
  async job(
    scenario: string,
    label: string,
    rep: number,
    target: Target,
    spec: Omit<Job, 'type' | 'jobId' | 'tag' | 'target'>,
  ): Promise<Measured> {
    this.assertAlive();
    const jobId = ++this.jobSeq;
    const tag = `b${this.runId}j${jobId}`;
    const job: Job = { type: 'job', jobId, tag, target: target.spec, ...spec };
    const cpu0 = target.pid === undefined ? 0 : cpuMs(target.pid);
    const sim0 = cpuMs(this.sim.pid);
    const ours0 = this.ourCpuMs();
    const busy0 = machineBusyMs();
    const t0 = performance.now();
    const answer = this.client.next(jobId, 'result');
    this.client.send(job);
    const result = await withDeadline(answer, spec.timeoutMs + 15_000, `${scenario} ${label} job`);
    this.file(scenario, target.name, rep, label, result);
    this.assertAlive();
    const targetCpuMs = target.pid === undefined ? null : cpuMs(target.pid) - cpu0;
    const simCpuMs = cpuMs(this.sim.pid) - sim0;
    const foreignCores =
      Math.max(0, machineBusyMs() - busy0 - (this.ourCpuMs() - ours0)) / (performance.now() - t0);
    // Not the strace pass's jobs: strace itself is no bench process, its CPU would read as background.
    if (scenario !== 'warmup' && scenario !== 'strace') this.foreign.push(foreignCores);
    return {
      result,
      targetCpuMs,
      simCpuMs,
      wallMs: Number(BigInt(result.endedNs) - BigInt(result.startedNs)) / 1e6,
      clientCpuMs: result.clientCpuUs / 1000,
      foreignCores,
      tag,
    };
  }

  /** Throws, naming the process, its exit and its last output, when a server died. */
  assertAlive(): void {
    for (const server of [this.sim, this.relay, this.pipe]) {
      const child = server?.child;
      if (server === undefined || child === undefined) continue;
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `the ${server.name} process exited (${child.exitCode ?? child.signalCode}); its last output:\n${server.tail().slice(-1500)}`,
        );
      }
    }
  }

  /** CPU ms of every bench process: this one, the simulator, relay, pipe and load client. */
  private ourCpuMs(): number {
    const self = process.cpuUsage();
    let ms = (self.user + self.system) / 1000;
    for (const pid of [this.sim.pid, this.relay?.pid, this.pipe?.pid, this.client.pid]) {
      if (pid !== undefined) ms += cpuMsOr0(pid);
    }
    return ms;
  }

  /**
   * Starts a `hold` job and resolves once every stream is open past its first token (or failed);
   * `release` closes them, `wait` resolves with the job's result (filed like any other).
   */
  async holdJob(
    scenario: string,
    label: string,
    rep: number,
    target: Target,
    spec: Omit<Job, 'type' | 'jobId' | 'tag' | 'target'>,
  ): Promise<{ open: number; wait: Promise<JobResult>; release: () => void }> {
    const jobId = ++this.jobSeq;
    const tag = `b${this.runId}j${jobId}`;
    const client = this.client;
    const holding = client.next(jobId, 'holding');
    const wait = client.next(jobId, 'result').then((r) => {
      this.file(scenario, target.name, rep, label, r);
      return r;
    });
    wait.catch(() => {});
    client.send({ type: 'job', jobId, tag, target: target.spec, ...spec });
    const held = await withDeadline(holding, spec.timeoutMs + 15_000, `${scenario} ${label} hold`);
    return { open: held.open, wait, release: () => client.send({ type: 'release', jobId }) };
  }

  file(scenario: string, target: string, rep: number, label: string, r: JobResult): void {
    this.checks.push({
      scenario,
      target,
      rep,
      label,
      streams: r.streams,
      ok: r.ok,
      gaps: r.gaps,
      duplicates: r.duplicates,
      failures: r.failures.slice(0, 10),
    });
    if (r.ok !== r.streams) {
      this.log(
        `FAILED ${scenario} ${label} ${target} rep ${rep}: ${r.streams - r.ok}/${r.streams} streams; first: ${r.failures[0]?.reason ?? '?'}`,
      );
    }
  }

  /** Simulator records of one job, once each has ended (or after `waitMs`). */
  async simRecords(tag: string, expected: number, waitMs = 5000): Promise<SimRecord[]> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const res = await fetch(
        `${this.sim.url}/_sim/requests?prompt_contains=${encodeURIComponent(` ${tag}-`)}`,
      );
      const records = (await res.json()) as SimRecord[];
      const ended = records.filter((r) => r.clientClosedAtNs !== null || r.completedAt !== null).length;
      if ((records.length >= expected && ended >= records.length) || Date.now() > deadline) return records;
      await sleep(50);
    }
  }

  /** A short zero-delay round through each target, so JIT and connection setup are not measured. */
  async warmUp(targets: readonly Target[]): Promise<void> {
    for (const target of targets) {
      await this.job('warmup', 'warm-up', 0, target, {
        streams: 40,
        concurrency: 10,
        startSpreadMs: 0,
        pace: { tokens: 100, ttftMs: 0, tps: 0 },
        action: { kind: 'complete' },
        timeoutMs: 30_000,
      });
    }
  }

  async close(): Promise<void> {
    await this.client.stop();
    await this.stopServers();
    await this.sim.stop();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} exceeded its ${Math.round(ms / 1000)} s limit`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/** `items` rotated left by `by`: rep r starts with a different target. */
export function rotate<T>(items: readonly T[], by: number): T[] {
  const n = items.length;
  if (n === 0) return [];
  const k = ((by % n) + n) % n;
  return [...items.slice(k), ...items.slice(0, k)];
}
