/**
 * The text and thinking events the adapter makes, one per token, with a slot for the `seq` the
 * stream log gives every event it stores (stream-log.ts `append` numbers the event in place).
 * Declared here and left undefined — JSON.stringify skips it, and the log fills it before its
 * JSON is made, so the bytes are the same — it is stored in the object itself; added later,
 * it would grow a separate property store on every event (~40 B each).
 */
import type { TextEvent, ThinkingEvent } from '../core/events.js';

export function textEvent(text: string, index: number): TextEvent {
  return { type: 'text', text, index, seq: undefined } as TextEvent;
}

export function thinkingEvent(text: string, index: number): ThinkingEvent {
  return { type: 'thinking', text, index, seq: undefined } as ThinkingEvent;
}
