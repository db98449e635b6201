/**
 * What a reply will contain, decided before the first byte is written: its blocks (thinking,
 * text, tool_use), their tokens, the stop reason and the usage. Deterministic for a body hash,
 * except benchmark text, which is stamped at write time.
 */
import type { Directives } from './directives.js';
import {
  chunkTokens,
  keywords,
  replySentences,
  replyText,
  sentenceTokens,
  thinkingText,
  toolInput,
} from './reply.js';
import type { MessagesBody, ToolParam } from './request.js';
import { type Random, randomInt, seededId, seededRandom } from './seed.js';
import type { StopReason } from './stop-reason.js';

export type { StopReason };

/** A block or delta as the wire carries it. */
export type RawJson = Readonly<Record<string, unknown>>;

export type PlannedBlock =
  /** `tokens` may be empty: a closing thinking block that carries only its signature. */
  | { readonly type: 'thinking'; readonly tokens: readonly string[]; readonly signature: string }
  | {
      readonly type: 'text';
      readonly tokens: readonly string[];
      /** Sent as `citations_delta`s before the text; the whole block carries them as `citations`. */
      readonly citations?: readonly RawJson[];
      /** Deltas of types no SDK knows, sent after the first token; absent from the whole block. */
      readonly extraDeltas?: readonly RawJson[];
    }
  /** A block that arrives whole at its start (redacted thinking, a server-tool result, a new type). */
  | { readonly type: 'raw'; readonly block: RawJson; readonly deltas?: readonly RawJson[] }
  /** A text block whose tokens are benchmark stamps, made at write time (see bench.ts). */
  | { readonly type: 'bench'; readonly count: number }
  | {
      readonly type: 'tool_use';
      /** `server_tool_use` for a tool Anthropic runs (web search). */
      readonly blockType: 'tool_use' | 'server_tool_use';
      readonly id: string;
      readonly name: string;
      /** The full input; `tokens` may hold only a prefix of its JSON when max_tokens cut it. */
      readonly input: Record<string, unknown>;
      readonly tokens: readonly string[];
    };

export interface ReplyPlan {
  readonly blocks: readonly PlannedBlock[];
  readonly stopReason: StopReason;
  readonly stopSequence: string | null;
  /** A refusal's `{type, category, explanation}`; null otherwise, as the API sends it. */
  readonly stopDetails?: RawJson;
  /** `code_execution`: the container it ran in (`message_delta.delta.container`, the Message's `container`). */
  readonly container?: RawJson;
  readonly outputTokens: number;
  /** `usage=full`: every usage field the API has (see usage.ts). */
  readonly fullUsage?: boolean;
  readonly webSearchRequests?: number;
  readonly thinkingTokens?: number;
}

export interface PlanInput {
  readonly body: MessagesBody;
  readonly directives: Directives;
  /** The last user message with directive blocks removed. */
  readonly cleanPrompt: string;
  readonly hash: string;
  readonly charsPerToken: number;
  readonly benchmark: boolean;
}

