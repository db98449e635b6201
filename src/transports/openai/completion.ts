/**
 * The fold for `stream: false`: a stream's events gathered into one `chat.completion`
 * (https://platform.openai.com/docs/api-reference/chat/object), with the same mapping as the
 * chunks: text → `content`, thinking → `reasoning_content`, tool calls in order of appearance,
 * `finish_reason`, and `usage` (always present on a whole completion).
 */
import { assertNever, type DoneEvent, type RelayEventBody, type TerminalEvent } from '../../core/events.js';
import type { CompletionMeta } from './chunks.js';
import { cancelledErrorResponse, fromErrorEvent, openaiErrorResponse } from './errors.js';
import { finishReason, openaiUsage } from './usage.js';

interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export class CompletionFold {
  private content = '';
  private reasoning = '';
  private readonly toolCalls: ToolCall[] = [];
  /** Content block index → its tool call. */
  private readonly byBlock = new Map<number, ToolCall>();
  private terminal: TerminalEvent | undefined;

  constructor(private readonly meta: CompletionMeta) {}

  /** Takes one event; true once the terminal event arrived (nothing more will come). */
  add(event: RelayEventBody): boolean {
    switch (event.type) {
      case 'text':
        this.content += event.text;
        break;
      case 'thinking':
        this.reasoning += event.text;
        break;
      case 'tool_use': {
        const call: ToolCall = {
          id: event.id,
          type: 'function',
          function: { name: event.name, arguments: '' },
        };
        this.toolCalls.push(call);
        this.byBlock.set(event.index, call);
        break;
      }
      case 'tool_input': {
        const call = this.byBlock.get(event.index);
        if (call !== undefined) call.function.arguments += event.partial_json;
        break;
      }
      case 'start':
      case 'retry':
      case 'citation':
      case 'signature':
      case 'block':
      case 'delta':
        // No Chat Completions field for these; see chunks.ts.
        break;
      case 'done':
      case 'error':
      case 'cancelled':
        this.terminal = event;
        return true;
      default:
        assertNever(event, 'relay event');
    }
    return false;
  }

  /** The answer: the completion when the stream finished, its error in OpenAI's shape otherwise. */
  answer(headers: Readonly<Record<string, string>>): Response {
    const terminal = this.terminal;
    if (terminal === undefined) throw new Error('the stream has not ended');
    switch (terminal.type) {
      case 'done':
        return new Response(JSON.stringify(this.completion(terminal)), {
          status: 200,
          headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
        });
      case 'error':
        return openaiErrorResponse(fromErrorEvent(terminal));
      case 'cancelled':
        return cancelledErrorResponse(terminal.reason);
      default:
        return assertNever(terminal, 'terminal event');
    }
  }

  private completion(done: DoneEvent): object {
    const message: Record<string, unknown> = {
      role: 'assistant',
      // OpenAI answers `content: null` when the reply is only tool calls.
      content: this.content === '' && this.toolCalls.length > 0 ? null : this.content,
      refusal: null,
    };
    if (this.reasoning !== '') message.reasoning_content = this.reasoning;
    if (this.toolCalls.length > 0) message.tool_calls = this.toolCalls;
    return {
      id: this.meta.id,
      object: 'chat.completion',
      created: this.meta.created,
      model: this.meta.model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(done.stop_reason) }],
      usage: openaiUsage(done.usage),
    };
  }
}
