/**
 * The WebSocket protocol's frames (DESIGN.md "WebSocket"): a zod schema for each client frame, and
 * the server's own messages that are not relay events (`pong`, protocol errors). Relay events are
 * encoded by wire.ts, like every other transport's.
 */
import { z } from 'zod';
import { type ErrorCode, errorInfo, RelayError } from '../core/errors.js';
import { MAX_JSON_DEPTH, nestsDeeperThan, tooDeepMessage } from '../core/json-depth.js';
import { anthropicBetaSchema, describeIssues, streamRequestSchema } from '../core/request.js';

const streamId = z.string().min(1).max(256);

/** `{"type":"start","ref","request"}`: the request is the same schema as `POST /v1/streams`'s body. */
export const startFrameSchema = z.strictObject({
  type: z.literal('start'),
  /** The client's tag, echoed on the stream's `start` event and on errors about this frame. */
  ref: z.string().max(256).optional(),
  request: streamRequestSchema,
  /** Beta features, forwarded upstream as the `anthropic-beta` header (HTTP clients send the header). */
  anthropic_beta: anthropicBetaSchema.optional(),
});

/** `{"type":"cancel","stream_id"}`: aborts the upstream; the `cancelled` event follows on the stream. */
export const cancelFrameSchema = z.strictObject({ type: z.literal('cancel'), stream_id: streamId });

/** `{"type":"resume","stream_id","after"}`: a new cursor that sends every event with seq > `after`. */
export const resumeFrameSchema = z.strictObject({
  type: z.literal('resume'),
  stream_id: streamId,
  after: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
});

/** Most bytes of JSON a ping's `t` may carry: the pong echoes it, so it must stay small. */
export const MAX_PING_T_BYTES = 1024;

/** `{"type":"ping","t"}` → `{"type":"pong","t"}`: an application-level round trip (browsers cannot send WS pings). */
export const pingFrameSchema = z.strictObject({
  type: z.literal('ping'),
  t: z
    .unknown()
    .optional()
    .refine((t) => t === undefined || JSON.stringify(t).length <= MAX_PING_T_BYTES, {
      message: `at most ${MAX_PING_T_BYTES} bytes of JSON (the pong echoes it)`,
    }),
});

export const clientFrameSchema = z.discriminatedUnion('type', [
  startFrameSchema,
  cancelFrameSchema,
  resumeFrameSchema,
  pingFrameSchema,
]);

export type ClientFrame = z.infer<typeof clientFrameSchema>;
export type StartFrame = z.infer<typeof startFrameSchema>;
export type CancelFrame = z.infer<typeof cancelFrameSchema>;
export type ResumeFrame = z.infer<typeof resumeFrameSchema>;

const FRAME_TYPES: readonly string[] = ['start', 'cancel', 'resume', 'ping'];

/** What an error message is about, when the frame said so. */
export interface ErrorContext {
  readonly ref?: string;
  readonly stream_id?: string;
}

export type ParsedFrame =
  | { readonly ok: true; readonly frame: ClientFrame }
  | { readonly ok: false; readonly error: RelayError; readonly context: ErrorContext };

/**
 * Validates one client frame. A frame that is not a JSON object of a known type, or misses a field,
 * is `invalid_message`; a `start` whose `request` alone fails the stream request schema is
 * `invalid_request`, the code `POST /v1/streams` answers for the same body.
 */
export function parseClientFrame(data: Buffer, isBinary: boolean): ParsedFrame {
  if (isBinary) return invalid('frames are JSON text; binary frames are not accepted', {});
  let raw: unknown;
  try {
    raw = JSON.parse(data.toString('utf8'));
  } catch {
    return invalid('the frame is not valid JSON', {});
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return invalid('a frame is a JSON object with a "type"', {});
  }
  const fields = raw as Record<string, unknown>;
  const context = contextOf(fields);
  // Before the schema, and before anything could echo or serialise the value (a deep ping `t`).
  // A start's request is the same body POST /v1/streams takes, so it gets the same limit and code.
  if (nestsDeeperThan(fields.request, MAX_JSON_DEPTH)) {
    return { ok: false, error: new RelayError('invalid_request', tooDeepMessage('request')), context };
  }
  if (nestsDeeperThan(raw, MAX_JSON_DEPTH + 1)) {
    return invalid(tooDeepMessage('the frame', MAX_JSON_DEPTH + 1), context);
  }
  if (typeof fields.type !== 'string' || !FRAME_TYPES.includes(fields.type)) {
    return invalid(`type: expected one of ${FRAME_TYPES.join(', ')}`, context);
  }
  const parsed = clientFrameSchema.safeParse(fields);
  if (parsed.success) return { ok: true, frame: parsed.data };
  // A request that is there but wrong is the body's fault (invalid_request); a missing one, the frame's.
  const requestOnly =
    fields.request !== undefined && parsed.error.issues.every((issue) => issue.path[0] === 'request');
  const code: ErrorCode = requestOnly ? 'invalid_request' : 'invalid_message';
  return { ok: false, error: new RelayError(code, describeIssues(parsed.error)), context };
}

