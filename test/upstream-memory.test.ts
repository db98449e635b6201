/**
 * What an open upstream stream holds in the SDK adapter (AnthropicUpstream.push while its body
 * flows): heap per open stream after a forced full GC (`gc` exposed for this file only), against
 * an upstream in a child process (so its own memory is not counted) that sends a stream's opening
 * events and then holds it open. The bound sits between what the adapter held before issue 18's
 * round-four cuts (the request's header table and head rope, the signal's listeners, the awaiting
 * attempt, retry loop and pump, the answer's Headers) and after, with room for noise.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UpstreamEvent } from '../src/core/upstream.js';
import { AnthropicUpstream } from '../src/upstream/anthropic.js';
import { heapAfterGc } from './helpers/heap.js';

/** The upstream: answers every request with message_start and one text delta, then holds it. */
const UPSTREAM = `
const http = require('node:http');
const held = [];
const frame = (event, data) => 'event: ' + event + '\\ndata: ' + JSON.stringify(data) + '\\n\\n';
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'request-id': 'req_' + held.length });
    res.write(frame('message_start', { type: 'message_start', message: { id: 'msg_' + held.length, type: 'message',
      role: 'assistant', model: 'claude-haiku-4-5', content: [], stop_reason: null, stop_sequence: null,
      usage: { input_tokens: 10, output_tokens: 1 } } }));
    res.write(frame('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }));
    res.write(frame('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } }));
    held.push(res);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write('port ' + server.address().port + '\\n'));
process.on('disconnect', () => process.exit(0));
`;

let child: ChildProcess;
let baseURL: string;

beforeAll(async () => {
  child = spawn(process.execPath, ['-e', UPSTREAM], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  baseURL = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the upstream did not start within 10 s')), 10_000);
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += String(chunk);
      const port = /port (\d+)/.exec(out)?.[1];
      if (port !== undefined) {
        clearTimeout(timer);
        resolve(`http://127.0.0.1:${port}`);
      }
    });
  });
});

afterAll(() => {
  child.kill();
});

/** Opens `n` streams; resolves once each has delivered its first text. */
async function open(
  upstream: AnthropicUpstream,
  n: number,
  signal: AbortSignal,
  ended: Promise<void>[],
): Promise<void> {
  const first: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    first.push(
      new Promise<void>((resolve, reject) => {
        const sink = (events: readonly UpstreamEvent[]): boolean => {
          if (events.some((e) => e.type === 'text')) resolve();
          return true;
        };
        ended.push(
          upstream
            .push(
              {
                model: 'claude-haiku-4-5',
                max_tokens: 64,
                messages: [{ role: 'user', content: `hello ${i}` }],
              },
              signal,
              sink,
            )
            .then(() => resolve(), reject),
        );
      }),
    );
  }
  await Promise.all(first);
}

describe('an open upstream stream', () => {
  it('holds at most 16 KB of heap in the adapter while its body flows (12 KB; 19.5 KB before the cuts)', async () => {
    const upstream = new AnthropicUpstream({
      apiKey: 'sk-ant-memory-test',
      baseURL,
      firstTokenTimeoutMs: 60_000,
      idleTimeoutMs: 60_000,
      retry: { budgetMs: 1000, maxAttempts: 1, baseDelayMs: 5, maxDelayMs: 5 },
    });
    const controller = new AbortController();
    const ended: Promise<void>[] = [];
    try {
      // Warm-up: code, the agent's pools and the SDK's lazy parts, then the measured streams.
      await open(upstream, 50, controller.signal, ended);
      const before = heapAfterGc();
      const n = 300;
      await open(upstream, n, controller.signal, ended);
      const perStreamKb = (heapAfterGc() - before) / n / 1024;
      expect(perStreamKb).toBeGreaterThan(2);
      expect(perStreamKb).toBeLessThan(16);
    } finally {
      controller.abort();
      await Promise.allSettled(ended);
      upstream.close();
    }
  });
});
