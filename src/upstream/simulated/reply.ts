/**
 * Deterministic reply text: sentences built from the prompt's key words, always mixing English
 * with multi-byte text (Chinese, emoji, accents) so every reply exercises UTF-8 handling.
 */
import { pick, type Random, randomInt } from './seed.js';

const STOPWORDS = new Set(
  "the and for are but not you your with this that what when where which who why how can could would should will from have has had was were been being into about there their them then than they our out all any some just like also more most very much many please tell give make does did doing its it’s it's let me one two".split(
    ' ',
  ),
);

const FALLBACK_WORDS: readonly [string, ...string[]] = ['streams', 'tokens', 'relays'];

/** Up to eight distinct key words of the prompt, in order of appearance. */
export function keywords(prompt: string): [string, ...string[]] {
  const seen = new Set<string>();
  for (const match of prompt.matchAll(/[\p{L}\p{N}][\p{L}\p{N}_'-]*/gu)) {
    const word = match[0];
    const lower = word.toLowerCase();
    const isCjk = /\p{Script=Han}/u.test(word);
    if ((!isCjk && word.length < 3) || STOPWORDS.has(lower) || seen.has(lower)) continue;
    seen.add(lower);
    if (seen.size >= 8) break;
  }
  const words = [...seen];
  return words.length > 0 ? (words as [string, ...string[]]) : [...FALLBACK_WORDS];
}

type Template = (k: string, k2: string) => string;

// Every opener carries multi-byte text, so even a short reply does.
const OPENERS: readonly [Template, ...Template[]] = [
  (k) => `你好! 🚀 You asked about ${k}.`,
  (k) => `Hello 👋 — 关于 ${k}, here is a short answer.`,
  (k) => `好的 ✨ Let's look at ${k} together.`,
  (k) => `Bonjour! Café-style notes on ${k} ☕ follow.`,
];

const SENTENCES: readonly [Template, ...Template[]] = [
  (k, k2) => `${cap(k)} matters because it shapes how ${k2} behaves.`,
  (k, k2) => `In short, ${k} and ${k2} work together like 数据流 (data streams) 🌊.`,
  (k) => `A careful look at ${k} shows three ideas: clarity, speed and 可靠性 (reliability).`,
  (k) => `Think of ${k} as a relay: each token 🔁 moves from one side to the other.`,
  (k, k2) => `Many people ask whether ${k} is hard; it is not, once ${k2} is clear.`,
  (k, k2) => `Here is a tip: measure ${k} first, then tune ${k2} ⚙️.`,
  (k) => `The word “${k}” appears in your question, so I keep it in focus.`,
  (k, k2) => `Summary: ${k} → ${k2} → ✅ done.`,
  (k) => `Step by step, ${k} becomes simpler 📈.`,
  (k) => `我们可以一起研究 ${k}, 一步一步来.`,
  (k, k2) => `Naïve approaches to ${k} often forget ${k2}; résumé-level detail helps.`,
  (k) => `If ${k} were a river, the tokens would be its water 💧.`,
];

const THOUGHTS: readonly [Template, ...Template[]] = [
  (k) => `Let me think about ${k}.`,
  (k, k2) => `思考: the user wants to know how ${k} relates to ${k2}. 🤔`,
  (k) => `I should answer clearly and keep ${k} central.`,
  (k, k2) => `Maybe start from ${k2}, then connect it back to ${k}.`,
  () => `A short, friendly answer fits best.`,
];

function cap(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function compose(
  random: Random,
  words: readonly [string, ...string[]],
  minCodePoints: number,
  first: readonly [Template, ...Template[]],
  rest: readonly [Template, ...Template[]],
): string[] {
  const parts: string[] = [];
  let length = 0;
  let templates = first;
  // Bounded: every sentence adds at least a few code points.
  while (length < minCodePoints && parts.length < 100_000) {
    const sentence = pick(random, templates)(pick(random, words), pick(random, words));
    parts.push(sentence);
    length += [...sentence].length + 1;
    templates = rest;
  }
  return parts;
}

/** Whole reply sentences (each ends with "."), at least `minCodePoints` code points in all. */
export function replySentences(
  random: Random,
  words: readonly [string, ...string[]],
  minCodePoints: number,
): string[] {
  return compose(random, words, minCodePoints, OPENERS, SENTENCES);
}

/** Reply text of at least `minCodePoints` code points, relating to the prompt's words. */
export function replyText(
  random: Random,
  words: readonly [string, ...string[]],
  minCodePoints: number,
): string {
  return replySentences(random, words, minCodePoints).join(' ');
}

/**
 * Exactly `n` tokens of text that ends at the end of a sentence, as an `end_turn` reply does: the
 * run of whole sentences whose length comes closest to `targetCodePoints` (and has at least `n`
 * code points), split into `n` tokens of nearly equal size. Tokens therefore vary around
 * charsPerToken, as real tokens vary; only a reply cut by `max_tokens` may stop mid-word.
 */
export function sentenceTokens(sentences: readonly string[], n: number, targetCodePoints: number): string[] {
  const points: string[] = [];
  let best = 0; // the chosen prefix's length in code points, at a sentence end
  for (const sentence of sentences) {
    if (points.length > 0) points.push(' ');
    for (const point of sentence) points.push(point);
    if (points.length < n) continue;
    if (best === 0 || Math.abs(points.length - targetCodePoints) < Math.abs(best - targetCodePoints))
      best = points.length;
    if (points.length >= targetCodePoints) break;
  }
  const tokens: string[] = [];
  for (let i = 0; i < n; i++) {
    tokens.push(points.slice(Math.floor((i * best) / n), Math.floor(((i + 1) * best) / n)).join(''));
  }
  return tokens;
}

/** Thinking text of at least `minCodePoints` code points. */
export function thinkingText(
  random: Random,
  words: readonly [string, ...string[]],
  minCodePoints: number,
): string {
  return compose(random, words, minCodePoints, THOUGHTS, THOUGHTS).join(' ');
}

/**
 * Splits text into tokens of `charsPerToken` code points, so no token splits a surrogate pair
 * (byte-level splits are the transport's business, and tests exercise them separately).
 */
export function chunkTokens(text: string, charsPerToken: number): string[] {
  const points = [...text];
  const size = Math.max(1, Math.floor(charsPerToken));
  const tokens: string[] = [];
  for (let i = 0; i < points.length; i += size) tokens.push(points.slice(i, i + size).join(''));
  return tokens;
}

/** A JSON-schema value for `schema`, built from the prompt's words. */
function valueFor(
  random: Random,
  words: readonly [string, ...string[]],
  schema: unknown,
  depth: number,
): unknown {
  const s = typeof schema === 'object' && schema !== null ? (schema as Record<string, unknown>) : {};
  const enumValues = s.enum;
  if (Array.isArray(enumValues) && enumValues.length > 0) return enumValues[0];
  switch (s.type) {
    case 'integer':
      return randomInt(random, 1, 100);
    case 'number':
      return randomInt(random, 1, 1000) / 10;
    case 'boolean':
      return random() < 0.5;
    case 'array':
      return depth > 3 ? [] : [valueFor(random, words, s.items, depth + 1)];
    case 'object':
      return depth > 3 ? {} : objectFor(random, words, s, depth + 1);
    default:
      return `${pick(random, words)} ${pick(random, words)}`;
  }
}

function objectFor(
  random: Random,
  words: readonly [string, ...string[]],
  schema: Record<string, unknown>,
  depth: number,
): Record<string, unknown> {
  const props = schema.properties;
  if (typeof props !== 'object' || props === null) return {};
  const out: Record<string, unknown> = {};
  for (const [name, sub] of Object.entries(props as Record<string, unknown>)) {
    out[name] = valueFor(random, words, sub, depth);
  }
  return out;
}

/**
 * Tool input: a value for every property of the tool's `input_schema`, or `{query}` when the
 * tool has no schema (a `tool=` directive without a matching tool definition).
 */
export function toolInput(
  random: Random,
  words: readonly [string, ...string[]],
  inputSchema: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const input = inputSchema === undefined ? {} : objectFor(random, words, inputSchema, 0);
  return Object.keys(input).length > 0 ? input : { query: words.slice(0, 3).join(' ') };
}
