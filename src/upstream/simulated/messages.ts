/** `POST /v1/messages` and `POST /v1/messages/count_tokens`. */
import type { AttemptCounter } from './attempts.js';
import { readJsonBody } from './body.js';
import { type Directives, parseDirectives, streamCut } from './directives.js';
import { defaultErrorMessage, errorTypeForStatus } from './errors.js';
import { type Exchange, finish, sendError, sendJson, wait } from './exchange.js';
import { fixtureFrames, loadFixture } from './fixtures.js';
import { isKnownModel, type ModelInfo, sendUnknownModel } from './models.js';
import { planReply } from './plan.js';
import { recordedPrompt } from './records.js';
import { estimateInputTokens, lastUserText, parseCountTokensBody, parseMessagesBody } from './request.js';
import { randomId, requestHash } from './seed.js';
import { forceStopReason } from './stop-reason.js';
import { intervalFor, type Pacing, streamFrames } from './stream.js';
import { respondWhole } from './whole.js';
import { planFrames } from './wire.js';

/** Server-wide settings, defaults applied. */
export interface SimConfig {
  readonly firstTokenMs: number;
  readonly tokensPerSecond: number;
  readonly charsPerToken: number;
  readonly benchmark: boolean;
  readonly fixturesDir: string;
}

export interface MessagesContext {
  readonly config: SimConfig;
  readonly attempts: AttemptCounter;
  /** The models requests may name (the catalogue and any extra ones). */
  readonly models: readonly ModelInfo[];
  /** The server's own faults, applied to every request (see directives.ts); changeable at run time. */
  readonly faults: { text: string };
}

export async function handleMessages(ex: Exchange, ctx: MessagesContext): Promise<void> {
  const json = await readJsonBody(ex);
  if (json === undefined) return;
  const parsed = parseMessagesBody(json);
  if (!parsed.ok) return sendError(ex, 400, parsed.message);
  const body = parsed.body;
  const prompt = lastUserText(body.messages);
  ex.records.update(ex.record, {
    model: body.model,
    prompt: recordedPrompt(prompt),
    maxTokens: body.max_tokens,
    stream: body.stream ?? false,
  });
  if (!isKnownModel(body.model, ctx.models)) return sendUnknownModel(ex, body.model);

  const parsedDirectives = parseDirectives(body.model, prompt, ctx.faults.text);
  if (!parsedDirectives.ok) return sendError(ex, 400, parsedDirectives.message);
  const d = parsedDirectives.directives;

  if (d.headerDelayMs !== undefined && !(await wait(ex, d.headerDelayMs))) return;

  const hash = requestHash(json as Record<string, unknown>);
  const failStatus = plannedFailure(d, ctx.attempts, hash);
  if (failStatus !== undefined) {
    const type = d.errorType ?? errorTypeForStatus(failStatus);
    return sendError(ex, failStatus, defaultErrorMessage(type), {
      type,
      ...(d.retryAfter === undefined ? {} : { retryAfter: d.retryAfter }),
      ...(d.retryAfterMs === undefined ? {} : { retryAfterMs: d.retryAfterMs }),
    });
  }

  const pacing: Pacing = {
    firstTokenMs: d.ttftMs ?? ctx.config.firstTokenMs,
    intervalMs: intervalFor(d.tps ?? ctx.config.tokensPerSecond),
  };
  const cut = streamCut(d);

  if (d.fixture !== undefined) {
    if (body.stream !== true) return sendError(ex, 400, 'sim directive: fixture= needs "stream": true');
    const bytes = await loadFixture(ctx.config.fixturesDir, d.fixture);
    if (bytes === undefined) return sendError(ex, 400, `sim directive: fixture "${d.fixture}" not found`);
    return streamFrames(ex, { frames: fixtureFrames(bytes), pacing, cut, errorType: d.errorType });
  }

  const planned = planReply({
    body,
    directives: d,
    cleanPrompt: parsedDirectives.cleanPrompt,
    hash,
    charsPerToken: ctx.config.charsPerToken,
    benchmark: ctx.config.benchmark,
  });
  const plan = forceStopReason(planned, d.stopReason);
  const meta = {
    id: randomId('msg_01'),
    model: body.model,
    inputTokens: estimateInputTokens(body),
    cacheReadTokens: d.cacheRead ?? 0,
    cacheWriteTokens: d.cacheWrite ?? 0,
  };
  if (body.stream === true) {
    return streamFrames(ex, { frames: planFrames(plan, meta), pacing, cut, errorType: d.errorType });
  }
  return respondWhole(ex, { plan, meta, pacing, cut, errorType: d.errorType });
}

/** The status this attempt fails with, if any: `status=` always, or the first `fail_first` attempts. */
function plannedFailure(d: Directives, attempts: AttemptCounter, hash: string): number | undefined {
  if (d.failFirst === undefined) return d.status;
  return attempts.next(hash) <= d.failFirst ? (d.status ?? 529) : undefined;
}

export async function handleCountTokens(ex: Exchange, ctx: MessagesContext): Promise<void> {
  const json = await readJsonBody(ex);
  if (json === undefined) return;
  const parsed = parseCountTokensBody(json);
  if (!parsed.ok) return sendError(ex, 400, parsed.message);
  ex.records.update(ex.record, {
    model: parsed.body.model,
    prompt: recordedPrompt(lastUserText(parsed.body.messages)),
  });
  if (!isKnownModel(parsed.body.model, ctx.models)) return sendUnknownModel(ex, parsed.body.model);
  sendJson(ex, 200, { input_tokens: estimateInputTokens(parsed.body) });
  finish(ex, 'completed');
}