export function planReply(input: PlanInput): ReplyPlan {
  const { body, directives } = input;
  if (directives.bench ?? input.benchmark) return benchPlan(body.max_tokens, directives.tokens);

  const random = seededRandom(input.hash);
  const words = keywords(input.cleanPrompt);
  const cpt = input.charsPerToken;
  const blocks: PlannedBlock[] = [];
  let remaining = body.max_tokens;
  let thinkingTokens = 0;
  let webSearchRequests = 0;
  let container: RawJson | undefined;
  const done = (stopReason: StopReason, stopSequence: string | null = null): ReplyPlan => {
    if (directives.emptyThinking && stopReason !== 'max_tokens') {
      blocks.push({ type: 'thinking', tokens: [], signature: signatureFor(`${input.hash}closing`) });
    }
    return {
      blocks,
      stopReason,
      stopSequence,
      ...(stopReason === 'refusal'
        ? { stopDetails: refusalDetails(directives.refusal ?? 'general_harms') }
        : {}),
      outputTokens: body.max_tokens - remaining,
      ...(directives.fullUsage ? { fullUsage: true } : {}),
      ...(container === undefined ? {} : { container }),
      ...(webSearchRequests > 0 ? { webSearchRequests } : {}),
      ...(thinkingTokens > 0 ? { thinkingTokens } : {}),
    };
  };

  if (wantsThinking(body, directives)) {
    const budget = body.thinking?.type === 'enabled' ? body.thinking.budget_tokens : Number.POSITIVE_INFINITY;
    const n = Math.min(randomInt(random, 15, 40), budget);
    const tokens = takeTokens(chunkTokens(thinkingText(random, words, n * cpt), cpt), n, remaining);
    blocks.push({ type: 'thinking', tokens, signature: signatureFor(input.hash) });
    remaining -= tokens.length;
    thinkingTokens += tokens.length;
    if (tokens.length < n || remaining === 0) return done('max_tokens');
  }
  if (directives.redactedThinking) {
    blocks.push({
      type: 'raw',
      block: { type: 'redacted_thinking', data: signatureFor(`${input.hash}redacted`) },
    });
  }
  if (directives.unknownBlock) {
    blocks.push({
      type: 'raw',
      block: { type: 'sim_hologram', shape: 'cube', data: words.join(' ') },
    });
  }

  let citations: RawJson[] | undefined;
  if (directives.webSearch) {
    const query = words.slice(0, 3).join(' ');
    const inputValue = { query };
    const all = chunkTokens(JSON.stringify(inputValue), cpt);
    const tokens = takeTokens(all, all.length, remaining);
    const id = seededId(random, 'srvtoolu_01');
    blocks.push({
      type: 'tool_use',
      blockType: 'server_tool_use',
      id,
      name: 'web_search',
      input: inputValue,
      tokens,
    });
    remaining -= tokens.length;
    if (tokens.length < all.length) return done('max_tokens');
    if (directives.pauseTurn) return done('pause_turn');
    webSearchRequests = 1;
    const results = searchResults(random, words);
    blocks.push({
      type: 'raw',
      block: { type: 'web_search_tool_result', tool_use_id: id, content: results },
    });
    citations = results.slice(0, 2).map((r) => ({
      type: 'web_search_result_location',
      cited_text: `${String(r.title)}: ${query}`,
      url: r.url,
      title: r.title,
      encrypted_index: signatureFor(`${String(r.url)}${input.hash}`),
    }));
  }

  if (directives.codeExecution) {
    const code = `print(${JSON.stringify(words.join(' '))}.upper())`;
    const inputValue = { code };
    const all = chunkTokens(JSON.stringify(inputValue), cpt);
    const tokens = takeTokens(all, all.length, remaining);
    const id = seededId(random, 'srvtoolu_01');
    blocks.push({
      type: 'tool_use',
      blockType: 'server_tool_use',
      id,
      name: 'code_execution',
      input: inputValue,
      tokens,
    });
    remaining -= tokens.length;
    container = containerFor(random);
    if (tokens.length < all.length) return done('max_tokens');
    blocks.push({
      type: 'raw',
      block: {
        type: 'code_execution_tool_result',
        tool_use_id: id,
        content: {
          type: 'code_execution_result',
          stdout: `${words.join(' ').toUpperCase()}\n`,
          stderr: '',
          return_code: 0,
          content: [],
        },
      },
    });
  }

  const tool = chooseTool(body, directives);
  if (tool === undefined || !tool.forced) {
    const wanted =
      directives.tokens ?? (tool === undefined ? randomInt(random, 40, 120) : randomInt(random, 8, 20));
    // A reply that fits ends at a sentence end (end_turn, or a tool call follows); one that
    // max_tokens cuts stops wherever the budget runs out, mid-word if need be. Either way no
    // more text is generated than can be sent: `tokens=` may ask for far more than max_tokens.
    let tokens =
      wanted <= remaining
        ? sentenceTokens(replySentences(random, words, wanted * cpt), wanted, wanted * cpt)
        : takeTokens(chunkTokens(replyText(random, words, remaining * cpt), cpt), wanted, remaining);
    const stop = firstStopSequence(tokens.join(''), body.stop_sequences);
    if (stop !== undefined) tokens = chunkTokens(stop.text, cpt);
    // A refusal stops the text part-way, as the API's streaming classifiers do.
    if (directives.refusal !== undefined)
      tokens = tokens.slice(0, Math.max(1, Math.floor(tokens.length / 3)));
    blocks.push({
      type: 'text',
      tokens,
      ...(citations === undefined ? {} : { citations }),
      ...(directives.unknownDelta ? { extraDeltas: [{ type: 'sim_sparkle_delta', sparkles: 3 }] } : {}),
    });
    remaining -= tokens.length;
    if (directives.refusal !== undefined) return done('refusal');
    if (stop !== undefined) return done('stop_sequence', stop.sequence);
    if (tokens.length < wanted) return done('max_tokens');
  }

  if (tool !== undefined) {
    const inputValue = toolInput(random, words, tool.schema);
    const all = chunkTokens(JSON.stringify(inputValue), cpt);
    const tokens = takeTokens(all, all.length, remaining);
    const id = seededId(random, 'toolu_01');
    blocks.push({ type: 'tool_use', blockType: 'tool_use', id, name: tool.name, input: inputValue, tokens });
    remaining -= tokens.length;
    return done(tokens.length < all.length ? 'max_tokens' : 'tool_use');
  }
  return done('end_turn');
}

