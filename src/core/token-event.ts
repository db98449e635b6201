/**
 * The text and thinking deltas an upstream makes, one per token, and their JSON without
 * `JSON.stringify`. A stream's log serialises every event once; for these, the most numerous by
 * far, Node 20's `JSON.stringify` built the string from 32- and 64-character parts and a rope the
 * log then flattened: ~0.8–0.9 µs an append, and 342 B allocated a token, where the pieces below
 * cost ~0.25 µs and 311 B (Node 24: ~0.5–0.6 against ~0.25 µs).
 */
import type { TextEvent, ThinkingEvent } from './events.js';

/**
 * A delta whose keys are exactly `type`, `text`, `index` and `seq`, in that order: what the log's
 * own serialiser writes, so its bytes are `JSON.stringify`'s. The log recognises it by class;
 * anything else, a text event parsed back from elsewhere included, is stringified as before.
 */
export class TokenEvent {
  declare readonly type: 'text' | 'thinking';
  declare readonly text: string;
  declare readonly index: number;
  /** Undefined until the log numbers the event (JSON.stringify would skip it meanwhile). */
  declare seq: number | undefined;

  constructor(type: 'text' | 'thinking', text: string, index: number) {
    // Assigned here, in this order, and the slot for `seq` made now: declared fields emit nothing,
    // so nothing is defined before them, and a `seq` added later would grow a separate property
    // store on every event (~40 B each).
    this.type = type;
    this.text = text;
    this.index = index;
    this.seq = undefined;
  }

  /**
   * The event's JSON with `seq`, byte for byte what `JSON.stringify` gives for it; undefined when
   * the text holds a character JSON escapes (a quote, a backslash, a control character, a
   * surrogate) or the index is not an integer, where the caller stringifies instead.
   */
  json(seq: number): string | undefined {
    const text = this.text;
    if (ESCAPED.test(text) || !Number.isInteger(this.index)) return undefined;
    // Constant pieces where they can be: each `+` of a long string is a rope node until the log
    // flattens it, and most tokens are in a response's first block (index 0).
    const head = this.type === 'text' ? TEXT_HEAD : THINKING_HEAD;
    const middle = this.index === 0 ? INDEX_0_SEQ : `","index":${this.index},"seq":`;
    return `${head}${text}${middle}${seq}}`;
  }
}

/**
 * What JSON.stringify writes other than as itself in a string: `"`, `\`, U+0000–U+001F, and lone
 * surrogates (paired ones pass as they are, but telling them apart here is not worth it: they
 * take the slow path).
 */
const ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;
const TEXT_HEAD = '{"type":"text","text":"';
const THINKING_HEAD = '{"type":"thinking","text":"';
const INDEX_0_SEQ = '","index":0,"seq":';

export function textEvent(text: string, index: number): TextEvent {
  return new TokenEvent('text', text, index) as TextEvent;
}

export function thinkingEvent(text: string, index: number): ThinkingEvent {
  return new TokenEvent('thinking', text, index) as ThinkingEvent;
}
