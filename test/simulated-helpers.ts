/** Shared helpers for the simulated upstream's tests (not a test file itself). */
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import { type SimulatedUpstream, startSimulatedUpstream } from '../src/upstream/simulated/index.js';

/** A simulator with zero-delay pacing, as every test wants. */
export function startFastSim(
  opts: Parameters<typeof startSimulatedUpstream>[0] = {},
): Promise<SimulatedUpstream> {
  return startSimulatedUpstream({ firstTokenMs: 0, tokensPerSecond: 0, ...opts });
}

export function sdkFor(baseURL: string, maxRetries = 0): Anthropic {
  return new Anthropic({ apiKey: 'test-key', baseURL, maxRetries });
}

/** A unique marker so a test can find its own request among the records. */
export function marker(): string {
  return `m${randomUUID().slice(0, 8)}`;
}

export function userTurn(text: string): { role: 'user'; content: string }[] {
  return [{ role: 'user', content: text }];
}

/** POST /v1/messages with fetch, raw. */
export function postMessages(
  sim: { url: string },
  body: unknown,
  headers: Record<string, string> = { 'x-api-key': 'test-key' },
): Promise<Response> {
  return fetch(`${sim.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** The raw bytes of a streamed answer. */
export async function rawStream(sim: { url: string }, body: Record<string, unknown>): Promise<Buffer> {
  const res = await postMessages(sim, { ...body, stream: true });
  return Buffer.from(await res.arrayBuffer());
}

/** Parses SSE text into `{event, data}` pairs (the frames are well formed in these tests). */
export function sseEvents(text: string): { event: string; data: unknown }[] {
  return text
    .split('\n\n')
    .filter((f) => f.trim().length > 0)
    .map((frame) => {
      const lines = frame.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? '';
      const data = lines.find((l) => l.startsWith('data: '))?.slice(6) ?? 'null';
      return { event, data: JSON.parse(data) as unknown };
    });
}

/**
 * A tiny server answering every request with `write(res)`: the way to feed the SDK exact bytes
 * (a fixture file, or a stream re-chunked at chosen offsets).
 */
export async function rawServer(write: (res: ServerResponse) => Promise<void> | void): Promise<{
  url: string;
  close(): Promise<void>;
}> {
  const server: Server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'request-id': 'req_raw' });
    void Promise.resolve(write(res)).then(() => res.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Resolves after `ms` (for bounded polling only; no test asserts an upper time bound). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
