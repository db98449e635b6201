/**
 * Child processes of a run: servers (simulator, relay, pipe) started with the IPC guard preloaded
 * and their URL read from their first line, load clients forked with IPC; every one tracked so
 * that any way out of the orchestrator (return, throw, signal, exit) kills them all. Plus the
 * `/proc` readers for CPU and RSS.
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import {
  accessSync,
  constants,
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FromClient, ToClient } from './protocol.js';

const live = new Set<ChildProcess>();

/** Kills every child still running (SIGKILL: used on the way out, when nothing else may wait). */
export function killAll(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  live.clear();
}

let trapped = false;
/** Installs the exit and signal traps once: children die with the orchestrator, never after it. */
export function trapExit(): void {
  if (trapped) return;
  trapped = true;
  process.on('exit', () => {
    killAll();
    removeSnapshot();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`bench: ${signal}, stopping every child process\n`);
      killAll();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

/** Pids of the children alive now (the smoke test checks none survive). */
export function livePids(): number[] {
  return [...live].flatMap((c) => (c.pid === undefined || c.exitCode !== null ? [] : [c.pid]));
}

/** Tracks a child the bench started itself (redis-server): killed with the others on every way out. */
export function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/** The first executable file named `name` on PATH, or undefined. */
export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Where children run from: the repository, or a snapshot of its build (see snapshotBuild). */
let childRoot = fileURLToPath(new URL('../../', import.meta.url));
let snapshotDir: string | undefined;

/** A path in the tree children run from, e.g. `bin/relay.js`, `dist/bench/pipe.js`. */
export function childPath(rel: string): string {
  return join(childRoot, rel);
}

/**
 * Copies the build (dist/, bin/, src/web/, package.json; node_modules linked) to a temporary
 * directory and runs every child from there, so a `npm run build` by someone else in a shared
 * checkout cannot swap the relay's code in the middle of a run. Removed on exit.
 */
export function snapshotBuild(): string {
  removeOrphanSnapshots();
  const repo = fileURLToPath(new URL('../../', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), SNAPSHOT_PREFIX));
  writeFileSync(join(dir, OWNER_FILE), String(process.pid));
  for (const rel of ['package.json', 'bin', 'dist', 'src/web']) {
    cpSync(join(repo, rel), join(dir, rel), { recursive: true });
  }
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'), 'dir');
  childRoot = dir;
  snapshotDir = dir;
  return dir;
}

const SNAPSHOT_PREFIX = 'relay-bench-build-';
const OWNER_FILE = '.bench-pid';

/** Snapshots left by a bench that was killed outright (SIGKILL): their owner pid is gone. */
function removeOrphanSnapshots(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(SNAPSHOT_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    let owner = Number.NaN;
    try {
      owner = Number(readFileSync(join(dir, OWNER_FILE), 'utf8'));
    } catch {
      // no owner file yet: a bench is copying into it right now, or it is not ours
      continue;
    }
    let alive = true;
    try {
      process.kill(owner, 0);
    } catch {
      alive = false;
    }
    if (!alive) rmSync(dir, { recursive: true, force: true });
  }
}

function removeSnapshot(): void {
  if (snapshotDir !== undefined) rmSync(snapshotDir, { recursive: true, force: true });
  snapshotDir = undefined;
}

export interface ServerSpec {
  readonly name: string;
  /** Node flags before the script (`--expose-gc`, `--cpu-prof` …). */
  readonly nodeFlags?: readonly string[];
  /** The script, absolute. */
  readonly script: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly startTimeoutMs?: number;
}

export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly url: string;
  readonly child: ChildProcess;
  /** The last lines it printed (for error messages). */
  tail(): string;
  /** Forced GC then `process.memoryUsage()` and the young generation's committed bytes, through the guard. */
  memory(): Promise<NodeJS.MemoryUsage & { gc: boolean; youngBytes: number }>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

const URL_IN_LINE = /(https?:\/\/(?:127\.0\.0\.1|localhost|\[::1\]):\d+)/;

/** Starts a server process and resolves with the first `http://127.0.0.1:PORT` it prints. */
export function startServer(spec: ServerSpec): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [
      ...(spec.nodeFlags ?? []),
      '--import',
      childPath('dist/bench/child-guard.js'),
      spec.script,
      ...spec.args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, ...spec.env } },
  );
  track(child);
  let out = '';
  const keep = (chunk: Buffer): void => {
    out = (out + chunk.toString()).slice(-4000);
  };
  // Always drained: a child blocked on a full stdout pipe would stall the run.
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let memId = 0;
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null) resolve();
    else child.once('exit', () => resolve());
  });

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${spec.name} printed no URL within ${spec.startTimeoutMs ?? 15_000} ms:\n${out}`));
    }, spec.startTimeoutMs ?? 15_000);
    const onData = (): void => {
      const m = URL_IN_LINE.exec(out);
      if (m?.[1] === undefined) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onEarlyExit);
      const proc: ServerProcess = {
        name: spec.name,
        pid: child.pid!,
        url: m[1],
        child,
        tail: () => out,
        memory: () =>
          new Promise((res, rej) => {
            const id = ++memId;
            const t = setTimeout(() => rej(new Error(`${spec.name}: no memory answer`)), 30_000);
            const onMsg = (msg: {
              type?: string;
              id?: number;
              usage?: NodeJS.MemoryUsage;
              gc?: boolean;
              youngBytes?: number;
            }) => {
              if (msg.type !== 'memory' || msg.id !== id || msg.usage === undefined) return;
              clearTimeout(t);
              child.off('message', onMsg);
              res({ ...msg.usage, gc: msg.gc === true, youngBytes: msg.youngBytes ?? 0 });
            };
            child.on('message', onMsg);
            child.send({ type: 'memory', id });
          }),
        stop: async (graceMs = 5000) => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
          await exited;
          clearTimeout(t);
        },
      };
      resolve(proc);
    };
    const onEarlyExit = (code: number | null, signal: string | null): void => {
      clearTimeout(timer);
      reject(new Error(`${spec.name} exited (${code ?? signal}) before listening:\n${out}`));
    };
    child.stdout?.on('data', onData);
    child.once('exit', onEarlyExit);
  });
}

/** A load-client process (bench/client.ts) and its request/answer channel. */
export interface ClientProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  send(msg: ToClient): void;
  /** Resolves with the next message for `jobId` of that type. */
  next<T extends FromClient['type']>(jobId: number, type: T): Promise<Extract<FromClient, { type: T }>>;
  stop(): Promise<void>;
}

export function startClient(): ClientProcess {
  const child = fork(childPath('dist/bench/client.js'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [],
  });
  track(child);
  const waiters = new Set<(msg: FromClient) => boolean>();
  child.on('message', (msg: FromClient) => {
    for (const w of waiters) if (w(msg)) waiters.delete(w);
  });
  let exitError: Error | undefined;
  child.once('exit', (code, signal) => {
    exitError = new Error(`load client exited (${code ?? signal})`);
    for (const w of waiters) w({ type: 'exit' } as unknown as FromClient);
  });
  return {
    pid: child.pid!,
    child,
    send: (msg) => child.send(msg),
    next: (jobId, type) =>
      new Promise((resolve, reject) => {
        if (exitError !== undefined) return reject(exitError);
        waiters.add((msg) => {
          if ((msg as { type: string }).type === 'exit') {
            reject(exitError ?? new Error('load client exited'));
            return true;
          }
          if (msg.type !== type || msg.jobId !== jobId) return false;
          resolve(msg as Extract<FromClient, { type: typeof type }>);
          return true;
        });
      }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.disconnect();
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

let clkTck: number | undefined;
/** Clock ticks per second for /proc times (`getconf CLK_TCK`, else 100). */
export function clockTicks(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** utime + stime of a process, in ms (from /proc/<pid>/stat). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / clockTicks();
}

/** Resident set size in bytes (VmRSS from /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m?.[1] === undefined ? 0 : Number(m[1]) * 1024;
}

/** CPU time the whole machine spent busy (every core; steal included), ms, from /proc/stat. */
export function machineBusyMs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const ticks = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
  return (ticks * 1000) / clockTicks();
}

/** cpuMs, or 0 for a process that is gone. */
export function cpuMsOr0(pid: number): number {
  try {
    return cpuMs(pid);
  } catch {
    return 0;
  }
}
