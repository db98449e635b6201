/**
 * What `relay chat` needs from a transport: start one answer, cancel it for real, close. The SSE
 * and WebSocket clients implement it, so the chat loop is written once.
 */
import type { RelayEventBody, TerminalEvent } from '../../core/events.js';

/** A stream request as `relay chat` sends it (the relay validates it). */
export interface ChatRequest {
  readonly message: string;
  readonly conversation_id?: string;
  readonly model?: string;
  readonly system?: string;
  /** `--thinking`: extended thinking, and room for it. */
  readonly thinking?: Readonly<Record<string, unknown>>;
  readonly max_tokens?: number;
}

export interface ChatTransport {
  /**
   * Streams one answer, handing every relay event to `onEvent`, and resolves with the terminal
   * event (`done`, `error` or `cancelled`). Rejects with a ChatError when the relay cannot be
   * reached, refuses the request, or the connection breaks; and when `signal` aborts (quit).
   */
  ask(
    request: ChatRequest,
    onEvent: (event: RelayEventBody) => void,
    signal: AbortSignal,
  ): Promise<TerminalEvent>;
  /** Cancels the answer in flight on the relay (its `cancelled` event then ends `ask`). */
  cancel(): Promise<void>;
  close(): Promise<void>;
}

/** A failure the chat shows as `code: message`; `unreachable` when no relay answered at all. */
export class ChatError extends Error {
  override readonly name = 'ChatError';
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The error for a connection that failed before the relay answered anything. */
export function unreachable(url: string, err: unknown): ChatError {
  const code = socketErrorCode(err);
  const hint =
    code === 'ECONNREFUSED' ? ' — start it with `npm start`' : ` (${code ?? innermostMessage(err)})`;
  return new ChatError('unreachable', `relay not reachable at ${url}${hint}`, { cause: err });
}

/**
 * The socket error code behind a failed connect, looking through `cause` (fetch wraps it) and
 * AggregateError (Node tries IPv6 and IPv4 for "localhost").
 */
export function socketErrorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const { code, errors, cause } = e as { code?: unknown; errors?: unknown; cause?: unknown };
    if (typeof code === 'string' && code.startsWith('E')) return code;
    if (Array.isArray(errors)) {
      const inner = errors.map(socketErrorCode).find((c) => c !== undefined);
      if (inner !== undefined) return inner;
    }
    e = cause;
  }
  return undefined;
}

/** The message of the deepest `cause` (fetch's own "fetch failed" says nothing). */
function innermostMessage(err: unknown): string {
  let message = 'connection failed';
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; depth++, e = e.cause) {
    message = e.message;
  }
  return message;
}

/** The relay's JSON error body (`{"error":{"code","message"}}`), or a description of what came instead. */
export async function errorFromResponse(res: Response): Promise<ChatError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === 'string' && typeof body.error.message === 'string') {
      return new ChatError(body.error.code, body.error.message);
    }
  } catch {
    // Not the relay's JSON: describe the status below.
  }
  return new ChatError(`http_${res.status}`, `the relay answered ${res.status} ${res.statusText}`.trim());
}
