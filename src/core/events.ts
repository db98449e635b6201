/**
 * The seam of the relay: every upstream produces these events and every transport consumes them.
 * Field names are snake_case like Anthropic's own API; see DESIGN.md's wire table.
 */
import type { ErrorCode } from './errors.js';

/** Token accounting. `estimated` is true when the upstream's final count never arrived. */
export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
  estimated: boolean;
}

export type CancelReason = 'client' | 'disconnect' | 'shutdown' | 'timeout';

export interface StartEvent {
  type: 'start';
  stream_id: string;
  model: string;
}
export interface TextEvent {
  type: 'text';
  text: string;
  index: number;
}
export interface ThinkingEvent {
  type: 'thinking';
  text: string;
  index: number;
}
export interface ToolUseEvent {
  type: 'tool_use';
  index: number;
  id: string;
  name: string;
}
export interface ToolInputEvent {
  type: 'tool_input';
  index: number;
  partial_json: string;
}
/**
 * A content block the relay has no event of its own for (redacted thinking, server-tool results,
 * any block type added to the API later), carried verbatim at its `content_block_start`.
 */
export interface BlockEvent {
  type: 'block';
  index: number;
  block: Record<string, unknown>;
}
/** A delta type the relay does not know yet, carried verbatim: never dropped, never fatal. */
export interface DeltaEvent {
  type: 'delta';
  index: number;
  delta: Record<string, unknown>;
}
export interface RetryEvent {
  type: 'retry';
  attempt: number;
  delay_ms: number;
  reason: string;
  /** The upstream (by its configured name) the next attempt goes to. */
  upstream?: string;
}
export interface DoneEvent {
  type: 'done';
  stop_reason: string | null;
  usage: Usage;
}
export interface ErrorEvent {
  type: 'error';
  code: ErrorCode;
  message: string;
  retryable: boolean;
  /** How long the upstream asked clients to wait before retrying, when it said. */
  retry_after_ms?: number;
  usage: Usage;
}
export interface CancelledEvent {
  type: 'cancelled';
  reason: CancelReason;
  usage: Usage;
}

/** An event as produced, before the log numbers it. */
export type RelayEventBody =
  | StartEvent
  | TextEvent
  | ThinkingEvent
  | ToolUseEvent
  | ToolInputEvent
  | BlockEvent
  | DeltaEvent
  | RetryEvent
  | DoneEvent
  | ErrorEvent
  | CancelledEvent;

export type RelayEventType = RelayEventBody['type'];
export type TerminalEvent = DoneEvent | ErrorEvent | CancelledEvent;
export type ContentEvent =
  | TextEvent
  | ThinkingEvent
  | ToolUseEvent
  | ToolInputEvent
  | BlockEvent
  | DeltaEvent;

/** An event as stored in a stream log and sent on the wire: numbered from 1. */
export type RelayEvent = RelayEventBody & { seq: number };

export function isTerminal(event: RelayEventBody): event is TerminalEvent {
  return event.type === 'done' || event.type === 'error' || event.type === 'cancelled';
}

/** Compile-time exhaustiveness for switches over unions. */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}
