/**
 * Anthropic's raw stream events (as the SDK's `Stream` yields them) → upstream events. One raw
 * event gives at most one upstream event, so the adapter's loop allocates nothing but the event
 * it yields. Every switch is exhaustive over the SDK's types (a type the SDK adds fails to compile
 * until it is mapped), and what arrives at run time beyond them (the API adds block and delta types
 * before the SDK knows them) is carried verbatim as a `block` or `delta` event, never dropped.
 */
import type Anthropic from '@anthropic-ai/sdk';
import type { BlockEvent, DeltaEvent } from '../core/events.js';
import type { UpstreamEvent, UsageUpdate } from '../core/upstream.js';
import { type RawUsage, usageCounts } from '../core/usage.js';

/** What the mapper remembers across events of one attempt. */
export interface MapperState {
  /** From `message_delta`; reported with `done` at `message_stop`. */
  stopReason: string | null;
}

export function newMapperState(): MapperState {
  return { stopReason: null };
}

/**
 * Maps one raw event. Returns `undefined` for events that carry nothing for the relay (ping is
 * already dropped by the SDK; block stops, empty deltas, signatures, citations).
 * Empty text / thinking / JSON deltas are dropped too: the API sends them (an opening `""`
 * `input_json_delta`, a closing empty `thinking_delta`), and they would only cost a log entry.
 */
export function mapRawEvent(
  ev: Anthropic.RawMessageStreamEvent,
  state: MapperState,
): UpstreamEvent | undefined {
  switch (ev.type) {
    case 'message_start':
      return usageUpdate(ev.message.usage);
    case 'content_block_start': {
      const block = ev.content_block;
      switch (block.type) {
        case 'tool_use':
        case 'server_tool_use':
          return { type: 'tool_use', index: ev.index, id: block.id, name: block.name };
        // The API opens text and thinking blocks empty, but a block that starts with content must
        // not lose it.
        case 'text':
          return textEvent('text', block.text, ev.index);
        case 'thinking':
          return textEvent('thinking', block.thinking, ev.index);
        // Blocks that arrive whole at their start: carried verbatim.
        case 'redacted_thinking':
        case 'web_search_tool_result':
        case 'web_fetch_tool_result':
        case 'code_execution_tool_result':
        case 'bash_code_execution_tool_result':
        case 'text_editor_code_execution_tool_result':
        case 'tool_search_tool_result':
        case 'container_upload':
          return blockEvent(ev.index, block);
        default:
          return blockEvent(ev.index, unknownType<typeof block>(block));
      }
    }
    case 'content_block_delta': {
      const delta = ev.delta;
      switch (delta.type) {
        case 'text_delta':
          return textEvent('text', delta.text, ev.index);
        case 'thinking_delta':
          return textEvent('thinking', delta.thinking, ev.index);
        case 'input_json_delta':
          return delta.partial_json === ''
            ? undefined
            : { type: 'tool_input', partial_json: delta.partial_json, index: ev.index };
        case 'signature_delta':
        case 'citations_delta':
          return undefined;
        default:
          return deltaEvent(ev.index, unknownType<typeof delta>(delta));
      }
    }
    case 'message_delta':
      if (ev.delta.stop_reason != null) state.stopReason = ev.delta.stop_reason;
      // Counts in message_delta are cumulative; the stream's UsageMeter keeps the largest.
      return usageUpdate(ev.usage);
    case 'message_stop':
      return { type: 'done', stop_reason: state.stopReason };
    case 'content_block_stop':
      return undefined;
    default: {
      // A message-level event type the SDK does not know: carried whole, at the index it names.
      const raw = unknownType<typeof ev>(ev);
      return deltaEvent(typeof raw.index === 'number' ? raw.index : -1, raw);
    }
  }
}

/**
 * The `never` check of a switch's default: the compiler names a type the SDK added and the
 * mapper does not handle; at run time the value is one the SDK did not know, passed on as it is.
 */
function unknownType<T extends never>(value: T): Record<string, unknown> {
  return value as Record<string, unknown>;
}

function blockEvent(index: number, block: object): BlockEvent {
  return { type: 'block', index, block: block as Record<string, unknown> };
}

function deltaEvent(index: number, delta: Record<string, unknown>): DeltaEvent {
  return { type: 'delta', index, delta };
}

/** A text or thinking event, or nothing for the empty openers and closers the API sends. */
function textEvent(type: 'text' | 'thinking', text: string, index: number): UpstreamEvent | undefined {
  return text === '' ? undefined : { type, text, index };
}

/** A usage update from a raw count (`message_start`'s, or `message_delta`'s cumulative one). */
export function usageUpdate(u: RawUsage | null | undefined): UsageUpdate | undefined {
  return u == null ? undefined : { type: 'usage', usage: usageCounts(u) };
}
