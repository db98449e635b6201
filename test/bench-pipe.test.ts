import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The benchmark's reference pipe (bench/pipe.ts) must not fail a run for its own sake: an upstream
 * that closes a pooled keep-alive connection just as the pipe reuses it is what made it fail
 * ("socket hang up") in two runs of round nine.
 */
describe('the benchmark pipe', () => {
  let upstream: http.Server;
  let pipe: ChildProcess;
  let pipeUrl: string;
  /** Requests the upstream saw, and how many of them it answered by dropping the connection. */
  let seen = 0;
  let dropped = 0;

  beforeAll(async () => {
    // Answers the first request on a connection; drops the connection on its second, before any
    // byte of an answer (what a keep-alive timeout racing a reuse looks like to the client).
    const perSocket = new WeakMap<object, number>();
    upstream = http.createServer((req, res) => {
      seen++;
      const n = (perSocket.get(req.socket) ?? 0) + 1;
      perSocket.set(req.socket, n);
      req.resume();
      req.on('end', () => {
        if (n > 1) {
          dropped++;
          req.socket.destroy();
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end('event: message_stop\ndata: {"type":"message_stop"}\n\n');
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const { port } = upstream.address() as AddressInfo;
    pipe = spawn(process.execPath, ['dist/bench/pipe.js', '--port', '0'], {
      env: { ...process.env, ANTHROPIC_BASE_URL: `http://127.0.0.1:${port}` },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    pipeUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the pipe did not start within 10 s')), 10_000);
      let out = '';
      pipe.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m?.[1] !== undefined) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
  });

  afterAll(async () => {
    pipe?.kill('SIGTERM');
    upstream?.closeAllConnections();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  });

  it('sends a request again when its pooled upstream connection is closed under it', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${pipeUrl}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ i }),
      });
      expect(await res.text()).toContain('message_stop');
      statuses.push(res.status);
    }
    expect(statuses).toEqual([200, 200]);
    // The second request went out twice: dropped on the reused connection, answered on a new one.
    expect(dropped).toBe(1);
    expect(seen).toBe(3);
  });
});
