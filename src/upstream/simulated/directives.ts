/**
 * The fault / shape grammar: how a request tells the simulator what to do.
 *
 * A directive travels inside the request itself, so it passes unchanged through any relay:
 *
 * - a block anywhere in the text of the **last user message**: `[[sim key=value key=value]]`
 *   (pairs separated by whitespace; several blocks are merged in order);
 * - a suffix on the **model** string: `claude-sim#key=value,key=value` (pairs separated by commas;
 *   the full string, suffix included, is echoed back as `model`).
 *
 * Both may be combined; the prompt wins on conflicts. A server may also be started with faults of
 * its own (`faults: 'status=529'`, same grammar as a prompt block's pairs): they apply to every
 * request it serves, below the model's and the prompt's, so one of several simulated upstreams
 * can fail while the others serve. Directive blocks are removed from the
 * prompt before the reply is generated. An unknown key or a bad value is a
 * `400 invalid_request_error` naming it, so a typo is loud.
 *
 * "Tokens" below are content deltas that carry model output: `text_delta`, `thinking_delta` and
 * non-empty `input_json_delta` (in a fixture replay: every `content_block_delta` frame).
 *
 * | key | value | effect |
 * |---|---|---|
 * | `status` | HTTP status 400–599 | answer with that status and Anthropic's matching JSON error body (before any streaming) |
 * | `retry_after` | seconds | sets `retry-after` on the error response |
 * | `retry_after_ms` | ms | sets `retry-after-ms` on the error response (the SDK prefers it) |
 * | `fail_first` | N | the first N attempts of this same request (same body hash, `stream` ignored) fail with `status` (default 529), later ones succeed |
 * | `error_after` | K | after K tokens send `event: error` (`overloaded_error` unless `error_type`) and end the response; `0` = right after `message_start` |
 * | `error_type` | an Anthropic error type | type of the `error_after` event, or of the `status` body |
 * | `truncate_after` | K | after K tokens end the response cleanly, without `message_delta` / `message_stop` |
 * | `reset_after` | K | after K tokens reset the TCP connection (RST) |
 * | `stall_after` | K | after K tokens send nothing more, keeping the socket open until the client leaves or the server closes |
 * | `header_delay` | ms | wait before sending the status line and headers |
 * | `fixture` | name | replay `<name>.sse` from the fixtures dir (or its `anthropic-sdk/`) byte for byte, paced per `content_block_delta` frame |
 * | `tool` | tool name | end the reply with a `tool_use` block of that name (input built from the prompt); `stop_reason: tool_use` |
 * | `thinking` | `1` / `0` | start with a thinking block (thinking deltas, a signature delta), the text follows at index 1 |
 * | `empty_thinking` | `1` / `0` | end the reply with an empty thinking block (no thinking deltas, only a `signature_delta`), as models do after tool use |
 * | `redacted_thinking` | `1` / `0` | a `redacted_thinking` block (opaque `data`, whole at its start) before the text |
 * | `web_search` | `1` / `0` | a web search: a `server_tool_use` (streamed input), a `web_search_tool_result`, then text with `citations_delta`s; usage counts one `web_search_requests` |
 * | `pause_turn` | `1` / `0` | with `web_search`: stop after the `server_tool_use` with `stop_reason: pause_turn` (the API's long-turn pause) |
 * | `code_execution` | `1` / `0` | code execution: a `server_tool_use` named `code_execution` (streamed input), a `code_execution_tool_result` with its stdout, then the text; `message_delta` (and the whole Message) carries the `container` it ran in |
 * | `refusal` | a category (`cyber`, `bio`, …) | the text stops early with `stop_reason: refusal` and `stop_details {type: refusal, category, explanation}` |
 * | `unknown_block` | `1` / `0` | a block of a type no SDK knows (`sim_hologram`), whole at its start, before the text |
 * | `unknown_delta` | `1` / `0` | a delta of a type no SDK knows (`sim_sparkle_delta`) on the first text block |
 * | `usage` | `full` | usage with every field: cache reads and writes, the cache-creation split, `service_tier`, `server_tool_use`, `output_tokens_details`; `message_delta` repeats the cumulative counts |
 * | `tokens` | N ≥ 1 | length of the text reply in tokens (still capped by `max_tokens`) |
 * | `stop_reason` | an Anthropic stop reason | end the reply with this `stop_reason` (content as planned); see stop-reason.ts |
 * | `cache_read` | N | report N `cache_read_input_tokens` in the usage |
 * | `cache_write` | N | report N `cache_creation_input_tokens` in the usage |
 * | `ttft` | ms | time to first token for this request |
 * | `tps` | tokens/s | pacing for this request; `0` = no delay |
 * | `bench` | `1` / `0` | benchmark stamping for this request: every text token is `${seq}@${hrtimeNs} ` |
 *
 * When several of `error_after`, `truncate_after`, `reset_after`, `stall_after` are given, the
 * smallest K wins (ties in that order). A K past the end of the reply never fires.
 *
 * On a non-streaming request the same faults become what such a client would see: `error_after`
 * → the status error of its type (529 for `overloaded_error`), `truncate_after` → half a JSON
 * body, `reset_after` → a reset before any headers, `stall_after` → no answer at all. `fixture`
 * needs `"stream": true`. Benchmark replies are one text block (no thinking or tool block).
 */

