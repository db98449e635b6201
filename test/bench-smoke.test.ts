/**
 * The benchmark harness in its tiny `--smoke` mode, through the real CLI (`relay bench`), on the
 * compiled build: the result's shape, every completeness check passed, the three files written,
 * and no child process outliving the bench however it ends. No timing assertions.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { requireComponent } from './helpers/components.js';

const BIN = fileURLToPath(new URL('../bin/relay.js', import.meta.url));
const dirs: string[] = [];
const REDIS = requireComponent('redis');

function outDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'relay-bench-'));
  dirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function startBench(args: string[]): {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [BIN, 'bench', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  child.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stderr: () => err, exited };
}

/** The pids the bench announces on stderr (`… pid N …`). */
function announcedPids(stderr: string): number[] {
  return [...stderr.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

describe('relay bench --smoke', () => {
  it('runs every smoke scenario, checks every stream and writes json, md and svg', async () => {
    const dir = outDir();
    const run = startBench(['--smoke', '--out', dir]);
    const code = await run.exited;
    expect(code, run.stderr()).toBe(0);

    const json = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(json).toHaveLength(1);
    const result = JSON.parse(readFileSync(join(dir, json[0]!), 'utf8'));
    expect(result).toMatchObject({ version: 1, mode: 'smoke', reps: 1, errors: [] });
    expect(result.machine).toMatchObject({ cores: expect.any(Number), node: process.version });
    expect(result.checks).toMatchObject({ ok: true, failedStreams: 0, gaps: 0, duplicates: 0 });
    expect(result.checks.streams).toBeGreaterThan(0);
    expect(result.syscalls).toBeUndefined(); // strace is opt-in (--strace), never in smoke or quick
    expect(Object.keys(result.scenarios).sort()).toEqual([
      'bulk100',
      'cancel',
      'latency',
      'resume',
      'retained',
      'throughput',
    ]);

    const { latency, throughput, cancel, resume } = result.scenarios;
    const targets = ['direct', 'pipe', 'sse', 'ws'];
    expect(latency.rows.map((r: { target: string }) => r.target)).toEqual([...targets, ...targets]);
    for (const row of latency.rows) {
      expect(row).toHaveProperty('addedP99');
      expect(row).toHaveProperty('jitterP99');
    }
    expect(Object.keys(latency.curves)).toEqual(['1', '2']);
    expect(throughput.rows.map((r: { target: string }) => r.target)).toEqual(targets);
    for (const row of throughput.rows) expect(row.tokensPerSec).toBeGreaterThan(0);
    expect(cancel.rows.map((r: { variant: string }) => r.variant).sort()).toEqual([
      'direct disconnect',
      'pipe disconnect',
      'sse cancel route',
      'sse disconnect (abort)',
      'ws cancel frame',
    ]);
    for (const row of cancel.rows) expect(row.notClosed).toBe(0);
    expect(resume.rows).toHaveLength(2);
    for (const row of resume.rows) expect(row).toMatchObject({ gaps: 0, duplicates: 0, ok: row.streams });

    // Bulk at high C: one socket per stream and one shared socket (ws-mux), every token checked.
    const { bulk100, retained } = result.scenarios;
    expect(bulk100.rows.map((r: { target: string }) => r.target)).toEqual([...targets, 'ws-mux']);
    for (const row of bulk100.rows) expect(row.tokensPerSec).toBeGreaterThan(0);
    const mux = result.checks.failed.filter((c: { target: string }) => c.target === 'ws-mux');
    expect(mux).toEqual([]);
    // Retained: a forced GC on both sides, and the SSE bytes each stream's memory is compared with.
    expect(retained.rows.map((r: { target: string }) => r.target)).toEqual(['sse', 'ws']);
    for (const row of retained.rows) {
      expect(row.bytesPerStream).toBeGreaterThan(0);
      expect(row.heapPerSseByte).toEqual(expect.any(Number));
    }
    for (const run of retained.runs) expect(run.gc).toBe(true);
    const ratioGoals = result.goals.filter((g: { goal: string }) => g.goal.startsWith('(18) heap held'));
    expect(ratioGoals).toHaveLength(2);

    const completeness = result.goals.find(
      (g: { goal: string }) => g.goal === 'every stream complete and in order',
    );
    expect(completeness.met).toBe(true);

    expect(readFileSync(join(dir, 'latest-smoke.md'), 'utf8')).toContain('## Targets (issues 6 and 18)');
    expect(readFileSync(join(dir, 'latest-smoke.svg'), 'utf8')).toMatch(
      /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/,
    );
    // Every child it started is gone.
    const pids = announcedPids(run.stderr());
    expect(pids.length).toBeGreaterThanOrEqual(4);
    expect(await until(() => pids.every((p) => !alive(p)), 3000)).toBe(true);
    // Six scenarios, two of them starting a relay per target: generous for a loaded machine.
  }, 180_000);

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`leaves no child process behind when it gets ${signal} mid-run`, async () => {
      const dir = outDir();
      const run = startBench(['--smoke', '--out', dir]);
      // Simulator, load client, relay and pipe are all up once the pipe is announced.
      expect(await until(() => /pipe pid \d+/.test(run.stderr()), 30_000), run.stderr()).toBe(true);
      const pids = announcedPids(run.stderr());
      expect(pids.length).toBeGreaterThanOrEqual(4);
      expect(pids.every(alive)).toBe(true);
      run.child.kill(signal);
      await run.exited;
      // SIGTERM: the bench kills them; SIGKILL: each child leaves when its IPC channel closes.
      expect(await until(() => pids.every((p) => !alive(p)), 5000), `alive: ${pids.filter(alive)}`).toBe(
        true,
      );
      expect(existsSync(join(dir, 'latest-smoke.md'))).toBe(false);
    }, 60_000);
  }

  // redis-server is no Node process: the child guard cannot stop it, the kernel's parent-death
  // signal (bench/redis-server.ts) does.
  it.skipIf(!REDIS)(
    'leaves no redis-server behind when it gets SIGKILL in the redis scenario',
    async () => {
      const dir = outDir();
      const run = startBench(['--smoke', '--scenarios', 'redis', '--out', dir]);
      expect(await until(() => /relay B \(redis\) pid \d+/.test(run.stderr()), 45_000), run.stderr()).toBe(
        true,
      );
      const redisPid = Number(/redis-server pid (\d+)/.exec(run.stderr())?.[1]);
      expect(alive(redisPid)).toBe(true);
      const pids = announcedPids(run.stderr());
      run.child.kill('SIGKILL');
      await run.exited;
      expect(await until(() => pids.every((p) => !alive(p)), 5000), `alive: ${pids.filter(alive)}`).toBe(
        true,
      );
    },
    60_000,
  );
});
