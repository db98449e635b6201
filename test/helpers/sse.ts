/** A small, strict SSE reader for tests: frames as they arrive, from a fetch Response. */

export interface SseFrame {
  id?: string;
  event?: string;
  data: string;
  /** Comment lines (": ping") seen before this frame. */
  comments: string[];
}

/** Parses complete SSE text into frames (comments kept; the spec's field rules, LF line ends). */
export function parseSse(text: string): { frames: SseFrame[]; comments: string[]; rest: string } {
  const frames: SseFrame[] = [];
  const allComments: string[] = [];
  let comments: string[] = [];
  const blocks = text.split('\n\n');
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    const frame: SseFrame = { data: '', comments };
    const data: string[] = [];
    let hasField = false;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        comments.push(line);
        allComments.push(line);
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      // `retry:` alone only tunes EventSource's reconnection delay; it does not make a frame.
      if (field === 'data') data.push(value);
      else if (field === 'id') frame.id = value;
      else if (field === 'event') frame.event = value;
      else continue;
      hasField = true;
    }
    if (!hasField) continue;
    frame.data = data.join('\n');
    frames.push(frame);
    comments = [];
  }
  return { frames, comments: allComments, rest };
}

/** Reads a whole SSE response body (until the server ends it) into frames. */
export async function readSse(res: Response): Promise<{ frames: SseFrame[]; comments: string[] }> {
  const text = await res.text();
  const { frames, comments } = parseSse(`${text}\n\n`);
  return { frames, comments };
}

/**
 * Reads frames as they arrive and calls `onFrame`; stop early by returning true (the body is then
 * cancelled, which closes the connection like a dropped client).
 */
export async function streamSse(
  res: Response,
  onFrame: (frame: SseFrame) => boolean | undefined,
): Promise<void> {
  if (res.body === null) throw new Error('response has no body');
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      const { frames, rest } = parseSse(buffer);
      buffer = rest;
      for (const frame of frames) if (onFrame(frame) === true) return;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** The relay events of frames (JSON data of frames that have an `event:` line). */
export function relayEvents(
  frames: SseFrame[],
): Array<Record<string, unknown> & { type: string; seq: number }> {
  return frames.filter((f) => f.event !== undefined).map((f) => JSON.parse(f.data));
}
