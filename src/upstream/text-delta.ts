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

const HEAD = Buffer.from('event: content_block_delta\ndata: {"type":"content_block_delta","index":');
const MIDDLE = Buffer.from(',"delta":{"type":"text_delta","text":"');
/** `"}}` closing the text, the delta and the event, then the blank line. */
const TAIL = Buffer.from('"}}\n\n');

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export interface TextDelta {
  readonly index: number;
  readonly text: string;
}

/** The chunk's text delta when the chunk is exactly one canonical text delta event. */
export function textDelta(chunk: Buffer): TextDelta | undefined {
  const length = chunk.length;
  if (length < HEAD.length + 1 + MIDDLE.length + TAIL.length) return undefined;
  if (chunk.compare(HEAD, 0, HEAD.length, 0, HEAD.length) !== 0) return undefined;
  let at = HEAD.length;
  let index = 0;
  const digitsFrom = at;
  for (let b = chunk[at]!; b >= 0x30 && b <= 0x39; b = chunk[++at]!) index = index * 10 + (b - 0x30);
  // One to nine digits, no leading zero (JSON's grammar; and an index is small).
  const digits = at - digitsFrom;
  if (digits === 0 || digits > 9 || (digits > 1 && chunk[digitsFrom] === 0x30)) return undefined;
  if (chunk.compare(MIDDLE, 0, MIDDLE.length, at, at + MIDDLE.length) !== 0) return undefined;
  const from = at + MIDDLE.length;
  const to = length - TAIL.length;
  if (to < from || chunk.compare(TAIL, 0, TAIL.length, to, length) !== 0) return undefined;
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
  if (!escaped) return { index, text: chunk.toString('utf8', from, to) };
  try {
    return { index, text: JSON.parse(chunk.toString('utf8', from - 1, to + 1)) as string };
  } catch {
    return undefined;
  }
}
