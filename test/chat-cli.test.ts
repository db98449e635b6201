/**
 * `relay chat` as users run it: the built CLI (`node bin/relay.js chat`) as a child process with
 * piped stdin, against a relay started here on port 0.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer } from '../src/server.js';
import { startTestRelay } from './helpers/relay.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STATS = /ttft \d+ ms · (\d+\.\d tok\/s|tok\/s —) · \d+ in \/ \d+ out tokens/;

let relay: RelayServer;

beforeAll(async () => {
  // bin/relay.js runs dist/. Another engineer's unfinished file may fail the type check, but tsc
  // still emits, so only a missing build is fatal here.
  await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT }).catch(() => {});
  relay = await startTestRelay();
  relay.simulated!.records.keepBodies(); // the tests read what the relay sent upstream
}, 120_000);

afterAll(async () => {
  await relay.close();
});

interface Run {
  readonly child: ChildProcessWithoutNullStreams;
  /** Everything printed so far. */
  readonly out: { stdout: string; stderr: string };
  /** Resolves with the exit code. */
  readonly exit: Promise<number | null>;
}

function chat(args: string[], stdin?: string): Run {
  const child = spawn(process.execPath, ['bin/relay.js', 'chat', ...args], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '', RELAY_URL: '' },
  });
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out.stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    out.stderr += d;
  });
  const exit = once(child, 'close').then(([code]) => code as number | null);
  if (stdin !== undefined) child.stdin.end(stdin);
  return { child, out, exit };
}

