/**
 * The seam of the relay: every upstream produces these events and every transport consumes them.
 * Field names are snake_case like Anthropic's own API; see DESIGN.md's wire table.
 */
import type { ErrorCode } from './errors.js';

/**
 * The upstream's token counts as the API reports them: every field it sent, null ones left out
 * (the fields named here, and any the API adds later, carried as they came).
 */
export interface UsageCounts {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
  /** The cache-creation split, e.g. `{ephemeral_5m_input_tokens, ephemeral_1h_input_tokens}`. */
  cache_creation?: Record<string, number>;
  /** Server-tool request counts, e.g. `{web_search_requests, web_fetch_requests}`. */
  server_tool_use?: Record<string, number>;
  service_tier?: string;
  output_tokens_details?: Record<string, number>;
}

/** Token accounting. `estimated` is true when the upstream's final count never arrived. */
export interface Usage extends UsageCounts {
  estimated: boolean;
}

/** A content block or delta as the API sent it: a `type` and whatever else it carries. */
export interface RawBlock {
  type: string;
  [field: string]: unknown;
}

export type CancelReason = 'client' | 'disconnect' | 'shutdown' | 'timeout';

export interface StartEvent {
  type: 'start';
  stream_id: string;
  model: string;
  /** The stream's conversation (the minted id when the request asked for "new"). */
  conversation_id?: string;
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
/** Who runs a tool: the client (`tool_use`), Anthropic (`server_tool_use`) or an MCP server (`mcp_tool_use`). */
export type ToolKind = 'client' | 'server' | 'mcp';

export interface ToolUseEvent {
  type: 'tool_use';
  index: number;
  id: string;
  name: string;
  kind: ToolKind;
  /**
   * The start block verbatim, only when it carries more than its type, id, name and an empty
   * input (`caller`, an MCP `server_name` …), so nothing of it is lost.
   */
  block?: RawBlock;
}
export interface ToolInputEvent {
  type: 'tool_input';
  index: number;
  partial_json: string;
}
/** A citation on text block `index`, verbatim (its shape depends on the cited source). */
export interface CitationEvent {
  type: 'citation';
  index: number;
  citation: Record<string, unknown>;
}
/** The signature that closes thinking block `index` (send it back with the block next turn). */
export interface SignatureEvent {
  type: 'signature';
  index: number;
  signature: string;
}
/**
 * A content block the relay has no event of its own for (redacted thinking, server-tool results,
 * any block type added to the API later), carried verbatim at its `content_block_start`.
 */
export interface BlockEvent {
  type: 'block';
  index: number;
  block: RawBlock;
}
/** A delta type the relay does not know yet, carried verbatim: never dropped, never fatal. */
export interface DeltaEvent {
  type: 'delta';
  index: number;
  delta: RawBlock;
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
  /** Why the model stopped, when the API said more than the reason (a refusal's category). */
  stop_details?: Record<string, unknown>;
  /** Which of the request's `stop_sequences` was generated (`stop_reason: "stop_sequence"`). */
  stop_sequence?: string;
  /** The code-execution container the request used (`{id, expires_at, …}`), verbatim. */
  container?: Record<string, unknown>;
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
  | CitationEvent
  | SignatureEvent
  | BlockEvent
  | DeltaEvent
  | RetryEvent
  | DoneEvent
  | ErrorEvent
  | CancelledEvent;

export type RelayEventType = RelayEventBody['type'];
export type TerminalEvent = DoneEvent | ErrorEvent | CancelledEvent;
/** Every event that carries part of the answer: all but the stream's start, retries and its end. */
export type ContentEvent = Exclude<RelayEventBody, StartEvent | RetryEvent | TerminalEvent>;

/** An event as stored in a stream log and sent on the wire: numbered from 1. */
export type RelayEvent = RelayEventBody & { seq: number };

export function isTerminal(event: RelayEventBody): event is TerminalEvent {
  return event.type === 'done' || event.type === 'error' || event.type === 'cancelled';
}

/** Whether an event carries part of the answer (not the start, a retry or the end). */
export function isContent(event: RelayEventBody): event is ContentEvent {
  return event.type !== 'start' && event.type !== 'retry' && !isTerminal(event);
}

/** Compile-time exhaustiveness for switches over unions. */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}
