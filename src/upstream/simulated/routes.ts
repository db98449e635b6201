/** The Anthropic API surface: authentication, then the route table, 404 and 405 like the API. */
import type { IncomingHttpHeaders } from 'node:http';
import { type Exchange, sendError } from './exchange.js';
import { handleCountTokens, handleMessages, type MessagesContext } from './messages.js';
import { getModel, listModels } from './models.js';
import type { RequestRecord } from './records.js';

/** Which credential the client sent: `x-api-key`, `Authorization: Bearer`, or none. */
export function authKind(headers: IncomingHttpHeaders): RequestRecord['auth'] {
  const key = headers['x-api-key'];
  if (typeof key === 'string' && key.trim().length > 0) return 'x-api-key';
  const auth = headers.authorization;
  if (typeof auth === 'string' && /^Bearer\s+\S/i.test(auth)) return 'bearer';
  return 'none';
}

interface Route {
  readonly pattern: RegExp;
  readonly method: string;
  readonly handle: (
    ex: Exchange,
    ctx: MessagesContext,
    url: URL,
    params: readonly string[],
  ) => Promise<void> | void;
}

const ROUTES: readonly Route[] = [
  { pattern: /^\/v1\/messages$/, method: 'POST', handle: (ex, ctx) => handleMessages(ex, ctx) },
  {
    pattern: /^\/v1\/messages\/count_tokens$/,
    method: 'POST',
    handle: (ex, ctx) => handleCountTokens(ex, ctx),
  },
  {
    pattern: /^\/v1\/models$/,
    method: 'GET',
    handle: (ex, ctx, url) => listModels(ex, url.searchParams, ctx.models),
  },
  {
    pattern: /^\/v1\/models\/([^/]+)$/,
    method: 'GET',
    handle: (ex, ctx, _url, params) => getModel(ex, params[0] ?? '', ctx.models),
  },
];

/** Answers one API request. Any `anthropic-version` is accepted. */
export async function routeApi(ex: Exchange, ctx: MessagesContext, url: URL): Promise<void> {
  const path = url.pathname;
  const matching = ROUTES.map((route) => ({ route, match: route.pattern.exec(path) })).filter(
    (m) => m.match !== null,
  );
  if (matching.length === 0) return sendError(ex, 404, `Not found: ${ex.req.method ?? 'GET'} ${path}`);
  const hit = matching.find((m) => m.route.method === ex.req.method);
  if (hit === undefined || hit.match === null) {
    const allow = matching.map((m) => m.route.method).join(', ');
    return sendError(ex, 405, `Method Not Allowed: ${ex.req.method ?? ''} ${path}`, {
      type: 'invalid_request_error',
      headers: { allow },
    });
  }
  if (ex.record.auth === 'none') {
    return sendError(ex, 401, 'x-api-key header is required', { type: 'authentication_error' });
  }
  await hit.route.handle(
    ex,
    ctx,
    url,
    hit.match.slice(1).map((p) => safeDecode(p ?? '')),
  );
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
