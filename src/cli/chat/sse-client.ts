/**
 * `relay chat --transport sse`: `POST /v1/streams` read as SSE frames with fetch; cancel is
 * `POST /v1/streams/:id/cancel`, after which the `cancelled` event arrives on the same stream.
 */
import { isTerminal, type RelayEventBody, type TerminalEvent } from '../../core/events.js';
import {
  ChatError,
  type ChatRequest,
  type ChatTransport,
  errorFromResponse,
  unreachable,
} from './transport.js';

export class SseChatClient implements ChatTransport {
  private readonly url: string;
  private streamId: string | undefined;

  /** Sent as x-api-key when the relay requires a key. */
  private readonly key: string | undefined;

  constructor(url: string, key?: string) {
    this.url = url;
    this.key = key;
  }
  private auth(): Record<string, string> {
    return this.key === undefined ? {} : { 'x-api-key': this.key };
  }

  async ask(
    request: ChatRequest,
    onEvent: (event: RelayEventBody) => void,
    signal: AbortSignal,
  ): Promise<TerminalEvent> {
    let res: Response;
    try {
      res = await fetch(`${this.url}/v1/streams`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...this.auth() },
        body: JSON.stringify(request),
        signal,
      });
    } catch (err) {
      if (signal.aborted) throw new ChatError('quit', 'quit');
      throw unreachable(this.url, err);
    }
    if (!res.ok || res.body === null) throw await errorFromResponse(res);
    this.streamId = res.headers.get('x-stream-id') ?? undefined;
    try {
      const terminal = await readEvents(res.body, onEvent);
      if (terminal !== undefined) return terminal;
      throw new ChatError('protocol', 'the relay closed the stream before its terminal event');
    } catch (err) {
      if (signal.aborted) throw new ChatError('quit', 'quit');
      if (err instanceof ChatError) throw err;
      throw new ChatError('connection_lost', 'the connection to the relay broke mid-answer', { cause: err });
    } finally {
      this.streamId = undefined;
    }
  }

  async cancel(): Promise<void> {
    if (this.streamId === undefined) return;
    const res = await fetch(`${this.url}/v1/streams/${this.streamId}/cancel`, {
      method: 'POST',
      headers: this.auth(),
    });
    if (!res.ok) throw await errorFromResponse(res);
    await res.body?.cancel();
  }

  async close(): Promise<void> {}
}

/** Reads SSE frames (LF or CRLF line ends) until a terminal relay event; undefined if the body ends first. */
async function readEvents(
  body: ReadableStream<Uint8Array>,
  onEvent: (event: RelayEventBody) => void,
): Promise<TerminalEvent | undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return undefined;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      let end = buffer.indexOf('\n\n');
      while (end !== -1) {
        const event = parseFrame(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (event !== undefined) {
          onEvent(event);
          if (isTerminal(event)) return event;
        }
        end = buffer.indexOf('\n\n');
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** A frame's relay event: the JSON of its `data:` lines, when it has an `event:` line (comments skipped). */
function parseFrame(frame: string): RelayEventBody | undefined {
  let named = false;
  const data: string[] = [];
  for (const line of frame.split('\n')) {
    if (line.startsWith('event:')) named = true;
    else if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
  }
  if (!named || data.length === 0) return undefined;
  return JSON.parse(data.join('\n')) as RelayEventBody;
}
