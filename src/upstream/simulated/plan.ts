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
import { randomId, randomInt, seededRandom } from './seed.js';
import type { StopReason } from './stop-reason.js';

export type { StopReason };

export type PlannedBlock =
  | { readonly type: 'thinking'; readonly tokens: readonly string[]; readonly signature: string }
  | { readonly type: 'text'; readonly tokens: readonly string[] }
  /** A text block whose tokens are benchmark stamps, made at write time (see bench.ts). */
  | { readonly type: 'bench'; readonly count: number }
  | {
      readonly type: 'tool_use';
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
  readonly outputTokens: number;
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
  const done = (stopReason: StopReason, stopSequence: string | null = null): ReplyPlan => ({
    blocks,
    stopReason,
    stopSequence,
    outputTokens: body.max_tokens - remaining,
  });

  if (wantsThinking(body, directives)) {
    const budget = body.thinking?.type === 'enabled' ? body.thinking.budget_tokens : Number.POSITIVE_INFINITY;
    const n = Math.min(randomInt(random, 15, 40), budget);
    const tokens = takeTokens(chunkTokens(thinkingText(random, words, n * cpt), cpt), n, remaining);
    blocks.push({ type: 'thinking', tokens, signature: signatureFor(input.hash) });
    remaining -= tokens.length;
    if (tokens.length < n || remaining === 0) return done('max_tokens');
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
    blocks.push({ type: 'text', tokens });
    remaining -= tokens.length;
    if (stop !== undefined) return done('stop_sequence', stop.sequence);
    if (tokens.length < wanted) return done('max_tokens');
  }

  if (tool !== undefined) {
    const inputValue = toolInput(random, words, tool.schema);
    const all = chunkTokens(JSON.stringify(inputValue), cpt);
    const tokens = takeTokens(all, all.length, remaining);
    blocks.push({ type: 'tool_use', id: randomId('toolu_01'), name: tool.name, input: inputValue, tokens });
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

/** A fake but stable signature: base64 of a marker and the body hash. */
function signatureFor(hash: string): string {
  return Buffer.from(`sim-signature:${hash.slice(0, 32)}`).toString('base64');
}