/** Benchmark reply: one text block of `tokens=` (or max_tokens) stamped tokens. */
function benchPlan(maxTokens: number, requested: number | undefined): ReplyPlan {
  const count = Math.min(requested ?? maxTokens, maxTokens);
  const stopReason: StopReason =
    requested !== undefined && requested <= maxTokens ? 'end_turn' : 'max_tokens';
  return { blocks: [{ type: 'bench', count }], stopReason, stopSequence: null, outputTokens: count };
}

function takeTokens(all: readonly string[], wanted: number, remaining: number): string[] {
  return all.slice(0, Math.max(0, Math.min(wanted, remaining)));
}

function wantsThinking(body: MessagesBody, d: Directives): boolean {
  // `adaptive` lets the model decide whether to think; the simulator always does, so a client
  // asking for it sees the thinking it has to handle.
  return d.thinking ?? (body.thinking?.type === 'enabled' || body.thinking?.type === 'adaptive');
}

interface ChosenTool {
  readonly name: string;
  readonly schema: Record<string, unknown> | undefined;
  /** `tool_choice` any/tool: the API answers with the tool call alone, no text before it. */
  readonly forced: boolean;
}

function chooseTool(body: MessagesBody, d: Directives): ChosenTool | undefined {
  const tools: readonly ToolParam[] = body.tools ?? [];
  const schemaOf = (t: ToolParam | undefined) => t?.input_schema as Record<string, unknown> | undefined;
  if (d.tool !== undefined) {
    return { name: d.tool, schema: schemaOf(tools.find((t) => t.name === d.tool)), forced: false };
  }
  const choice = body.tool_choice;
  const first = tools[0];
  if (first === undefined || (choice?.type !== 'tool' && choice?.type !== 'any')) return undefined;
  const named = choice.type === 'tool' ? tools.find((t) => t.name === choice.name) : undefined;
  const chosen = named ?? first;
  return { name: chosen.name, schema: schemaOf(chosen), forced: true };
}

/** The text up to the earliest stop sequence, and which one matched. */
function firstStopSequence(
  text: string,
  sequences: readonly string[] | undefined,
): { text: string; sequence: string } | undefined {
  let best: { text: string; sequence: string } | undefined;
  for (const sequence of sequences ?? []) {
    if (sequence.length === 0) continue;
    const at = text.indexOf(sequence);
    if (at >= 0 && (best === undefined || at < best.text.length))
      best = { text: text.slice(0, at), sequence };
  }
  return best;
}

/**
 * A code-execution container: stable for a body hash like the rest of the plan (so the streamed
 * and the whole answer agree), expiring a day or so after a fixed date rather than the wall clock.
 */
function containerFor(random: Random): RawJson {
  const expires = Date.UTC(2026, 0, 1) + randomInt(random, 1, 365 * 24) * 3_600_000;
  return { id: seededId(random, 'container_011'), expires_at: new Date(expires).toISOString() };
}

/** A fake but stable signature: base64 of a marker and the body hash. */
function signatureFor(hash: string): string {
  return Buffer.from(`sim-signature:${hash.slice(0, 32)}`).toString('base64');
}

function refusalDetails(category: string): RawJson {
  return { type: 'refusal', category, explanation: null };
}

/** Two made-up search results on the prompt's words (stable for a body hash). */
function searchResults(random: Random, words: readonly [string, ...string[]]): RawJson[] {
  return [0, 1, 2].map((i) => {
    const word = words[i % words.length] ?? words[0];
    return {
      type: 'web_search_result',
      url: `https://example.com/${encodeURIComponent(word)}/${i + 1}`,
      title: `About ${word} (${i + 1})`,
      encrypted_content: signatureFor(`${word}${randomInt(random, 0, 1e9)}`),
      page_age: null,
    };
  });
}
