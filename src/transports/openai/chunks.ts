/**
 * The per-stream encoder of a streamed chat completion: relay events → `chat.completion.chunk`
 * SSE frames (https://platform.openai.com/docs/api-reference/chat-streaming). The first delta
 * carries the role; text is `content`, thinking is `reasoning_content` (the field DeepSeek, vLLM and
 * LiteLLM use), tool calls are `tool_calls` deltas numbered in order of appearance; the answer ends
 * with `finish_reason`, then (asked with `include_usage`) a usage chunk with `choices: []`, then
 * `data: [DONE]`. A failure ends with `data: {"error": …}` instead, which the `openai` SDK raises.
 */
import { assertNever } from '../../core/events.js';
import type { LogEntry } from '../../core/stream-log.js';
import { cancelledErrorObject, fromErrorEvent, type OpenAIErrorObject, openaiErrorObject } from './errors.js';
import { finishReason, openaiUsage } from './usage.js';

/** What every chunk of one completion repeats. */
export interface CompletionMeta {
  /** `chatcmpl-<stream id>`: the stream stays reachable under `/v1/streams/<stream id>`. */
  readonly id: string;
  readonly model: string;
  /** Unix seconds. */
  readonly created: number;
}

export function chatChunkEncoder(
  meta: CompletionMeta,
  includeUsage: boolean,
): (entries: readonly LogEntry[]) => string {
  const head = `data: {"id":${JSON.stringify(meta.id)},"object":"chat.completion.chunk","created":${meta.created},"model":${JSON.stringify(meta.model)},"choices":`;
  // OpenAI sends `"usage": null` on every chunk but the last when usage was asked for.
  const end = includeUsage ? ',"usage":null}\n\n' : '}\n\n';
  const chunk = (delta: string, finish = 'null'): string =>
    `${head}[{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${finish}}]${end}`;
  /** Content block index → OpenAI tool call index (0, 1, … in order of appearance). */
  const toolCalls = new Map<number, number>();

  return (entries) => {
    let out = '';
    for (const { event } of entries) {
      switch (event.type) {
        case 'start':
          out += chunk('{"role":"assistant","content":""}');
          break;
        case 'text':
          out += chunk(`{"content":${JSON.stringify(event.text)}}`);
          break;
        case 'thinking':
          out += chunk(`{"reasoning_content":${JSON.stringify(event.text)}}`);
          break;
        case 'tool_use': {
          const index = toolCalls.size;
          toolCalls.set(event.index, index);
          const call = {
            index,
            id: event.id,
            type: 'function',
            function: { name: event.name, arguments: '' },
          };
          out += chunk(`{"tool_calls":[${JSON.stringify(call)}]}`);
          break;
        }
        case 'tool_input': {
          const index = toolCalls.get(event.index);
          if (index === undefined) break; // input without its tool_use block: nothing to attach it to
          out += chunk(
            `{"tool_calls":[{"index":${index},"function":{"arguments":${JSON.stringify(event.partial_json)}}}]}`,
          );
          break;
        }
        case 'citation':
        case 'signature':
        case 'block':
        case 'delta':
          // Server-tool results, redacted thinking, unknown deltas: Chat Completions has no field
          // for them (the relay's own routes carry them verbatim).
          break;
        case 'retry':
          // A comment: OpenAI clients skip it, a person reading the stream sees the retry.
          out += `: retry ${JSON.stringify({ attempt: event.attempt, delay_ms: event.delay_ms })}\n\n`;
          break;
        case 'done':
          out += chunk('{}', JSON.stringify(finishReason(event.stop_reason)));
          if (includeUsage) out += `${head}[],"usage":${JSON.stringify(openaiUsage(event.usage))}}\n\n`;
          out += 'data: [DONE]\n\n';
          break;
        case 'error':
          out += errorFrame(openaiErrorObject(fromErrorEvent(event)));
          break;
        case 'cancelled':
          out += errorFrame(cancelledErrorObject(event.reason));
          break;
        default:
          assertNever(event, 'relay event');
      }
    }
    return out;
  };
}

/** The `openai` SDK raises any data frame holding `error` as an APIError. */
function errorFrame(error: OpenAIErrorObject): string {
  return `data: ${JSON.stringify({ error })}\n\n`;
}
