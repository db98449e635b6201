/**
 * `strace -c` around one measured job: attach to a running server (every thread, `-f`), let the
 * job run, detach, and read strace's per-call summary. Attaching rather than starting the server
 * under strace keeps start-up and warm-up out of the counts, so they are the job's own. strace
 * slows every call it sees: its counts are the figure, never its times.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findOnPath, track } from './procs.js';

/** Calls (and failed calls) per syscall name, as strace's summary lists them; `total` left out. */
export interface SyscallCounts {
  readonly calls: Readonly<Record<string, number>>;
  readonly errors: Readonly<Record<string, number>>;
}

/**
 * Parses the table `strace -c` prints:
 *
 * ```text
 * % time     seconds  usecs/call     calls    errors syscall
 * ------ ----------- ----------- --------- --------- ----------------
 *  85.81    0.000738           7        96           epoll_pwait
 *  10.00    0.000100           2        48         3 futex
 * ------ ----------- ----------- --------- --------- ----------------
 * 100.00    0.000860           5       144         3 total
 * ```
 *
 * The errors column is blank when a call never failed. Other lines (strace's own messages) are
 * ignored; a summary with no rows gives empty counts (nothing was called). Throws when the text
 * is not a summary at all (no header), so a changed format is noticed rather than read as zero.
 */
export function parseStraceSummary(text: string): SyscallCounts {
  if (text.trim() === '') return { calls: {}, errors: {} };
  if (!/^% time\s+seconds\s+usecs\/call\s+calls\s+errors\s+syscall\s*$/m.test(text))
    throw new Error(`not a strace -c summary:\n${text.slice(0, 300)}`);
  const calls: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const row = /^\s*\d+(?:\.\d+)?\s+\d+(?:\.\d+)?\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?([a-z_][a-z0-9_]*)\s*$/;
  for (const line of text.split('\n')) {
    const m = row.exec(line);
    if (m === null) continue;
    const name = m[3]!;
    if (name === 'total') continue;
    calls[name] = (calls[name] ?? 0) + Number(m[1]);
    if (m[2] !== undefined) errors[name] = (errors[name] ?? 0) + Number(m[2]);
  }
  return { calls, errors };
}

/** Tracing of a running process: `stop()` detaches and resolves with its counts. */
export interface Tracing {
  stop(): Promise<SyscallCounts>;
}

const ATTACH_MS = 10_000;
const DETACH_MS = 15_000;

/** Attaches `strace -c -f` to `pid`; resolves once every thread is traced. */
export async function attachStrace(pid: number, binary = 'strace'): Promise<Tracing> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-bench-strace-'));
  const file = join(dir, 'summary.txt');
  const child: ChildProcess = spawn(binary, ['-c', '-f', '-p', String(pid), '-o', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  track(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const attached = await waitFor(() => /attached/.test(stderr), exited, ATTACH_MS);
  if (!attached) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    cleanup();
    throw new Error(`strace could not attach to pid ${pid}: ${stderr.trim() || 'no answer'}`);
  }
  return {
    stop: async () => {
      // SIGINT: strace detaches from every thread (the process runs on) and writes its summary.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), DETACH_MS);
      await exited;
      clearTimeout(timer);
      try {
        return parseStraceSummary(readFileSync(file, 'utf8'));
      } catch (err) {
        throw new Error(
          `strace wrote no summary for pid ${pid} (${err instanceof Error ? err.message : String(err)}); its output: ${stderr.trim()}`,
        );
      } finally {
        cleanup();
      }
    },
  };
}

/**
 * Why syscalls cannot be counted here, or undefined when they can: strace must be installed and
 * allowed to attach to a process this one started (ptrace may be forbidden: a container without
 * CAP_SYS_PTRACE, Yama's ptrace_scope ≥ 2). Probed on a short-lived Node process of our own.
 */
export async function straceUnavailable(): Promise<string | undefined> {
  const binary = findOnPath('strace');
  if (binary === undefined) return 'strace not found on PATH (apt-get install strace)';
  const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
  track(sleeper);
  try {
    const tracing = await attachStrace(sleeper.pid!, binary);
    await tracing.stop();
    return undefined;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return `strace cannot trace here (ptrace not permitted?): ${why.split('\n')[0]}`;
  } finally {
    sleeper.kill('SIGKILL');
  }
}

async function waitFor(cond: () => boolean, exited: Promise<void>, ms: number): Promise<boolean> {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const end = Date.now() + ms;
  while (!cond()) {
    if (gone || Date.now() > end) return cond();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}
