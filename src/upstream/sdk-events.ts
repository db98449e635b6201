/**
 * Anthropic's raw stream events (as the SDK's `Stream` yields them) → upstream events. One raw
 * event gives at most one upstream event, so the adapter's loop allocates nothing but the event
 * it yields. Every switch is exhaustive over the SDK's types (a type the SDK adds fails to compile
 * until it is mapped), and what arrives at run time beyond them (the API adds block and delta types
 * before the SDK knows them) is carried verbatim as a `block` or `delta` event, never dropped.
 */
import type Anthropic from '@anthropic-ai/sdk';
import type { BlockEvent, DeltaEvent, RawBlock, ToolKind, ToolUseEvent } from '../core/events.js';
import { textEvent, thinkingEvent } from '../core/token-event.js';
import type { UpstreamDone, UpstreamEvent, UsageUpdate } from '../core/upstream.js';
import { type RawUsage, usageCounts } from '../core/usage.js';

/** What the mapper remembers across events of one attempt. */
export interface MapperState {
  /** From `message_delta`; reported with `done` at `message_stop`. */
  stopReason: string | null;
  stopDetails: Record<string, unknown> | null;
  /** The stop sequence that ended the reply, and the code-execution container, from `message_delta`. */
  stopSequence: string | null;
  container: Record<string, unknown> | null;
  /** `message_start`'s message id and model: the response's, for traces. */
  messageId: string | undefined;
  responseModel: string | undefined;
}

export function newMapperState(): MapperState {
  return {
    stopReason: null,
    stopDetails: null,
    stopSequence: null,
    container: null,
    messageId: undefined,
    responseModel: undefined,
  };
}

/**
 * Maps one raw event. Returns `undefined` for events that carry nothing for the relay (ping is
 * already dropped by the SDK; block stops). Empty text / thinking / JSON deltas are dropped too:
 * the API sends them (an opening `""` `input_json_delta`, a closing empty `thinking_delta`), and
 * an assembler rebuilds the same block without them (see core/message.ts).
 */
export function mapRawEvent(
  ev: Anthropic.RawMessageStreamEvent,
  state: MapperState,
): UpstreamEvent | undefined {
  switch (ev.type) {
    case 'message_start':
      state.messageId = ev.message.id;
      state.responseModel = ev.message.model;
      return usageUpdate(ev.message.usage as unknown as RawUsage);
    case 'content_block_start': {
      const block = ev.content_block;
      switch (block.type) {
        case 'tool_use':
          return toolUseEvent(ev.index, 'client', block);
        case 'server_tool_use':
          return toolUseEvent(ev.index, 'server', block);
        // The API opens text and thinking blocks empty; one that starts with anything more (text,
        // citations, a signature) is carried whole, so nothing of it is lost.
        case 'text':
          return isPlainStart(block, TEXT_START)
            ? textOrThinking('text', block.text, ev.index)
            : blockEvent(ev.index, block);
        case 'thinking':
          return isPlainStart(block, THINKING_START) && !block.signature
            ? textOrThinking('thinking', block.thinking, ev.index)
            : blockEvent(ev.index, block);
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
        default: {
          const unknown = unknownType<typeof block>(block);
          // MCP tool calls are beta (the SDK's stable types lack them), but they are tool calls.
          if (unknown.type === 'mcp_tool_use') return toolUseEvent(ev.index, 'mcp', unknown);
          return blockEvent(ev.index, unknown);
        }
      }
    }
    case 'content_block_delta': {
      const delta = ev.delta;
      switch (delta.type) {
        case 'text_delta':
          return textOrThinking('text', delta.text, ev.index);
        case 'thinking_delta':
          return textOrThinking('thinking', delta.thinking, ev.index);
        case 'input_json_delta':
          return delta.partial_json === ''
            ? undefined
            : { type: 'tool_input', partial_json: delta.partial_json, index: ev.index };
        case 'signature_delta':
          return { type: 'signature', index: ev.index, signature: delta.signature };
        case 'citations_delta':
          return {
            type: 'citation',
            index: ev.index,
            citation: delta.citation as unknown as Record<string, unknown>,
          };
        default:
          return deltaEvent(ev.index, unknownType<typeof delta>(delta));
      }
    }
    case 'message_delta':
      if (ev.delta.stop_reason != null) state.stopReason = ev.delta.stop_reason;
      if (ev.delta.stop_details != null) {
        state.stopDetails = ev.delta.stop_details as unknown as Record<string, unknown>;
      }
      if (ev.delta.stop_sequence != null) state.stopSequence = ev.delta.stop_sequence;
      if (ev.delta.container != null) {
        state.container = ev.delta.container as unknown as Record<string, unknown>;
      }
      // Counts in message_delta are cumulative; its fields replace message_start's (usage.ts).
      return usageUpdate(ev.usage as unknown as RawUsage);
    case 'message_stop':
      return doneEvent(state);
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
function unknownType<T extends never>(value: T): RawBlock {
  return value as RawBlock;
}

/** The keys of a block start the relay's own events rebuild exactly (core/message.ts). */
const TEXT_START = new Set(['type', 'text']);
const THINKING_START = new Set(['type', 'thinking', 'signature']);
const TOOL_START = new Set(['type', 'id', 'name', 'input']);

function isPlainStart(block: object, keys: ReadonlySet<string>): boolean {
  for (const key of Object.keys(block)) if (!keys.has(key)) return false;
  return true;
}

/**
 * `tool_use`, `server_tool_use` or `mcp_tool_use` → a tool_use event of that kind. The start block
 * rides along when it holds more than an empty call (`caller`, `server_name`, a prefilled input).
 */
function toolUseEvent(index: number, kind: ToolKind, raw: object): ToolUseEvent {
  const block = raw as { id?: unknown; name?: unknown; input?: unknown };
  const event: ToolUseEvent = {
    type: 'tool_use',
    index,
    id: String(block.id),
    name: String(block.name),
    kind,
  };
  const emptyInput =
    typeof block.input === 'object' && block.input !== null && Object.keys(block.input).length === 0;
  if (!emptyInput || !isPlainStart(raw, TOOL_START)) event.block = raw as RawBlock;
  return event;
}

/** `done` with what `message_delta` said; fields the API sent as null are left out. */
function doneEvent(state: MapperState): UpstreamDone {
  const done: UpstreamDone = { type: 'done', stop_reason: state.stopReason };
  if (state.stopDetails !== null) done.stop_details = state.stopDetails;
  if (state.stopSequence !== null) done.stop_sequence = state.stopSequence;
  if (state.container !== null) done.container = state.container;
  return done;
}

function blockEvent(index: number, block: object): BlockEvent {
  return { type: 'block', index, block: block as RawBlock };
}

function deltaEvent(index: number, delta: RawBlock): DeltaEvent {
  return { type: 'delta', index, delta };
}

/** A text or thinking event, or nothing for the empty openers and closers the API sends. */
function textOrThinking(type: 'text' | 'thinking', text: string, index: number): UpstreamEvent | undefined {
  if (text === '') return undefined;
  return type === 'text' ? textEvent(text, index) : thinkingEvent(text, index);
}

/** A usage update from a raw count (`message_start`'s, or `message_delta`'s cumulative one). */
export function usageUpdate(u: RawUsage | null | undefined): UsageUpdate | undefined {
  return u == null ? undefined : { type: 'usage', usage: usageCounts(u) };
}