/**
 * How relay events are framed on a connection, chosen by the client with `?frames=` on the
 * upgrade URL (no extra round trip, and a browser's ticketed URL can carry it): `single` (the
 * default, the protocol every existing client speaks) sends each event as its own text message;
 * `batch` sends every event one cursor flush hands the socket as ONE text message, a JSON array of
 * the same objects. Protocol messages (pong, error notices) stay single objects in both.
 */
export const FRAME_MODES = ['single', 'batch'] as const;
export type FrameMode = (typeof FRAME_MODES)[number];

export const WS_FRAMES_PARAM = 'frames';

const frameModeSchema = z.enum(FRAME_MODES);

/**
 * The connection's frame mode from its upgrade URL; throws `invalid_request` (400 before the
 * handshake) for an unknown value or the parameter given twice. Other parameters (`ticket`) are
 * not this function's business.
 */
export function frameModeOf(url: string | undefined): FrameMode {
  const query = url?.indexOf('?') ?? -1;
  if (url === undefined || query === -1) return 'single';
  const values = new URLSearchParams(url.slice(query + 1)).getAll(WS_FRAMES_PARAM);
  if (values.length === 0) return 'single';
  if (values.length > 1) {
    throw new RelayError('invalid_request', `${WS_FRAMES_PARAM}: give it once (single or batch)`);
  }
  const parsed = frameModeSchema.safeParse(values[0]);
  if (parsed.success) return parsed.data;
  throw new RelayError(
    'invalid_request',
    `${WS_FRAMES_PARAM}: expected one of ${FRAME_MODES.join(', ')}, got ${JSON.stringify(values[0]?.slice(0, 64))}`,
  );
}

/** `{"type":"pong","t"}`, echoing the ping's `t` when it had one. */
export function pongMessage(t: unknown): string {
  return JSON.stringify(t === undefined ? { type: 'pong' } : { type: 'pong', t });
}

/**
 * A protocol error: about a frame, or a notice that a stream's cursor on this connection stopped.
 * It has no `seq`, which tells it apart from a stream's terminal `error` event.
 */
export function errorMessage(error: RelayError, context: ErrorContext): string {
  return JSON.stringify({
    type: 'error',
    code: error.code,
    message: error.message,
    retryable: error.retryable,
    ...(error.retryAfterMs === undefined ? {} : { retry_after_ms: error.retryAfterMs }),
    ...context,
  });
}

/** WebSocket close codes the relay sends (RFC 6455 §7.4; 4xxx are ours, from errors.ts). */
export const WS_CLOSE = {
  /** A client exceeded the frames-per-second limit (policy violation). */
  flood: 1008,
  /** A frame over `wsMaxPayloadBytes`; sent by `ws` itself. */
  tooBig: errorInfo('payload_too_large').wsClose,
  /** The socket's buffer stayed over `wsHardLimitBytes`: the client reads too slowly. */
  slowConsumer: errorInfo('slow_consumer').wsClose,
  /** Going away: the relay is draining or shutting down; streams got their terminal event first. */
  shutdown: errorInfo('shutting_down').wsClose,
} as const;

function invalid(message: string, context: ErrorContext): ParsedFrame {
  return { ok: false, error: new RelayError('invalid_message', message), context };
}

/** The frame's `ref` / `stream_id`, when they are usable strings, so an error can name them. */
function contextOf(raw: Record<string, unknown>): ErrorContext {
  const ref = usable(raw.ref);
  const id = usable(raw.stream_id);
  return { ...(ref === undefined ? {} : { ref }), ...(id === undefined ? {} : { stream_id: id }) };
}

function usable(value: unknown): string | undefined {
  return typeof value === 'string' && value.length <= 256 ? value : undefined;
}
