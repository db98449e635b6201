/**
 * The non-streaming answer: wait as long as generating the reply would take, then send the
 * Message JSON; stream faults map to what a non-streaming client would see.
 */
import type { StreamCut } from './directives.js';
import { type AnthropicErrorType, defaultErrorMessage, statusForErrorType } from './errors.js';
import { type Exchange, finish, resetSocket, sendError, sendHead, sendJson, wait } from './exchange.js';
import { buildMessage } from './message.js';
import type { MessageMeta } from './message-meta.js';
import type { ReplyPlan } from './plan.js';
import type { Pacing } from './stream.js';

export interface WholeAnswer {
  readonly plan: ReplyPlan;
  readonly meta: MessageMeta;
  readonly pacing: Pacing;
  readonly cut: StreamCut | undefined;
  readonly errorType: AnthropicErrorType | undefined;
}

export async function respondWhole(ex: Exchange, answer: WholeAnswer): Promise<void> {
  const { plan, cut, pacing } = answer;
  // A cut past the end of the reply never fires, as in a stream.
  const active = cut !== undefined && cut.after <= plan.outputTokens ? cut : undefined;
  const tokens = active?.after ?? plan.outputTokens;
  const ms = tokens === 0 ? 0 : pacing.firstTokenMs + (tokens - 1) * pacing.intervalMs;
  if (!(await wait(ex, ms))) return;
  if (active === undefined) {
    const message = buildMessage(plan, answer.meta);
    ex.records.update(ex.record, {
      tokensSent: plan.outputTokens,
      lastTokenAtNs: process.hrtime.bigint().toString(),
    });
    sendJson(ex, 200, message);
    finish(ex, 'completed');
    return;
  }
  switch (active.kind) {
    case 'error': {
      const type = answer.errorType ?? 'overloaded_error';
      sendError(ex, statusForErrorType(type), defaultErrorMessage(type), { type });
      return;
    }
    case 'truncate': {
      // Half a JSON body, then a clean end: the client's JSON parse fails.
      const json = JSON.stringify(buildMessage(plan, answer.meta));
      sendHead(ex, 200, { 'content-type': 'application/json' });
      ex.res.end(json.slice(0, Math.floor(json.length / 2)));
      finish(ex, 'truncated');
      return;
    }
    case 'reset':
      resetSocket(ex);
      return;
    case 'stall':
      ex.records.update(ex.record, { outcome: 'stalled' });
      return;
  }
}