import { type AnthropicErrorType, isAnthropicErrorType } from './errors.js';
import { isStopReason, STOP_REASONS, type StopReason } from './stop-reason.js';

export interface Directives {
  readonly status?: number;
  readonly retryAfter?: string;
  readonly retryAfterMs?: number;
  readonly failFirst?: number;
  readonly errorAfter?: number;
  readonly errorType?: AnthropicErrorType;
  readonly truncateAfter?: number;
  readonly resetAfter?: number;
  readonly stallAfter?: number;
  readonly headerDelayMs?: number;
  readonly fixture?: string;
  readonly tool?: string;
  readonly thinking?: boolean;
  readonly emptyThinking?: boolean;
  readonly redactedThinking?: boolean;
  readonly webSearch?: boolean;
  readonly pauseTurn?: boolean;
  readonly codeExecution?: boolean;
  readonly refusal?: string;
  readonly unknownBlock?: boolean;
  readonly unknownDelta?: boolean;
  readonly fullUsage?: boolean;
  readonly tokens?: number;
  readonly stopReason?: StopReason;
  readonly cacheRead?: number;
  readonly cacheWrite?: number;
  readonly ttftMs?: number;
  readonly tps?: number;
  readonly bench?: boolean;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export type DirectiveResult =
  | { readonly ok: true; readonly directives: Directives; readonly cleanPrompt: string }
  | { readonly ok: false; readonly message: string };

/** Parses one value; returns an error message on a bad value. */
type ValueParser = (value: string, into: Mutable<Directives>) => string | undefined;

const INT = /^\d{1,10}$/;
const NUMBER = /^\d{1,10}(\.\d{1,6})?$/;
/** Fixture names: a plain file stem, so `..` and `/` can never reach the file system. */
const FIXTURE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
/** The API's own rule for tool names. */
const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

function int(set: (n: number, into: Mutable<Directives>) => void, min = 0): ValueParser {
  return (value, into) => {
    if (!INT.test(value) || Number(value) < min) return `must be an integer >= ${min}`;
    set(Number(value), into);
    return undefined;
  };
}

function flag(set: (b: boolean, into: Mutable<Directives>) => void): ValueParser {
  return (value, into) => {
    if (value === '1' || value === 'true') set(true, into);
    else if (value === '0' || value === 'false') set(false, into);
    else return 'must be 1, 0, true or false';
    return undefined;
  };
}

const PARSERS: Readonly<Record<string, ValueParser>> = {
  status: (value, into) => {
    if (!INT.test(value) || Number(value) < 400 || Number(value) > 599)
      return 'must be an HTTP status 400-599';
    into.status = Number(value);
    return undefined;
  },
  retry_after: (value, into) => {
    if (!NUMBER.test(value)) return 'must be a number of seconds';
    into.retryAfter = value;
    return undefined;
  },
  retry_after_ms: int((n, d) => {
    d.retryAfterMs = n;
  }),
  fail_first: int((n, d) => {
    d.failFirst = n;
  }),
  error_after: int((n, d) => {
    d.errorAfter = n;
  }),
  error_type: (value, into) => {
    if (!isAnthropicErrorType(value)) return 'must be an Anthropic error type such as overloaded_error';
    into.errorType = value;
    return undefined;
  },
  truncate_after: int((n, d) => {
    d.truncateAfter = n;
  }),
  reset_after: int((n, d) => {
    d.resetAfter = n;
  }),
  stall_after: int((n, d) => {
    d.stallAfter = n;
  }),
  header_delay: int((n, d) => {
    d.headerDelayMs = n;
  }),
  fixture: (value, into) => {
    if (!FIXTURE_NAME.test(value)) return 'must be a fixture file name without extension or path';
    into.fixture = value;
    return undefined;
  },
  tool: (value, into) => {
    if (!TOOL_NAME.test(value)) return 'must match ^[a-zA-Z0-9_-]{1,64}$';
    into.tool = value;
    return undefined;
  },
  thinking: flag((b, d) => {
    d.thinking = b;
  }),
  empty_thinking: flag((b, d) => {
    d.emptyThinking = b;
  }),
  redacted_thinking: flag((b, d) => {
    d.redactedThinking = b;
  }),
  web_search: flag((b, d) => {
    d.webSearch = b;
  }),
  pause_turn: flag((b, d) => {
    d.pauseTurn = b;
  }),
  code_execution: flag((b, d) => {
    d.codeExecution = b;
  }),
  refusal: (value, into) => {
    if (!/^[a-z_]{1,32}$/.test(value)) return 'must be a refusal category such as cyber or bio';
    into.refusal = value;
    return undefined;
  },
  unknown_block: flag((b, d) => {
    d.unknownBlock = b;
  }),
  unknown_delta: flag((b, d) => {
    d.unknownDelta = b;
  }),
  usage: (value, into) => {
    if (value !== 'full') return 'must be full';
    into.fullUsage = true;
    return undefined;
  },
  tokens: int((n, d) => {
    d.tokens = n;
  }, 1),
  stop_reason: (value, into) => {
    if (!isStopReason(value)) return `must be one of ${STOP_REASONS.join(', ')}`;
    into.stopReason = value;
    return undefined;
  },
  cache_read: int((n, d) => {
    d.cacheRead = n;
  }),
  cache_write: int((n, d) => {
    d.cacheWrite = n;
  }),
  ttft: int((n, d) => {
    d.ttftMs = n;
  }),
  tps: (value, into) => {
    if (!NUMBER.test(value)) return 'must be a number of tokens per second (0 = no delay)';
    into.tps = Number(value);
    return undefined;
  },
  bench: flag((b, d) => {
    d.bench = b;
  }),
};

/** Every key the grammar knows, for help texts. */
export const DIRECTIVE_KEYS: readonly string[] = Object.keys(PARSERS);

function splitPairs(text: string): string[] {
  return text.split(/\s+/).filter((p) => p.length > 0);
}

/** Checks a server's own faults (see parseDirectives); returns the problem, if any. */
export function checkServerFaults(text: string): string | undefined {
  return applyPairs(splitPairs(text), 'server faults', {});
}

const BLOCK = /\[\[sim(?:\s+([^\]]*))?\]\]/g;

