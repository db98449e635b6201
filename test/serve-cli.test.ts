/**
 * `relay serve` as `npm start` runs it (the built CLI as a child process): a port that is taken
 * ends it at once with a message naming the setting to change, and the start line names the
 * upstream it uses (a base URL's origin or "simulated"), never a key. Runs dist/ (`npm test` builds first).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimulatedUpstream, startSimulatedUpstream } from '../src/upstream/simulated/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Run {
  readonly child: ChildProcessWithoutNullStreams;
  readonly out: { stdout: string; stderr: string };
  readonly exit: Promise<number | string>;
}

/** `node bin/relay.js serve`, with only the environment given (no ANTHROPIC_* leaks in from ours). */
function serve(args: string[], env: Record<string, string>): Run {
  const child = spawn(process.execPath, ['bin/relay.js', 'serve', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', RELAY_LOG_LEVEL: 'silent', ...env },
  });
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out.stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    out.stderr += d;
  });
  // A death by signal shows as its name, so a failure says what happened.
  const exit = once(child, 'close').then(([code, signal]) => (code as number | null) ?? (signal as string));
  return { child, out, exit };
}

/** Resolves with the exit code, or kills the child and fails after `ms`. */
async function exitWithin(run: Run, ms: number): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      run.child.kill('SIGKILL');
      reject(new Error(`still running after ${ms} ms; stdout=${run.out.stdout} stderr=${run.out.stderr}`));
    }, ms);
  });
  try {
    return await Promise.race([run.exit, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves with the start line; fails if the process exits first or after 10 s. */
async function startLine(run: Run): Promise<string> {
  const deadline = Date.now() + 10_000;
  while (!run.out.stdout.includes('\n')) {
    if (run.child.exitCode !== null) throw new Error(`exited ${run.child.exitCode}: ${run.out.stderr}`);
    if (Date.now() > deadline) throw new Error(`no start line in 10 s: ${run.out.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return run.out.stdout.split('\n')[0] ?? '';
}

async function stop(run: Run): Promise<void> {
  if (run.child.exitCode !== null) return;
  run.child.kill('SIGTERM');
  expect(await exitWithin(run, 10_000), run.out.stderr).toBe(0);
}

let taken: Server;
let takenPort: number;
let sim: SimulatedUpstream;

beforeAll(async () => {
  taken = createServer().listen(0, '127.0.0.1');
  await once(taken, 'listening');
  takenPort = (taken.address() as { port: number }).port;
  sim = await startSimulatedUpstream({ firstTokenMs: 0, tokensPerSecond: 0 });
});

afterAll(async () => {
  await new Promise<void>((resolve) => taken.close(() => resolve()));
  await sim.close();
});

describe('relay serve on a port that is taken', () => {
  it('exits 1 at once with the simulated upstream, naming the port, RELAY_PORT and --port', async () => {
    const run = serve(['--port', String(takenPort)], {});
    expect(await exitWithin(run, 10_000)).toBe(1);
    expect(run.out.stderr).toContain(`port ${takenPort} on 127.0.0.1 is already in use`);
    expect(run.out.stderr).toContain('RELAY_PORT');
    expect(run.out.stderr).toContain('--port');
    expect(run.out.stdout).toBe('');
  });

  it('exits 1 at once with a real upstream too (port from RELAY_PORT)', async () => {
    const run = serve([], {
      RELAY_PORT: String(takenPort),
      ANTHROPIC_API_KEY: 'sk-test-key',
      ANTHROPIC_BASE_URL: sim.url,
    });
    expect(await exitWithin(run, 10_000)).toBe(1);
    expect(run.out.stderr).toContain(`port ${takenPort}`);
    expect(run.out.stderr).toContain('RELAY_PORT');
  });
});

describe('the start line names the upstream, never a key', () => {
  it('says "simulated" with neither a key nor a base URL', async () => {
    const run = serve(['--port', '0'], {});
    try {
      expect(await startLine(run)).toMatch(
        /^relay listening on http:\/\/127\.0\.0\.1:\d+ \(upstream: simulated at http:\/\/127\.0\.0\.1:\d+\)$/,
      );
    } finally {
      await stop(run);
    }
  });

  it("names the base URL's origin with a key, without the key, user-info or path", async () => {
    const run = serve(['--port', '0'], {
      ANTHROPIC_API_KEY: 'sk-secret-value-123',
      ANTHROPIC_BASE_URL: 'http://user:hunter2@127.0.0.1:9/gateway/token-abc',
    });
    try {
      const line = await startLine(run);
      expect(line).toMatch(/\(upstream: http:\/\/127\.0\.0\.1:9\)$/);
      for (const secret of ['sk-secret', 'hunter2', 'token-abc', 'user'])
        expect(run.out.stdout).not.toContain(secret);
    } finally {
      await stop(run);
    }
  });

  it('uses a base URL without a key, sending no credential, and says so', async () => {
    const run = serve(['--port', '0'], { ANTHROPIC_BASE_URL: sim.url });
    try {
      const line = await startLine(run);
      expect(line).toContain(`(upstream: ${sim.url} (no API key))`);
      const url = /listening on (\S+)/.exec(line)?.[1];
      const res = await fetch(`${url}/v1/streams`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'keyless-base-url' }),
      });
      await res.text();
      // The request reached the base URL, without x-api-key or Authorization (the simulator,
      // like the real API, then answers 401).
      const record = await sim.records.waitFor((r) => r.path === '/v1/messages' && r.status !== 0, 10_000);
      expect(record.auth).toBe('none');
      expect(record.status).toBe(401);
    } finally {
      await stop(run);
    }
  });
});
