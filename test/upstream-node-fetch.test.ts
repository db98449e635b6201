/**
 * node-fetch.ts, the SDK's `fetch` on node:http: what it sends (method, path, headers, body, the
 * URL's credentials), what it answers (a light response for a success, whose body the adapter
 * takes as a Node stream or anyone else reads as a web stream; a platform Response for an error
 * status), and that aborting the signal ends the request. Against a real server on 127.0.0.1.
 */
import { getEventListeners } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBody } from '../src/upstream/body-reader.js';
import { createNodeFetch, NODE_BODY_ONLY, type NodeFetch, takeNodeBody } from '../src/upstream/node-fetch.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

let server: http.Server;
let base: string;
let seen: Seen[] = [];
/** Requests that are never answered (for abort), kept to close at the end. */
const hanging: http.ServerResponse[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
      });
      const path = (req.url ?? '').split('?')[0];
      switch (path) {
        case '/hang':
          hanging.push(res);
          return;
        case '/slow':
        case '/slow-error':
          // The head and a first chunk, then nothing until the test ends.
          res.writeHead(path === '/slow' ? 200 : 500, { 'content-type': 'application/json' });
          res.write('{"first":');
          hanging.push(res);
          return;
        case '/limited':
        case '/limited/v1/messages':
          res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7' });
          res.end('{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}');
          return;
        case '/empty':
          res.writeHead(204);
          res.end();
          return;
        default:
          // Header names in mixed case and a repeated header, as a real server may send them.
          res.writeHead(200, [
            ['Content-Type', 'text/event-stream'],
            ['Request-Id', 'req_abc'],
            ['X-Thing', 'one'],
            ['x-thing', 'two'],
          ]);
          res.end(`answer to ${req.method} ${req.url}: ${body}`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of hanging) res.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function withFetch<T>(use: (f: NodeFetch) => Promise<T>): Promise<T> {
  const f = createNodeFetch();
  try {
    return await use(f);
  } finally {
    f.close();
  }
}

async function nodeText(response: Response): Promise<string> {
  const node = takeNodeBody(response);
  if (node === undefined) throw new Error('no Node body');
  let text = '';
  for await (const chunk of node) text += String(chunk);
  return text;
}

/**
 * The whole body as the adapter reads it (body-reader.ts), released as after `message_stop`, with
 * the headers the reader hands the adapter.
 */
async function readAll(response: Response): Promise<{ headers: Headers; text: string }> {
  const reader = readBody(response);
  let text = '';
  await reader.read((chunk) => {
    text += Buffer.from(chunk).toString();
    return true;
  });
  reader.release(true);
  return { headers: reader.headers, text };
}

describe('node-fetch', () => {
  it('sends the method, path and query, the JSON body with its length, and the headers without accept-encoding', async () => {
    seen = [];
    await withFetch(async ({ fetch }) => {
      const headers = new Headers({
        'X-Api-Key': 'k1',
        'accept-encoding': 'gzip',
        'content-type': 'application/json',
      });
      const res = await fetch(`${base}/v1/messages?beta=true`, {
        method: 'POST',
        headers,
        body: '{"a":"é"}',
      });
      expect(await nodeText(res)).toBe('answer to POST /v1/messages?beta=true: {"a":"é"}');
      // A plain object of headers works too, and a second URL is not confused with the first.
      const again = await fetch(`${base}/other`, {
        method: 'POST',
        headers: { 'X-Api-Key': 'k2' },
        body: '{}',
      });
      expect(await nodeText(again)).toBe('answer to POST /other: {}');
    });
    expect(seen.map((s) => s.url)).toEqual(['/v1/messages?beta=true', '/other']);
    const first = seen[0]!.headers;
    expect(first['x-api-key']).toBe('k1');
    expect(first['content-type']).toBe('application/json');
    expect(first['content-length']).toBe(String(Buffer.byteLength('{"a":"é"}')));
    expect(first['accept-encoding']).toBeUndefined();
    expect(seen[1]!.headers['x-api-key']).toBe('k2');
    // The headers node:http adds itself to an object of headers (it is given an array), each once.
    expect(first.host).toBe(new URL(base).host);
    expect(first.connection).toBe('keep-alive');
    const names = seen[0]!.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names).toEqual([...new Set(names)]);
    expect(names.sort()).toEqual(['connection', 'content-length', 'content-type', 'host', 'x-api-key']);
  });

  it("sends a URL's credentials as basic authorization, as http.request(url) does", async () => {
    seen = [];
    await withFetch(async ({ fetch }) => {
      const url = new URL(`${base}/creds`);
      url.username = 'user';
      url.password = 'p@ss';
      await nodeText(await fetch(url.href, { method: 'GET' }));
    });
    expect(seen[0]!.headers.authorization).toBe(`Basic ${Buffer.from('user:p@ss').toString('base64')}`);
  });

  it('answers a success with status and headers as a Response has them, its body taken once as a Node stream', async () => {
    await withFetch(async ({ fetch }) => {
      const res = await fetch(`${base}/ok`, { method: 'POST', body: 'x' });
      // No platform Response (nor hono's wrapper of one) is built per stream start: the point of it.
      expect(res).not.toBeInstanceOf(Response);
      expect(res.ok).toBe(true);
      expect(res.status).toBe(200);
      expect(res.url).toBe('');
      expect(res.headers).toBeInstanceOf(Headers);
      expect(res.headers.get('request-id')).toBe('req_abc');
      expect(res.headers.get('x-thing')).toBe('one, two');
      // As the SDK lists them (`entries()`): lower-case names, sorted.
      const entries = (res.headers as unknown as { entries(): Iterable<[string, string]> }).entries();
      const names = [...entries].map(([name]) => name);
      expect(names).toEqual([...names].sort());
      expect(names).toEqual(expect.arrayContaining(['content-type', 'request-id', 'x-thing']));
      // The SDK touches the body of every response; that alone leaves the Node body to the adapter.
      expect(res.body).toBe(res.body);
      expect(await nodeText(res)).toBe('answer to POST /ok: x');
      expect(takeNodeBody(res)).toBeUndefined();
    });
  });

  it('answers a success with no web body at all when the caller takes only the Node body', async () => {
    await withFetch(async ({ fetch }) => {
      const res = await fetch(`${base}/ok`, { method: 'POST', body: 'x', ...NODE_BODY_ONLY });
      expect(res.ok).toBe(true);
      expect(res.headers.get('request-id')).toBe('req_abc');
      expect(res.body).toBeNull();
      expect(res.bodyUsed).toBe(false);
      expect(await nodeText(res)).toBe('answer to POST /ok: x');
      // An error answer keeps its body whatever the caller said: the SDK reads it.
      const limited = await fetch(`${base}/limited`, { method: 'POST', body: 'x', ...NODE_BODY_ONLY });
      expect(limited.status).toBe(429);
      expect(await limited.json()).toMatchObject({ error: { type: 'rate_limit_error' } });
    });
  });

  it("reads a success's body as text, JSON or a web stream for readers other than the adapter", async () => {
    await withFetch(async ({ fetch }) => {
      const asText = await fetch(`${base}/text`, { method: 'POST', body: 't' });
      expect(await asText.text()).toBe('answer to POST /text: t');
      expect(asText.bodyUsed).toBe(true);
      // Read through the web body, the Node body is no longer the adapter's to take.
      expect(takeNodeBody(asText)).toBeUndefined();

      const json = await fetch(`${base}/json`, { method: 'POST', body: '1' });
      const cloned = json.clone();
      await expect(cloned.text()).resolves.toBe('answer to POST /json: 1');

      const web = await fetch(`${base}/web`, { method: 'POST', body: 'w' });
      let text = '';
      for await (const chunk of web.body as unknown as AsyncIterable<Uint8Array>)
        text += Buffer.from(chunk).toString();
      expect(text).toBe('answer to POST /web: w');
    });
  });

  it('answers an error status with a platform Response whose body the SDK can read', async () => {
    await withFetch(async ({ fetch }) => {
      const res = await fetch(`${base}/limited`, { method: 'POST', body: '{}' });
      expect(res).toBeInstanceOf(Response);
      expect(res.ok).toBe(false);
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('7');
      expect(await res.json()).toEqual({
        type: 'error',
        error: { type: 'rate_limit_error', message: 'slow down' },
      });
      const empty = await fetch(`${base}/empty`, { method: 'GET' });
      expect(empty.status).toBe(204);
      expect(empty.body).toBeNull();
    });
  });

  it('rejects with an abort when the signal aborts before the answer', async () => {
    await withFetch(async ({ fetch }) => {
      const controller = new AbortController();
      const pending = fetch(`${base}/hang`, { method: 'POST', body: '{}', signal: controller.signal });
      const before = hanging.length;
      await expect.poll(() => hanging.length, { timeout: 5000 }).toBe(before + 1);
      controller.abort();
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    });
  });

  it("lets go of the signal once a success's headers are in: its Node body is the taker's to abort", async () => {
    await withFetch(async ({ fetch }) => {
      const controller = new AbortController();
      const res = await fetch(`${base}/slow`, { method: 'POST', body: '{}', signal: controller.signal });
      expect(res.status).toBe(200);
      // Nothing keeps the signal for as long as the body flows (the attempt aborts it, attempt.ts).
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      const node = takeNodeBody(res);
      expect(node).toBeDefined();
      node?.destroy();
    });
  });

  it('a web body read of a success, and the body of an error answer, fail when the signal aborts', async () => {
    await withFetch(async ({ fetch }) => {
      const controller = new AbortController();
      const web = await fetch(`${base}/slow`, { method: 'POST', body: '{}', signal: controller.signal });
      const reader = (web.body as ReadableStream<Uint8Array>).getReader();
      expect(Buffer.from((await reader.read()).value ?? []).toString()).toBe('{"first":');
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
      const next = reader.read();
      controller.abort();
      await expect(next).rejects.toMatchObject({ name: 'AbortError' });
      await expect
        .poll(() => getEventListeners(controller.signal, 'abort').length, { timeout: 5000 })
        .toBe(0);

      const second = new AbortController();
      const failed = await fetch(`${base}/slow-error`, { method: 'POST', body: '{}', signal: second.signal });
      expect(failed.status).toBe(500);
      const text = failed.text();
      second.abort();
      await expect(text).rejects.toThrow();
      await expect.poll(() => getEventListeners(second.signal, 'abort').length, { timeout: 5000 }).toBe(0);
    });
  });

  it('carries an SDK streaming request: the SDK builds it, the adapter reads its body from the socket', async () => {
    seen = [];
    await withFetch(async ({ fetch }) => {
      const client = new Anthropic({ apiKey: 'sk-test', baseURL: base, maxRetries: 0, fetch });
      const response = await client.messages
        .create({ model: 'm', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] })
        .asResponse();
      const { headers, text } = await readAll(response);
      expect(headers.get('request-id')).toBe('req_abc');
      expect(text).toContain('answer to POST /v1/messages');
      expect(text).toContain('"stream":true');
    });
    const sent = seen[0]!.headers;
    // The SDK's own headers (its credentials, whichever header it puts them in) go out as it built them.
    expect(`${sent['x-api-key'] ?? ''}${sent.authorization ?? ''}`).toContain('sk-test');
    expect(sent['x-stainless-retry-count']).toBe('0');
    expect(JSON.parse(seen[0]!.body)).toMatchObject({ model: 'm', stream: true });
  });

  it("passes the SDK's fetch options through: with NODE_BODY_ONLY its streaming answer has no web body, its errors still do", async () => {
    await withFetch(async ({ fetch }) => {
      const client = new Anthropic({ apiKey: 'sk-test', baseURL: base, maxRetries: 0, fetch });
      const params = {
        model: 'm',
        max_tokens: 5,
        stream: true as const,
        messages: [{ role: 'user' as const, content: 'hi' }],
      };
      const response = await client.messages.create(params, { fetchOptions: NODE_BODY_ONLY }).asResponse();
      // The SDK read `body` (to arm its backstop) and found none to build.
      expect(response.body).toBeNull();
      expect((await readAll(response)).text).toContain('answer to POST /v1/messages');

      const limitedClient = new Anthropic({
        apiKey: 'sk-test',
        baseURL: `${base}/limited`,
        maxRetries: 0,
        fetch,
      });
      const failed = limitedClient.messages.create(params, { fetchOptions: NODE_BODY_ONLY }).asResponse();
      await expect(failed).rejects.toMatchObject({
        status: 429,
        error: { error: { type: 'rate_limit_error' } },
      });
    });
  });
});
