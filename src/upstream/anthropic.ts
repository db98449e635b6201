/**
 * The upstream adapter: Anthropic's Messages API through the official SDK, turned into relay
 * events. (First cut: mapping only; retries and timeouts come next.)
 */
import Anthropic from '@anthropic-ai/sdk';
import { RelayError } from '../core/errors.js';
import type { UpstreamRequest } from '../core/request.js';
import type { Upstream, UpstreamEvent } from '../core/upstream.js';

export interface AnthropicUpstreamOptions {
  readonly apiKey: string;
  readonly baseURL?: string;
  readonly firstTokenTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly retry: {
    readonly budgetMs: number;
    readonly maxAttempts: number;
    readonly baseDelayMs: number;
    readonly maxDelayMs: number;
  };
}

export class AnthropicUpstream implements Upstream {
  readonly client: Anthropic;
  private readonly options: AnthropicUpstreamOptions;

  constructor(options: AnthropicUpstreamOptions) {
    this.options = options;
    // The relay owns retries (it must not retry after content was sent), so the SDK never retries.
    this.client = new Anthropic({
      apiKey: options.apiKey,
      ...(options.baseURL ? { baseURL: options.baseURL } : {}),
      maxRetries: 0,
    });
  }

  async *stream(req: UpstreamRequest, signal: AbortSignal): AsyncGenerator<UpstreamEvent> {
    void this.options;
    // The request was validated at the edge; the SDK's types are stricter than our pass-through shape.
    const body = { ...req, stream: true } as unknown as Anthropic.MessageCreateParamsStreaming;
    const events = await this.client.messages.create(body, { signal });
    let stopReason: string | null = null;
    for await (const ev of events) {
      switch (ev.type) {
        case 'message_start':
          yield { type: 'usage', usage: pickUsage(ev.message.usage) };
          break;
        case 'content_block_start':
          if (ev.content_block.type === 'tool_use' || ev.content_block.type === 'server_tool_use') {
            yield { type: 'tool_use', index: ev.index, id: ev.content_block.id, name: ev.content_block.name };
          }
          break;
        case 'content_block_delta':
          switch (ev.delta.type) {
            case 'text_delta':
              yield { type: 'text', text: ev.delta.text, index: ev.index };
              break;
            case 'thinking_delta':
              yield { type: 'thinking', text: ev.delta.thinking, index: ev.index };
              break;
            case 'input_json_delta':
              yield { type: 'tool_input', partial_json: ev.delta.partial_json, index: ev.index };
              break;
            default:
              break;
          }
          break;
        case 'message_delta':
          stopReason = ev.delta.stop_reason ?? stopReason;
          yield { type: 'usage', usage: pickUsage(ev.usage) };
          break;
        case 'message_stop':
          yield { type: 'done', stop_reason: stopReason };
          return;
        default:
          break;
      }
    }
    throw new RelayError('upstream_error', 'upstream stream ended without message_stop');
  }
}

function pickUsage(u: {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
}): {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
} {
  const out: ReturnType<typeof pickUsage> = {
    input_tokens: u.input_tokens ?? 0,
    output_tokens: u.output_tokens ?? 0,
  };
  if (u.cache_read_input_tokens != null) out.cache_read_input_tokens = u.cache_read_input_tokens;
  if (u.cache_creation_input_tokens != null) out.cache_creation_input_tokens = u.cache_creation_input_tokens;
  return out;
}
