/**
 * `relay bench --strace`: strace's `-c` summary read call by call (from a recorded one), counts per
 * 1,000 tokens with pipe beside the relay, the flag opt-in and checked; and, where strace may
 * trace, a real count and a real bench pass. Without strace (or ptrace permission) the pass is
 * skipped with one line that says why.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../bench/options.js';
import { findOnPath } from '../bench/procs.js';
import { syscallSection } from '../bench/report-strace.js';
import { type SyscallRun, summarize } from '../bench/scenarios-strace.js';
import { attachStrace, parseStraceSummary, straceUnavailable } from '../bench/strace.js';

const BIN = fileURLToPath(new URL('../bin/relay.js', import.meta.url));
/** Whether this machine lets strace attach (probed once; the real-run tests need it). */
const STRACE = findOnPath('strace') === undefined ? false : (await straceUnavailable()) === undefined;
const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'relay-bench-strace-test-'));
  dirs.push(dir);
  return dir;
}

/** Recorded: strace 6.1, `strace -c -f -o FILE node -e 'require("http")'`, Node 20, Linux x86-64. */
const RECORDED = `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ------------------
 74.53    0.026061         449        58         3 futex
 19.55    0.006834        1708         4           epoll_pwait
  0.65    0.000228           4        49           mprotect
  0.61    0.000215           4        48           munmap
  0.55    0.000191          31         6           clone3
  0.48    0.000168           6        28           rt_sigprocmask
  0.45    0.000156           2        64           mmap
  0.38    0.000134           4        32           madvise
  0.33    0.000114           4        27           close
  0.29    0.000102           1        63           rt_sigaction
  0.25    0.000088          12         7           set_robust_list
  0.25    0.000087           1        79           read
  0.21    0.000075           3        24           brk
  0.21    0.000075          12         6           epoll_ctl
  0.17    0.000061           2        26        13 fcntl
  0.14    0.000048           6         7           rseq
  0.13    0.000045           2        22           getpid
  0.11    0.000040           3        13           fstat
  0.11    0.000039           2        17           openat
  0.10    0.000034           2        12           capget
  0.07    0.000026           2        12           getgid
  0.07    0.000026           2        12           geteuid
  0.07    0.000026           2        12           getegid
  0.07    0.000025           2        12           getuid
  0.07    0.000023           2         8           prlimit64
  0.03    0.000011           3         3         3 ioctl
  0.03    0.000009           9         1           getcwd
  0.02    0.000007           3         2           getrandom
  0.02    0.000006           0        12           newfstatat
  0.01    0.000004           2         2           write
  0.01    0.000002           0         3           epoll_create1
  0.01    0.000002           0         4           pipe2
  0.00    0.000001           1         1           sched_getaffinity
  0.00    0.000001           0         3           eventfd2
  0.00    0.000001           1         1         1 pkey_alloc
  0.00    0.000000           0         2           pread64
  0.00    0.000000           0         1         1 access
  0.00    0.000000           0         1           execve
  0.00    0.000000           0         1           uname
  0.00    0.000000           0         1           readlink
  0.00    0.000000           0         1           sysinfo
  0.00    0.000000           0         1           arch_prctl
  0.00    0.000000           0         3           gettid
  0.00    0.000000           0         1           set_tid_address
------ ----------- ----------- --------- --------- ------------------
100.00    0.034965          50       692        21 total`;

describe('reading strace -c', () => {
  it('reads every call and its failures from a recorded summary, leaving out the total', () => {
    const { calls, errors } = parseStraceSummary(RECORDED);
    expect(Object.keys(calls)).toHaveLength(44);
    expect(calls).toMatchObject({ futex: 58, epoll_pwait: 4, read: 79, write: 2, fcntl: 26, execve: 1 });
    expect(calls.total).toBeUndefined();
    expect(Object.values(calls).reduce((a, b) => a + b, 0)).toBe(692); // the total row's calls
    expect(errors).toEqual({ futex: 3, fcntl: 13, ioctl: 3, pkey_alloc: 1, access: 1 });
  });

  it("ignores strace's own messages and reads a summary with no call as nothing", () => {
    const text = `strace: Process 16707 attached with 7 threads\n${RECORDED}\nstrace: Process 16707 detached\n`;
    expect(parseStraceSummary(text).calls.futex).toBe(58);
    expect(parseStraceSummary('')).toEqual({ calls: {}, errors: {} });
  });

  it('refuses text that is not a summary, rather than reading it as zero calls', () => {
    expect(() =>
      parseStraceSummary('strace: attach: ptrace(PTRACE_SEIZE, 1): Operation not permitted'),
    ).toThrow(/not a strace -c summary/);
  });
});