/** Resolves once the child's stdout has some answer text (tokens are flowing). */
async function firstOutput(run: Run): Promise<void> {
  if (run.out.stdout.length > 0) return;
  await once(run.child.stdout, 'data');
}

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('relay chat', () => {
  it('prints every flag and environment variable with --help', async () => {
    const run = chat(['--help']);
    expect(await run.exit).toBe(0);
    for (const word of [
      '--transport',
      '--url',
      '--model',
      '--system',
      '--thinking',
      '--help',
      'RELAY_URL',
      'NO_COLOR',
    ]) {
      expect(run.out.stdout).toContain(word);
    }
  });

  it('streams a one-shot answer, then one plain stats line, and exits 0', async () => {
    const run = chat(['--url', relay.url, '--system', 'be brief', 'chat-one-shot [[sim tokens=12]]']);
    expect(await run.exit).toBe(0);
    const lines = run.out.stdout.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.at(-1)).toMatch(STATS);
    expect(lines[0]!.length).toBeGreaterThan(0);
    // Not a terminal: no ANSI styling.
    expect(run.out.stdout).not.toContain('\x1b[');
    const record = await relay.simulated!.records.waitFor(
      (r) => r.prompt?.includes('chat-one-shot') === true,
    );
    expect((record.body as { system?: unknown }).system).toBe('be brief');
  });

  it('--thinking prints the thinking before the answer and asks for it; without it no thinking is shown', async () => {
    const run = chat([
      '--url',
      relay.url,
      '--thinking',
      'chat-think [[sim thinking=1 redacted_thinking=1 tokens=6]]',
    ]);
    expect(await run.exit).toBe(0);
    const lines = run.out.stdout.split('\n');
    expect(lines[0]).toMatch(/^thinking: \S/);
    expect(run.out.stdout).toContain('[redacted thinking]');
    const record = await relay.simulated!.records.waitFor((r) => r.prompt?.includes('chat-think') === true);
    expect((record.body as { thinking?: unknown }).thinking).toEqual({
      type: 'enabled',
      budget_tokens: 1024,
    });

    const plain = chat(['--url', relay.url, 'chat-no-think [[sim thinking=1 redacted_thinking=1 tokens=6]]']);
    expect(await plain.exit).toBe(0);
    expect(plain.out.stdout).not.toContain('thinking');
  });

  it.each(['sse', 'ws'])(
    'prints citations as numbered footnotes and what the web search did, over %s',
    async (transport) => {
      const run = chat([
        '--transport',
        transport,
        '--url',
        relay.url,
        'chat-cite relays [[sim web_search=1 tokens=6]]',
      ]);
      expect(await run.exit).toBe(0);
      const out = run.out.stdout;
      expect(out).toMatch(/\[web search for “[^”]+”: 3 results\]/);
      // Two citations from two sources: markers in the answer, one footnote each after it.
      expect(out).toContain('[1][2]');
      expect(out).toMatch(/^\[1\] About .+ — https:\/\/example\.com\/.+$/m);
      expect(out).toMatch(/^\[2\] About .+ — https:\/\/example\.com\/.+$/m);
      expect(out.trimEnd().split('\n').at(-1)).toMatch(STATS);
    },
  );

  it('prints what code execution did: its exit code and output', async () => {
    const run = chat(['--url', relay.url, 'chat-code hello relay [[sim code_execution=1 tokens=4]]']);
    expect(await run.exit).toBe(0);
    expect(run.out.stdout).toMatch(/\[code execution: exit code 0\]\nCHAT-CODE HELLO RELAY\n/i);
  });

  it('says when Claude declined to answer, with the refusal category', async () => {
    const run = chat(['--url', relay.url, 'chat-refuse [[sim refusal=cyber tokens=9]]']);
    expect(await run.exit).toBe(0);
    expect(run.out.stdout).toContain('(Claude declined to answer: cyber)');
  });

  it('streams a one-shot answer over WebSocket', async () => {
    const run = chat(['--transport', 'ws', '--url', relay.url, 'chat-ws-one-shot [[sim tokens=8]]']);
    expect(await run.exit).toBe(0);
    expect(run.out.stdout.trimEnd().split('\n').at(-1)).toMatch(STATS);
  });

  it.each(['sse', 'ws'])('keeps a two-turn REPL conversation over %s', async (transport) => {
    const tag = `chat-repl-${transport}`;
    const run = chat(
      ['--transport', transport, '--url', relay.url],
      `${tag}-1 [[sim tokens=5]]\n${tag}-2 [[sim tokens=5]]\n`,
    );
    expect(await run.exit).toBe(0);
    expect(run.out.stdout.split('\n').filter((l) => STATS.test(l))).toHaveLength(2);
    const second = await relay.simulated!.records.waitFor((r) => r.prompt?.includes(`${tag}-2`) === true);
    const messages = (second.body as { messages: { role: string; content: unknown }[] }).messages;
    expect(messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(messages[0]?.content).toBe(`${tag}-1 [[sim tokens=5]]`);
  });

  it.each(['sse', 'ws'])(
    'cancels on the relay at SIGINT during a slow answer over %s and prints the receipt',
    async (transport) => {
      const tag = `chat-sigint-${transport}`;
      const run = chat(['--transport', transport, '--url', relay.url, `${tag} [[sim tokens=400 tps=50]]`]);
      await firstOutput(run);
      run.child.kill('SIGINT');
      expect(await run.exit).toBe(130);
      expect(run.out.stdout).toMatch(/cancelled \(client\) · .*out tokens \(estimated\)/);
      const record = await relay.simulated!.records.waitFor(
        (r) => r.prompt?.includes(tag) === true && r.clientClosedAt !== null,
      );
      expect(record.tokensSent).toBeLessThan(400);
    },
  );

  it('says how to start the relay when it is not reachable, and exits non-zero', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    for (const transport of ['sse', 'ws']) {
      const run = chat(['--transport', transport, '--url', url, 'hello']);
      expect(await run.exit).toBe(1);
      expect(run.out.stderr).toContain(`relay not reachable at ${url} — start it with \`npm start\``);
    }
  });

  it('prints the error code and message the relay answered, and exits 1', async () => {
    const failed = chat(['--url', relay.url, 'chat-fail [[sim status=400]]']);
    expect(await failed.exit).toBe(1);
    expect(failed.out.stderr).toMatch(/error invalid_request: /);

    const refused = chat(['--url', relay.url, '--model', 'x'.repeat(300), 'hello']);
    expect(await refused.exit).toBe(1);
    expect(refused.out.stderr).toMatch(/error invalid_request: model/);
  });

  it('rejects an unknown transport as a usage error', async () => {
    const run = chat(['--transport', 'carrier-pigeon', 'hello']);
    expect(await run.exit).toBe(2);
    expect(run.out.stderr).toContain('--transport must be sse or ws');
  });
});
