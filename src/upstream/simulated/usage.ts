/**
 * The usage a reply reports, and how it is split over the stream: `message_start` carries the
 * input side (and `output_tokens: 1`), `message_delta` the cumulative counts at the end. The
 * non-streaming Message carries what an SDK would hold after both: the start's fields with the
 * delta's replacing them. With `usage=full` every field the API has is there.
 */

import type { MessageMeta } from './message-meta.js';
import type { ReplyPlan } from './plan.js';

export interface ReplyUsage {
  readonly start: Record<string, unknown>;
  readonly delta: Record<string, unknown>;
  /** What the non-streaming Message says: `{...start, ...delta}`. */
  readonly whole: Record<string, unknown>;
}

export function replyUsage(plan: ReplyPlan, meta: MessageMeta): ReplyUsage {
  if (plan.fullUsage !== true) {
    const start = {
      input_tokens: meta.inputTokens,
      cache_creation_input_tokens: meta.cacheWriteTokens,
      cache_read_input_tokens: meta.cacheReadTokens,
      output_tokens: 1,
    };
    const delta = { output_tokens: plan.outputTokens };
    return { start, delta, whole: { ...start, ...delta } };
  }
  // Made-up but consistent cache numbers: a third of the input read from cache, a sixth written.
  const read = Math.floor(meta.inputTokens / 3);
  const write5m = Math.floor(meta.inputTokens / 6);
  const write1h = 2;
  const serverToolUse = { web_search_requests: plan.webSearchRequests ?? 0, web_fetch_requests: 0 };
  const start = {
    input_tokens: meta.inputTokens,
    cache_creation_input_tokens: write5m + write1h,
    cache_read_input_tokens: read,
    cache_creation: { ephemeral_5m_input_tokens: write5m, ephemeral_1h_input_tokens: write1h },
    output_tokens: 1,
    server_tool_use: { web_search_requests: 0, web_fetch_requests: 0 },
    service_tier: 'standard',
  };
  const delta = {
    input_tokens: meta.inputTokens,
    cache_creation_input_tokens: write5m + write1h,
    cache_read_input_tokens: read,
    output_tokens: plan.outputTokens,
    server_tool_use: serverToolUse,
    output_tokens_details: { thinking_tokens: plan.thinkingTokens ?? 0 },
  };
  return { start, delta, whole: { ...start, ...delta } };
}
