/**
 * The classic tutorial contract, byte for byte: `POST /chat/stream` with `{"message": "..."}`
 * answers `data: {"content": "..."}` frames then `data: [DONE]`; an error is `data: {"error": "..."}`.
 * `GET /health` answers `{"status":"ok"}`. Tutorial clients never resume, so their streams abort
 * on disconnect.
 */
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { z } from 'zod';
import { RelayError } from '../core/errors.js';
import { assertNever } from '../core/events.js';
import { describeIssues } from '../core/request.js';
import type { LogEntry } from '../core/stream-log.js';
import type { StreamRegistry } from '../core/streams.js';
import { ownedBy } from './authenticate.js';
import { readJsonBody } from './http-body.js';
import type { RelayApp } from './relay-env.js';
import { addressKey } from './remote-address.js';
import type { RequestBudget } from './request-budget.js';
import { streamToSse } from './sse-response.js';

const classicRequest = z.strictObject({
  message: z.string().min(1, 'message must not be empty'),
  system: z.string().optional(),
  model: z.string().min(1).optional(),
  max_tokens: z.number().int().positive().optional(),
});

export interface ClassicDeps {
  readonly registry: StreamRegistry;
  readonly bodyLimitBytes: number;
  readonly requestBudget?: RequestBudget;
  readonly pingMs: number;
}

export function registerClassicRoutes(app: RelayApp, deps: ClassicDeps): void {
  app.get('/health', (c) => c.json({ status: 'ok' }));

  app.post('/chat/stream', async (c) => {
    const { incoming, outgoing } = c.env;
    const parsed = classicRequest.safeParse(
      await readJsonBody(incoming, deps.bodyLimitBytes, deps.requestBudget),
    );
    if (!parsed.success) throw new RelayError('invalid_request', describeIssues(parsed.error));
    const { message, system, model, max_tokens } = parsed.data;
    const stream = await deps.registry.create(
      {
        message,
        on_disconnect: 'abort',
        ...(system === undefined ? {} : { system }),
        ...(model === undefined ? {} : { model }),
        ...(max_tokens === undefined ? {} : { max_tokens }),
      },
      {
        ...ownedBy(c.var.principal),
        transport: 'classic',
        address: addressKey(incoming.socket.remoteAddress),
      },
    );
    streamToSse(outgoing, stream, 0, {
      encode: classicFrames,
      // Only a comment: tutorial clients read with fetch, so EventSource's `retry:` means nothing.
      open: ':ok\n\n',
      pingMs: deps.pingMs,
      headers: { 'x-stream-id': stream.id },
      reader: deps.registry.reader('classic'),
    });
    return RESPONSE_ALREADY_SENT;
  });
}

/**
 * Tutorial frames, spelled as the tutorial's server printed them (`{"content": "..."}`, a space after
 * the colon). Only text reaches the client; thinking, tool calls and retries are passed over.
 */
export function classicFrames(entries: readonly LogEntry[]): string {
  let out = '';
  for (const { event } of entries) {
    switch (event.type) {
      case 'text':
        out += `data: {"content": ${JSON.stringify(event.text)}}\n\n`;
        break;
      case 'done':
        out += 'data: [DONE]\n\n';
        break;
      case 'error':
        out += `data: {"error": ${JSON.stringify(event.message)}}\n\n`;
        break;
      case 'cancelled':
        out += `data: {"error": ${JSON.stringify(`cancelled (${event.reason})`)}}\n\n`;
        break;
      case 'start':
      case 'thinking':
      case 'tool_use':
      case 'tool_input':
      case 'citation':
      case 'signature':
      case 'block':
      case 'delta':
      case 'retry':
        break;
      default:
        assertNever(event, 'relay event');
    }
  }
  return out;
}
