/**
 * `GET /v1/models` and `GET /v1/models/:id` for OpenAI clients: the upstream's model list in
 * OpenAI's shape (`{object: "list", data: [{id, object: "model", created, owned_by}]}`). A request
 * carrying `anthropic-version` comes from an Anthropic SDK and falls through to the
 * Anthropic-compatible routes, which answer the upstream's own bytes as before.
 */
import type { Context, Next } from 'hono';
import type { ApiPassthrough } from '../../core/api-passthrough.js';
import { type ErrorCode, RelayError } from '../../core/errors.js';
import type { RelayApp, RelayEnv } from '../relay-env.js';

export interface OpenAIModelsDeps {
  /** Undefined when the relay runs on a test upstream with no API behind it. */
  readonly passthrough: ApiPassthrough | undefined;
}

type Ctx = Context<RelayEnv>;

interface AnthropicModel {
  id: string;
  created_at?: string;
}

/** Pages of the upstream's list followed at most (1000 models each): a bound, not a limit in practice. */
const MAX_PAGES = 10;

/** Registered before the Anthropic-compatible routes, which serve `anthropic-version` requests. */
export function registerOpenAIModelRoutes(app: RelayApp, deps: OpenAIModelsDeps): void {
  app.get('/v1/models', (c, next) => answer(c, next, deps, listModels));
  app.get('/v1/models/:id', (c, next) =>
    answer(c, next, deps, async (passthrough, signal) =>
      openaiModel(
        (await getJson(
          passthrough,
          `/v1/models/${encodeURIComponent(c.req.param('id'))}`,
          {},
          signal,
        )) as AnthropicModel,
      ),
    ),
  );
}

/** Anthropic's SDKs send `anthropic-version` on every request; OpenAI's never do. */
export function fromAnthropicSdk(c: Ctx): boolean {
  return c.req.header('anthropic-version') !== undefined;
}

async function answer(
  c: Ctx,
  next: Next,
  deps: OpenAIModelsDeps,
  build: (passthrough: ApiPassthrough, signal: AbortSignal) => Promise<object>,
): Promise<Response | undefined> {
  if (fromAnthropicSdk(c)) {
    await next();
    return undefined;
  }
  const { outgoing } = c.env;
  const controller = new AbortController();
  // The client leaving stops the upstream call.
  const onClose = (): void => controller.abort();
  outgoing.once('close', onClose);
  try {
    if (deps.passthrough === undefined) {
      throw new RelayError('not_found', 'this relay runs on a test upstream without a model list behind it');
    }
    return Response.json(await build(deps.passthrough, controller.signal));
  } finally {
    outgoing.off('close', onClose);
  }
}

async function listModels(passthrough: ApiPassthrough, signal: AbortSignal): Promise<object> {
  const data: object[] = [];
  let after: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const query: Record<string, string> = {
      limit: '1000',
      ...(after === undefined ? {} : { after_id: after }),
    };
    const body = (await getJson(passthrough, '/v1/models', query, signal)) as {
      data?: AnthropicModel[];
      has_more?: boolean;
      last_id?: string | null;
    };
    for (const model of body.data ?? []) data.push(openaiModel(model));
    if (body.has_more !== true || typeof body.last_id !== 'string') break;
    after = body.last_id;
  }
  return { object: 'list', data };
}

function openaiModel(m: AnthropicModel): object {
  const created = m.created_at === undefined ? Number.NaN : Date.parse(m.created_at);
  return {
    id: m.id,
    object: 'model',
    created: Number.isFinite(created) ? Math.floor(created / 1000) : 0,
    owned_by: 'anthropic',
  };
}

/** The upstream's JSON answer; its errors keep their status, spelled as relay codes. */
async function getJson(
  passthrough: ApiPassthrough,
  path: string,
  query: Record<string, string>,
  signal: AbortSignal,
): Promise<unknown> {
  const res = await passthrough.send({ method: 'GET', path, query, headers: {}, stream: false }, signal);
  const body = (await res.json().catch(() => undefined)) as { error?: { message?: unknown } } | undefined;
  if (res.ok && body !== undefined) return body;
  const message =
    typeof body?.error?.message === 'string' ? body.error.message : `upstream answered ${res.status}`;
  throw new RelayError(codeForStatus(res.status), message);
}

function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
      return 'invalid_request';
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 429:
      return 'rate_limited';
    case 529:
      return 'upstream_overloaded';
    default:
      return 'upstream_error';
  }
}