function applyPairs(pairs: readonly string[], where: string, into: Mutable<Directives>): string | undefined {
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) return `sim directive in ${where}: expected key=value, got "${pair}"`;
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    const parse = Object.hasOwn(PARSERS, key) ? PARSERS[key] : undefined;
    if (parse === undefined) {
      return `sim directive in ${where}: unknown key "${key}" (known: ${DIRECTIVE_KEYS.join(', ')})`;
    }
    const problem = parse(value, into);
    if (problem !== undefined) return `sim directive in ${where}: ${key} ${problem}`;
  }
  return undefined;
}

/**
 * Reads the directives of a request from its model string and the text of its last user
 * message. The model's directives are applied first so that the prompt's win.
 */
export function parseDirectives(model: string, prompt: string, serverFaults = ''): DirectiveResult {
  const into: Mutable<Directives> = {};
  const own = applyPairs(splitPairs(serverFaults), 'server faults', into);
  if (own !== undefined) return { ok: false, message: own };
  const hash = model.indexOf('#');
  if (hash >= 0) {
    const pairs = model
      .slice(hash + 1)
      .split(',')
      .filter((p) => p.length > 0);
    const problem = applyPairs(pairs, 'model', into);
    if (problem !== undefined) return { ok: false, message: problem };
  }
  for (const match of prompt.matchAll(BLOCK)) {
    const pairs = (match[1] ?? '').split(/\s+/).filter((p) => p.length > 0);
    const problem = applyPairs(pairs, 'prompt', into);
    if (problem !== undefined) return { ok: false, message: problem };
  }
  const cleanPrompt = prompt.replace(BLOCK, ' ').replace(/\s+/g, ' ').trim();
  return { ok: true, directives: into, cleanPrompt };
}

/** A directive that ends the stream early, and after how many tokens. */
export interface StreamCut {
  readonly kind: 'error' | 'truncate' | 'reset' | 'stall';
  readonly after: number;
}

/** The earliest of the stream-ending faults, or undefined for a normal stream. */
export function streamCut(d: Directives): StreamCut | undefined {
  const candidates: StreamCut[] = [];
  if (d.errorAfter !== undefined) candidates.push({ kind: 'error', after: d.errorAfter });
  if (d.truncateAfter !== undefined) candidates.push({ kind: 'truncate', after: d.truncateAfter });
  if (d.resetAfter !== undefined) candidates.push({ kind: 'reset', after: d.resetAfter });
  if (d.stallAfter !== undefined) candidates.push({ kind: 'stall', after: d.stallAfter });
  // Stable sort keeps the documented tie order.
  return candidates.sort((a, b) => a.after - b.after)[0];
}