const run = (target: string, rep: number, tokens: number, calls: Record<string, number>): SyscallRun => ({
  target,
  rep,
  streams: 10,
  tokens,
  calls,
  errors: {},
});

describe('calls per 1,000 tokens', () => {
  const runs = [
    run('pipe', 0, 2000, { read: 2000, writev: 2000, epoll_pwait: 400 }),
    run('pipe', 1, 2000, { read: 2200, writev: 2000, epoll_pwait: 300 }),
    run('pipe', 2, 2000, { read: 1800, writev: 2000, epoll_pwait: 500 }),
    run('sse', 0, 2000, { read: 2000, write: 2000, getpeername: 20 }),
    run('sse', 1, 2000, { read: 1000, write: 1000, getpeername: 20 }),
    run('sse', 2, 2000, { read: 3000, write: 3000, getpeername: 20 }),
  ];

  it('takes each call per 1,000 tokens, the median over repetitions, a call missing in one as 0', () => {
    const [pipe, sse] = summarize(['pipe', 'sse'], runs);
    expect(pipe!.per1k).toEqual({ read: 1000, writev: 1000, epoll_pwait: 200 });
    expect(sse!.per1k).toEqual({ read: 1000, write: 1000, getpeername: 10 });
    // reads + writes: read, write, writev … (not epoll or getpeername); the total: every call.
    expect(pipe).toMatchObject({ ioPer1k: 2000, totalPer1k: 2200, ioRange: [1900, 2100] });
    expect(sse).toMatchObject({ ioPer1k: 2000, totalPer1k: 2010, ioRange: [1000, 3000] });
  });

  it('renders pipe beside sse with the ratio per call, the totals with their spread', () => {
    const rows = summarize(['pipe', 'sse'], runs);
    const md = syscallSection(
      {
        scenarios: [
          {
            scenario: 'latency',
            streams: 100,
            concurrency: 100,
            pace: { tokens: 100, ttftMs: 0, tps: 60 },
            runs,
            rows,
          },
        ],
      },
      3,
    ).join('\n');
    expect(md).toContain('| syscall |  pipe |  sse |  sse ÷ pipe |');
    expect(md).toContain('| getpeername | 0.0 | 10.0 | – |');
    expect(md).toContain('| write | 0.0 | 1,000 | – |');
    expect(md).toContain('| **reads + writes** | 2,000 (1,900–2,100) | 2,000 (1,000–3,000) | 1.00× |');
  });

  it('says why it measured nothing when skipped', () => {
    expect(
      syscallSection({ skipped: 'strace not found on PATH (apt-get install strace)', scenarios: [] }, 1),
    ).toContain('Skipped: strace not found on PATH (apt-get install strace).');
  });
});

describe('the --strace flag', () => {
  const parse = (argv: string[]) => {
    const opts = parseBenchArgs(argv, {});
    if (opts === 'help') throw new Error('help');
    return opts;
  };

  it('is off unless asked for: quick and smoke runs count nothing', () => {
    expect(parse(['--quick']).strace).toEqual([]);
    expect(parse(['--smoke']).strace).toEqual([]);
  });

  it('runs the syscall pass alone unless scenarios are named too', () => {
    expect(parse(['--quick', '--strace', 'latency,throughput'])).toMatchObject({
      strace: ['latency', 'throughput'],
      scenarios: [],
    });
    expect(parse(['--strace', 'bulk100', '--scenarios', 'latency'])).toMatchObject({
      strace: ['bulk100'],
      scenarios: ['latency'],
    });
  });

  it('refuses a scenario it has no job shape for, and an empty list', () => {
    expect(() => parse(['--strace', 'burst'])).toThrow(/--strace: unknown "burst"/);
    expect(() => parse(['--strace', ','])).toThrow(/--strace: name at least one scenario/);
  });
});

