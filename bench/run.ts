/**
 * The orchestrator behind `relay bench`: runs the selected scenarios each under its own time
 * limit, gathers the completeness checks, evaluates issue 6's targets, and writes
 * `<out>/<ISO date>.json`, `<out>/latest.md` and `<out>/latest.svg` (`latest-quick.*`,
 * `latest-smoke.*` for the smaller modes). Every child process dies with
 * it, whichever way it ends.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { RELAY_NODE_FLAGS } from '../src/runtime-flags.js';
import { renderChart } from './chart.js';
import { evaluateGoals } from './goals.js';
import { Harness, sleep, withDeadline } from './harness.js';
import { median, round } from './hist.js';
import { type BenchOptions, describeSizes, repoRoot, type ScenarioName } from './options.js';
import { clockTicks, killAll, trapExit } from './procs.js';
import { newestProfile, summarizeProfile } from './profile.js';
import { renderMarkdown } from './report.js';
import type { BenchResult, Machine } from './result.js';
import * as scenarios from './scenarios.js';
import { browser, writeCompareFigures } from './scenarios-browser.js';
import { idle } from './scenarios-idle.js';
import { redis } from './scenarios-redis.js';
import { type SyscallData, straceRun } from './scenarios-strace.js';

const RUNNERS: Record<ScenarioName, (h: Harness) => Promise<unknown>> = {
  latency: scenarios.latency,
  throughput: scenarios.throughput,
  burst: scenarios.burst,
  cancel: scenarios.cancel,
  resume: scenarios.resume,
  memory: scenarios.memory,
  bulk100: scenarios.bulk100,
  retained: scenarios.retained,
  redis,
  browser,
  idle,
};

/** The commit measured, `+dirty` when src/ or bench/ had uncommitted changes (dist is built from the tree). */
export function revision(): string {
  const git = (...args: string[]) =>
    execFileSync('git', args, {
      cwd: repoRoot(),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  try {
    return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--', 'src', 'bench/*.ts') === '' ? '' : '+dirty'}`;
  } catch {
    return 'unknown';
  }
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    memoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    clockTicks: clockTicks(),
  };
}

export interface RunOutput {
  readonly result: BenchResult;
  readonly jsonPath: string;
  readonly markdown: string;
}

export async function runBenchmark(opts: BenchOptions): Promise<RunOutput> {
  trapExit();
  const started = new Date();
  const errors: BenchResult['errors'] = [];
  const data: BenchResult['scenarios'] = {};
  let syscalls: SyscallData | undefined;
  let h: Harness | undefined;
  try {
    h = await Harness.start(opts);
    h.log(`simulator pid ${h.sim.pid} at ${h.sim.url}; load client pid ${h.client.pid}`);
    for (const name of opts.scenarios) {
      const t0 = Date.now();
      const running = RUNNERS[name](h);
      try {
        (data as Record<string, unknown>)[name] = await withDeadline(
          running,
          opts.sizes.scenarioTimeoutMs[name],
          `scenario ${name}`,
        );
        h.log(`${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        errors.push({ scenario: name, message });
        h.log(`scenario ${name} FAILED: ${message}`);
        // Stop what it was doing: its servers and the client's jobs; let it unwind before the next.
        await h.stopServers();
        await h.restartClient();
        await Promise.race([running.catch(() => {}), sleep(10_000)]);
        await h.stopServers();
      }
    }
    if (opts.strace.length > 0) {
      // Traced processes run several times slower: twice each scenario's own limit.
      const limitMs = opts.strace.reduce((ms, s) => ms + 2 * opts.sizes.scenarioTimeoutMs[s], 30_000);
      try {
        syscalls = await withDeadline(straceRun(h), limitMs, 'strace pass');
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        errors.push({ scenario: 'strace', message });
        h.log(`strace pass FAILED: ${message}`);
        await h.stopServers();
        await h.restartClient();
      }
    }
  } catch (err) {
    errors.push({ scenario: 'setup', message: err instanceof Error ? err.message : String(err) });
  } finally {
    await h?.close().catch(() => {});
    killAll();
  }

  const checks = h?.checks ?? [];
  const streams = checks.reduce((n, c) => n + c.streams, 0);
  const failedStreams = checks.reduce((n, c) => n + (c.streams - c.ok), 0);
  const finished = new Date();
  const result: BenchResult = {
    version: 1,
    mode: opts.mode,
    command: opts.command,
    revision: revision(),
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationMs: finished.getTime() - started.getTime(),
    machine: machine(),
    relayNodeFlags: RELAY_NODE_FLAGS,
    reps: opts.reps,
    targets: [...opts.targets, ...opts.extra.map((e) => `${e.name}=${e.url}`)],
    sizes: describeSizes(opts.sizes),
    scenarios: data,
    errors,
    checks: {
      // The browser scenario checks its own streams (a lost or duplicated one fails it, an error above).
      ok:
        failedStreams === 0 &&
        errors.length === 0 &&
        (streams > 0 || opts.scenarios.every((s) => s === 'browser')),
      streams,
      failedStreams,
      gaps: checks.reduce((n, c) => n + c.gaps, 0),
      duplicates: checks.reduce((n, c) => n + c.duplicates, 0),
      failed: checks.filter((c) => c.ok !== c.streams),
    },
    background: {
      medianCores: round(median(h?.foreign ?? [])),
      maxCores: round((h?.foreign.length ?? 0) > 0 ? Math.max(...(h?.foreign ?? [])) : null),
    },
    goals: [],
    ...(syscalls === undefined ? {} : { syscalls }),
  };
  if (opts.cpuProfDir !== undefined) {
    const file = newestProfile(opts.cpuProfDir, started.getTime());
    if (file !== undefined) result.profile = { ...summarizeProfile(file), scenario: opts.cpuProfScenario };
  }
  result.goals = evaluateGoals(result);

  mkdirSync(opts.outDir, { recursive: true });
  const jsonPath = join(opts.outDir, `${started.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(jsonPath, `${JSON.stringify(result, null, 1)}\n`);
  // --record: the compare view shows the recorded browser figures beside a visitor's own.
  const browserData = result.scenarios.browser;
  if (
    opts.outDir === `${repoRoot()}bench/results` &&
    browserData !== undefined &&
    browserData.many.length > 0
  ) {
    writeCompareFigures(browserData, {
      revision: result.revision ?? 'unknown',
      date: result.startedAt,
      command: result.command,
    });
  }
  return { result, jsonPath, markdown: writeSummary(result, jsonPath) };
}

/** `latest` for a full run; a quick or smoke run never overwrites the full run's summary. */
export function summaryName(mode: BenchResult['mode']): string {
  return mode === 'full' ? 'latest' : `latest-${mode}`;
}

/** Writes `<name>.md` and `<name>.svg` beside the raw JSON; returns the Markdown. */
export function writeSummary(result: BenchResult, jsonPath: string): string {
  const name = summaryName(result.mode);
  const markdown = renderMarkdown(result, jsonPath, `${name}.svg`);
  writeFileSync(join(dirname(jsonPath), `${name}.md`), markdown);
  writeFileSync(join(dirname(jsonPath), `${name}.svg`), renderChart(result));
  return markdown;
}

/** `relay bench --render FILE.json`: the summary and chart again, from a raw result. */
export function renderFromJson(jsonPath: string): string {
  const result = JSON.parse(readFileSync(jsonPath, 'utf8')) as BenchResult;
  // The verdicts too: a report change may be how they are judged (an older file has none).
  result.goals = evaluateGoals(result);
  return writeSummary(result, jsonPath);
}
