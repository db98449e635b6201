/**
 * A Chat Completions body → the relay's stream request (the README's mapping table). Every field
 * is mapped, accepted at a value that changes nothing, explicitly ignored (listed in the schema and
 * the README), or refused with a 400 naming it.
 */
import type { StreamRequest } from '../../core/request.js';
import { InvalidParam } from './errors.js';
import { mapMessages } from './messages.js';
import { type ChatRequest, parseChatRequest, type ReasoningEffort } from './request-schema.js';
import { mapTools } from './tools.js';

/** What the route needs to know beyond the stream request. */
export interface ChatCall {
  readonly request: StreamRequest;
  readonly stream: boolean;
  /** `stream_options.include_usage`: a last chunk with `choices: []` and `usage`. */
  readonly includeUsage: boolean;
}

export interface ChatDefaults {
  /** The relay's max_tokens when a request gives none (RELAY_DEFAULT_MAX_TOKENS). */
  readonly maxTokens: number;
}

/** Claude's smallest extended-thinking budget. */
const MIN_THINKING_BUDGET = 1024;

/** `reasoning_effort` → extended-thinking budget in tokens (`none`: thinking off). */
export const THINKING_BUDGETS: { readonly [E in ReasoningEffort]: number } = {
  none: 0,
  minimal: 1024,
  low: 2048,
  medium: 4096,
  high: 8192,
  xhigh: 16384,
};

export function toChatCall(body: unknown, defaults: ChatDefaults): ChatCall {
  const req = parseChatRequest(body);
  refuseUnsupportedValues(req);
  if (req.stream_options != null && req.stream !== true) {
    throw new InvalidParam('stream_options', 'only allowed with "stream": true');
  }
  const { system, messages } = mapMessages(req.messages);
  const out: StreamRequest = { messages, on_disconnect: 'abort' };
  if (req.model != null) out.model = req.model;
  if (system !== undefined) out.system = system;
  Object.assign(out, limits(req, defaults));
  // OpenAI's temperature runs 0–2, Claude's 0–1: the top of OpenAI's range is Claude's top.
  if (req.temperature != null) out.temperature = Math.min(req.temperature, 1);
  if (req.top_p != null) out.top_p = req.top_p;
  if (req.stop != null) out.stop_sequences = typeof req.stop === 'string' ? [req.stop] : req.stop;
  Object.assign(out, mapTools(req.tools, req.tool_choice, req.parallel_tool_calls));
  // Both name the end user for abuse detection, as Anthropic's metadata.user_id does.
  const user = req.safety_identifier ?? req.user;
  if (user != null) out.metadata = { user_id: user };
  return {
    request: out,
    stream: req.stream === true,
    includeUsage: req.stream_options?.include_usage === true,
  };
}

/** max_tokens and the thinking budget, which must fit inside it. */
function limits(req: ChatRequest, defaults: ChatDefaults): Pick<StreamRequest, 'max_tokens' | 'thinking'> {
  const named = req.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  if (
    req.max_completion_tokens != null &&
    req.max_tokens != null &&
    req.max_completion_tokens !== req.max_tokens
  ) {
    throw new InvalidParam(
      'max_tokens',
      'give max_completion_tokens or max_tokens, not two different values',
    );
  }
  const given = req.max_completion_tokens ?? req.max_tokens ?? undefined;
  const budget = req.reasoning_effort == null ? 0 : THINKING_BUDGETS[req.reasoning_effort];
  if (budget === 0) return given === undefined ? {} : { max_tokens: given };
  // Like OpenAI's reasoning tokens, Claude's thinking counts against max_tokens: without a limit the
  // budget comes on top of the default; with one, the budget shrinks to fit under it.
  if (given === undefined) {
    return { max_tokens: budget + defaults.maxTokens, thinking: { type: 'enabled', budget_tokens: budget } };
  }
  if (given <= MIN_THINKING_BUDGET) {
    throw new InvalidParam(
      named,
      `with reasoning_effort it must be over ${MIN_THINKING_BUDGET} (Claude's smallest thinking budget)`,
    );
  }
  return {
    max_tokens: given,
    thinking: { type: 'enabled', budget_tokens: Math.min(budget, given - 1) },
  };
}

/** Fields accepted only at the value that asks for nothing the relay cannot do. */
function refuseUnsupportedValues(req: ChatRequest): void {
  if (req.n != null && req.n !== 1) {
    throw new InvalidParam('n', 'the relay answers one choice per request; n must be 1');
  }
  if (req.logprobs === true) throw new InvalidParam('logprobs', 'Claude does not return log probabilities');
  if (req.top_logprobs != null) {
    throw new InvalidParam('top_logprobs', 'Claude does not return log probabilities');
  }
  for (const field of ['frequency_penalty', 'presence_penalty'] as const) {
    const value = req[field];
    if (value != null && value !== 0)
      throw new InvalidParam(field, 'Claude has no such penalty; only 0 is accepted');
  }
  if (req.logit_bias != null && Object.keys(req.logit_bias).length > 0) {
    throw new InvalidParam('logit_bias', 'Claude does not take token biases');
  }
  if (req.response_format != null && req.response_format.type !== 'text') {
    throw new InvalidParam(
      'response_format',
      `${req.response_format.type} is not supported by the relay; ask for JSON in the prompt or use a tool`,
    );
  }
  if (req.modalities?.some((m) => m !== 'text')) {
    throw new InvalidParam('modalities', 'Claude answers in text only');
  }
}
