/**
 * The simulator's own routes, outside the Anthropic API and not recorded:
 *
 * - `GET /health` → `{"status":"ok"}`
 * - `GET /_sim/requests[?prompt_contains=text]` → JSON array of request records, oldest first
 * - `GET /_sim/requests/:id` → one record, or 404
 * - `DELETE /_sim/requests` → forgets every record, answers `{"cleared": n}`
 */
import type { ServerResponse } from 'node:http';
import type { RecordStore } from './records.js';

/** True when the path is one of ours (answered here), false when it belongs to the API. */
export function isIntrospectionPath(path: string): boolean {
  return path === '/health' || path === '/_sim' || path.startsWith('/_sim/');
}

interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Record<string, string>;
}

const notAllowed = (allow: string): Reply => ({
  status: 405,
  body: { error: 'method not allowed' },
  headers: { allow },
});

function answer(method: string, url: URL, records: RecordStore): Reply {
  const path = url.pathname;
  if (path === '/health') {
    return method === 'GET' || method === 'HEAD'
      ? { status: 200, body: { status: 'ok' } }
      : notAllowed('GET, HEAD');
  }
  if (path === '/_sim/requests') {
    if (method === 'GET') {
      const needle = url.searchParams.get('prompt_contains');
      const all = records.all();
      return {
        status: 200,
        body: needle === null ? all : all.filter((r) => r.prompt?.includes(needle) === true),
      };
    }
    if (method === 'DELETE') {
      const cleared = records.all().length;
      records.clear();
      return { status: 200, body: { cleared } };
    }
    return notAllowed('GET, DELETE');
  }
  // Record ids are base62, so the path segment needs no decoding.
  const match = /^\/_sim\/requests\/([^/]+)$/.exec(path);
  if (match?.[1] !== undefined) {
    if (method !== 'GET') return notAllowed('GET');
    const record = records.get(match[1]);
    return record === undefined
      ? { status: 404, body: { error: 'no such request record' } }
      : { status: 200, body: record };
  }
  return { status: 404, body: { error: 'not found' } };
}

export function handleIntrospection(
  method: string,
  url: URL,
  res: ServerResponse,
  records: RecordStore,
): void {
  const reply = answer(method, url, records);
  const bytes = Buffer.from(JSON.stringify(reply.body));
  res.writeHead(reply.status, {
    'content-type': 'application/json',
    'content-length': bytes.length,
    ...reply.headers,
  });
  res.end(bytes);
}