function startBench(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, [BIN, 'bench', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  children.push(child);
  let err = '';
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  child.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { stderr: () => err, exited };
}

function resultIn(dir: string) {
  const json = readdirSync(dir).filter((f) => f.endsWith('.json'));
  expect(json).toHaveLength(1);
  return JSON.parse(readFileSync(join(dir, json[0]!), 'utf8'));
}

describe('counting for real', () => {
  it('skips with one line when strace is not on PATH, and the run still passes', async () => {
    // A PATH holding only node: no strace (nor git or getconf, which the bench does without).
    const bin = tempDir();
    symlinkSync(process.execPath, join(bin, 'node'));
    const out = tempDir();
    const bench = startBench(['--smoke', '--strace', 'throughput', '--out', out], {
      ...process.env,
      PATH: bin,
    });
    expect(await bench.exited, bench.stderr()).toBe(0);
    const lines = bench
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('bench:') && l.includes('strace'));
    expect(lines).toEqual([
      'bench: strace: strace not found on PATH (apt-get install strace); syscall counts skipped',
    ]);
    const result = resultIn(out);
    expect(result.syscalls).toEqual({
      skipped: 'strace not found on PATH (apt-get install strace)',
      scenarios: [],
    });
    expect(readFileSync(join(out, 'latest-smoke.md'), 'utf8')).toContain('Skipped: strace not found on PATH');
  }, 60_000);

  it('skips with one line when strace may not attach (ptrace not permitted)', async () => {
    // A stand-in strace that fails as the real one does in a container without CAP_SYS_PTRACE.
    const bin = tempDir();
    symlinkSync(process.execPath, join(bin, 'node'));
    const fake = join(bin, 'strace');
    writeFileSync(
      fake,
      '#!/bin/sh\necho "strace: attach: ptrace(PTRACE_SEIZE, 1): Operation not permitted" >&2\nexit 1\n',
    );
    chmodSync(fake, 0o755);
    const out = tempDir();
    const bench = startBench(['--smoke', '--strace', 'latency', '--out', out], { ...process.env, PATH: bin });
    expect(await bench.exited, bench.stderr()).toBe(0);
    const lines = bench
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('bench:') && l.includes('strace'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^bench: strace: strace cannot trace here \(ptrace not permitted\?\): .*Operation not permitted; syscall counts skipped$/,
    );
    expect(resultIn(out).syscalls.skipped).toMatch(/ptrace not permitted/);
  }, 60_000);

  it.skipIf(!STRACE)(
    'counts the calls a process makes while attached, and only those',
    async () => {
      // Writes 500 times to /dev/null when told to over IPC, then says so.
      const child = spawn(
        process.execPath,
        [
          '-e',
          `const fs = require('node:fs'); const fd = fs.openSync('/dev/null', 'w');
         process.on('message', () => { for (let i = 0; i < 500; i++) fs.writeSync(fd, 'x'); process.send('done'); });
         for (let i = 0; i < 300; i++) fs.writeSync(fd, 'before');
         process.send('ready');`,
        ],
        { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] },
      );
      children.push(child);
      const next = () => new Promise((resolve) => child.once('message', resolve));
      await next(); // ready: its 300 earlier writes are done before strace attaches
      const tracing = await attachStrace(child.pid!);
      child.send('go');
      await next();
      const { calls } = await tracing.stop();
      // 500 writes to /dev/null plus the IPC answer's write (libuv may use write or writev/sendmsg).
      expect(calls.write).toBeGreaterThanOrEqual(500);
      expect(calls.write).toBeLessThan(800);
      child.kill('SIGKILL');
    },
    30_000,
  );

  it.skipIf(!STRACE)(
    'counts pipe, sse and ws on a smoke throughput job, every token still checked',
    async () => {
      const out = tempDir();
      const bench = startBench(['--smoke', '--strace', 'throughput', '--out', out]);
      expect(await bench.exited, bench.stderr()).toBe(0);
      const result = resultIn(out);
      expect(result.scenarios).toEqual({}); // the timed scenarios did not run under strace, nor at all
      expect(result.checks).toMatchObject({ ok: true, failedStreams: 0 });
      expect(result.checks.streams).toBeGreaterThan(0);
      const [sc] = result.syscalls.scenarios;
      expect(sc.scenario).toBe('throughput');
      expect(sc.rows.map((r: { target: string }) => r.target)).toEqual(['pipe', 'sse', 'ws']);
      for (const row of sc.rows) {
        // Every stream's bytes were read from the upstream and written to the client.
        expect(row.ioPer1k).toBeGreaterThan(0);
        expect(row.per1k.read).toBeGreaterThan(0);
      }
      const md = readFileSync(join(out, 'latest-smoke.md'), 'utf8');
      expect(md).toContain('## Syscalls per 1,000 tokens');
      expect(md).toMatch(/\| \*\*all calls\*\* \| [\d,.]+ \| [\d,.]+ \| [\d,.]+ \| [\d.]+× \| [\d.]+× \|/);
      // No strace left attached or running.
      expect(bench.stderr()).not.toMatch(/FAILED/);
    },
    120_000,
  );
});
