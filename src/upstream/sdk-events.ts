/**
 * Anthropic's raw stream events (as the SDK's `Stream` yields them) → upstream events. One raw
 * event gives at most one upstream event, so the adapter's loop allocates nothing but the event
 * it yields. Unknown event, block and delta types are passed over: the API adds them over time
 * (signature_delta, citations_delta, server tool results …) and a relay must not fail on them.
 */
import type Anthropic from '@anthropic-ai/sdk';
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
 * already dropped by the SDK; block stops, empty deltas, signatures, citations, unknown types).
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
        default:
          return undefined;
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
        default:
          return undefined;
      }
    }
    case 'message_delta':
      if (ev.delta.stop_reason != null) state.stopReason = ev.delta.stop_reason;
      // Counts in message_delta are cumulative; the stream's UsageMeter keeps the largest.
      return usageUpdate(ev.usage);
    case 'message_stop':
      return { type: 'done', stop_reason: state.stopReason };
    default:
      return undefined;
  }
}

/** A text or thinking event, or nothing for the empty openers and closers the API sends. */
function textEvent(type: 'text' | 'thinking', text: string, index: number): UpstreamEvent | undefined {
  return text === '' ? undefined : { type, text, index };
}

/** A usage update from a raw count (`message_start`'s, or `message_delta`'s cumulative one). */
export function usageUpdate(u: RawUsage | null | undefined): UsageUpdate | undefined {
  return u == null ? undefined : { type: 'usage', usage: usageCounts(u) };
}
