/**
 * The one upstream event a stream sees hundreds of times, recognised without the general path.
 * A text delta in its canonical form, alone in a body chunk,
 *
 *   event: content_block_delta
 *   data: {"type":"content_block_delta","index":N,"delta":{"type":"text_delta","text":"…"}}
 *
 * is read straight from the bytes: its index digits and its text (sliced as it is when it holds no
 * escape, else parsed as the one JSON string it is). The general path (SSE lines, a JSON object
 * graph, the mapper) allocates about a kilobyte per token, and the garbage collector was a third
 * of the upstream side's CPU. Anything else — another event, CRLF line ends, a field in another
 * order, a control character, two events in one chunk — returns undefined and takes that path,
 * which decides exactly as before.
 */
import type { TextEvent } from '../core/events.js';
import { textEvent } from '../core/token-event.js';

const HEAD = Buffer.from('event: content_block_delta\ndata: {"type":"content_block_delta","index":');
const MIDDLE = Buffer.from(',"delta":{"type":"text_delta","text":"');
/** `"}}` closing the text, the delta and the event, then the blank line. */
const TAIL = Buffer.from('"}}\n\n');
const SHORTEST = HEAD.length + 1 + MIDDLE.length + TAIL.length;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The chunk's text event, `{type: 'text', text, index}` as the mapper makes it, when the chunk is
 * exactly one canonical text delta event (an empty text included; the caller drops it). The event
 * is the one object made per token besides its text.
 */
export function textDeltaEvent(chunk: Buffer): TextEvent | undefined {
  const length = chunk.length;
  if (length < SHORTEST || !bytesAt(chunk, 0, HEAD)) return undefined;
  let at = HEAD.length;
  let index = 0;
  const digitsFrom = at;
  for (let b = chunk[at]!; b >= 0x30 && b <= 0x39; b = chunk[++at]!) index = index * 10 + (b - 0x30);
  // One to nine digits, no leading zero (JSON's grammar; and an index is small).
  const digits = at - digitsFrom;
  if (digits === 0 || digits > 9 || (digits > 1 && chunk[digitsFrom] === 0x30)) return undefined;
  const from = at + MIDDLE.length;
  const to = length - TAIL.length;
  if (to < from || !bytesAt(chunk, at, MIDDLE) || !bytesAt(chunk, to, TAIL)) return undefined;
  let escaped = false;
  for (let i = from; i < to; i++) {
    const b = chunk[i]!;
    // A control character is not valid JSON: the general path reports it as it always did.
    if (b < 0x20) return undefined;
    if (b === BACKSLASH) {
      escaped = true;
      i++; // the escaped character is never the string's end
      continue;
    }
    // An unescaped quote ends the string early: something follows it, so this is another shape.
    if (b === QUOTE) return undefined;
  }
  if (!escaped) return textEvent(chunk.toString('utf8', from, to), index);
  try {
    return textEvent(JSON.parse(chunk.toString('utf8', from - 1, to + 1)) as string, index);
  } catch {
    return undefined;
  }
}

/**
 * Whether `chunk` holds `want` at `at` (the caller checked the length). A loop, not
 * `Buffer.compare`: three compares cost ~230 ns per chunk in their argument checks and native
 * calls, this ~120 ns (a chunk is ~150 bytes, all but the text compared).
 */
function bytesAt(chunk: Buffer, at: number, want: Buffer): boolean {
  for (let i = 0; i < want.length; i++) if (chunk[at + i] !== want[i]) return false;
  return true;
}
