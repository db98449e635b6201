/**
 * readJsonBody against real sockets: a body in many pieces is read whole, one past the limit
 * without a declared length is refused while its rest is drained (the client gets the answer),
 * and a client that leaves mid-body rejects the read and gives its bytes back to the budget.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RelayError } from '../src/core/errors.js';
import { readJsonBody } from '../src/transports/http-body.js';
import { RequestBudget } from '../src/transports/request-budget.js';

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

let server: http.Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A server whose every request body goes through readJsonBody; outcomes arrive in order. */
async function serve(
  limitBytes: number,
  budget: RequestBudget,
): Promise<{ port: number; next: () => Promise<Outcome> }> {
  const outcomes: Outcome[] = [];
  const waiters: ((o: Outcome) => void)[] = [];
  const settle = (o: Outcome): void => {
    const waiter = waiters.shift();
    if (waiter) waiter(o);
    else outcomes.push(o);
  };
  server = http.createServer((req, res) => {
    readJsonBody(req, limitBytes, budget).then(
      (value) => {
        settle({ ok: true, value });
        res.end(JSON.stringify(value));
      },
      (error: unknown) => {
        settle({ ok: false, error });
        if (!res.destroyed) {
          res.statusCode = error instanceof RelayError ? error.status : 500;
          res.end(error instanceof RelayError ? error.code : 'failed');
        }
      },
    );
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const next = (): Promise<Outcome> => {
    const ready = outcomes.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve) => waiters.push(resolve));
  };
  return { port, next };
}

/** Sends `parts` as a chunked POST body, one write per part; resolves with status and body. */
function post(port: number, parts: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'content-type': 'application/json' } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    let i = 0;
    const writeNext = (): void => {
      if (i === parts.length) {
        req.end();
        return;
      }
      req.write(parts[i++]!);
      setTimeout(writeNext, 5);
    };
    writeNext();
  });
}

const within = <T>(p: Promise<T>, ms = 5000): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timed out')), ms))]);

describe('readJsonBody', () => {
  it('reads a body sent in many pieces whole', async () => {
    const budget = new RequestBudget(1_000_000);
    const { port, next } = await serve(10_000, budget);
    const answer = await within(post(port, ['{"message":', '"hel', 'lo",', '"max_tokens":', '5}']));
    expect(answer.status).toBe(200);
    expect(await within(next())).toEqual({ ok: true, value: { message: 'hello', max_tokens: 5 } });
    expect(budget.heldBytes).toBe(0);
  });

  it('refuses a chunked body past the limit with payload_too_large, draining the rest so the client gets the answer', async () => {
    const budget = new RequestBudget(1_000_000);
    const { port, next } = await serve(100, budget);
    const answer = await within(
      post(port, ['{"message":"', 'x'.repeat(80), 'y'.repeat(80), 'z'.repeat(80), '"}']),
    );
    expect(answer.status).toBe(413);
    expect(answer.body).toBe('payload_too_large');
    const outcome = await within(next());
    expect(outcome.ok).toBe(false);
    expect(budget.heldBytes).toBe(0);
  });

  it('rejects when the client leaves mid-body, and the bytes it held go back to the budget', async () => {
    const budget = new RequestBudget(1_000_000);
    const { port, next } = await serve(10_000, budget);
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(
      'POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"message":"part',
    );
    await expect.poll(() => budget.heldBytes, { timeout: 5000 }).toBe(500);
    socket.destroy();
    const outcome = await within(next());
    expect(outcome.ok).toBe(false);
    expect(budget.heldBytes).toBe(0);
  });
});
