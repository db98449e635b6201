/** Relay usage and stop reasons spelled as OpenAI's `usage` and `finish_reason`. */
import type { Usage } from '../../core/events.js';
import { totalInputTokens } from '../../core/usage.js';

export interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

/** OpenAI counts cached tokens inside the prompt and reports the cache reads among them. */
export function openaiUsage(usage: Usage): OpenAIUsage {
  const prompt = totalInputTokens(usage);
  return {
    prompt_tokens: prompt,
    completion_tokens: usage.output_tokens,
    total_tokens: prompt + usage.output_tokens,
    prompt_tokens_details: { cached_tokens: usage.cache_read_input_tokens ?? 0 },
  };
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

/**
 * Anthropic's stop reasons (https://docs.claude.com/en/api/handling-stop-reasons). A `pause_turn`
 * (a server tool paused a long turn) ends this answer normally; a reason the API adds later reads
 * as `stop`, the neutral ending, rather than failing a finished answer.
 */
export function finishReason(stopReason: string | null): FinishReason {
  switch (stopReason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      // end_turn, stop_sequence, pause_turn, null, and any reason added later.
      return 'stop';
  }
}
