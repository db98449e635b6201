/**
 * The stream request: Anthropic's Messages parameters plus the relay's own (`message`,
 * `conversation_id`, `on_disconnect`). One schema, used by every transport (HTTP body, WS `start`).
 */
import { z } from 'zod';
import { RelayError } from './errors.js';

const contentBlock = z.looseObject({ type: z.string().min(1) });

const messageParam = z.strictObject({
  role: z.enum(['user', 'assistant']),
  content: z.union([z.string(), z.array(contentBlock).min(1)]),
});

const systemParam = z.union([
  z.string(),
  z.array(z.looseObject({ type: z.literal('text'), text: z.string() })),
]);

export const streamRequestSchema = z
  .strictObject({
    model: z.string().min(1).max(256).optional(),
    max_tokens: z.number().int().positive().max(1_000_000).optional(),
    system: systemParam.optional(),
    messages: z.array(messageParam).min(1).max(10_000).optional(),
    message: z.string().min(1).optional(),
    temperature: z.number().min(0).max(1).optional(),
    top_p: z.number().min(0).max(1).optional(),
    top_k: z.number().int().nonnegative().optional(),
    stop_sequences: z.array(z.string()).max(64).optional(),
    tools: z.array(z.looseObject({ name: z.string().min(1) })).optional(),
    tool_choice: z.looseObject({ type: z.string() }).optional(),
    thinking: z.looseObject({ type: z.string() }).optional(),
    metadata: z.looseObject({}).optional(),
    conversation_id: z
      .string()
      // Long enough to be unguessable: whoever knows a conversation id may read and extend it.
      .regex(
        /^(new|[A-Za-z0-9_-]{22,128})$/,
        'use 22-128 letters, digits, "_" or "-" (long enough to be unguessable), or "new" to have the relay mint one',
      )
      .optional(),
    on_disconnect: z.enum(['grace', 'abort']).optional(),
  })
  .superRefine((req, ctx) => {
    if (req.message === undefined && req.messages === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'give either "message" (a string) or "messages" (Anthropic turns)',
        path: ['message'],
      });
    }
    if (req.message !== undefined && req.messages !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'give "message" or "messages", not both', path: ['message'] });
    }
  });

export type StreamRequest = z.infer<typeof streamRequestSchema>;
export type MessageParam = z.infer<typeof messageParam>;
export type SystemParam = z.infer<typeof systemParam>;
export type DisconnectPolicy = NonNullable<StreamRequest['on_disconnect']>;

/** What the upstream is asked for: Anthropic's parameters, shorthand resolved, defaults applied. */
export interface UpstreamRequest {
  model: string;
  max_tokens: number;
  messages: MessageParam[];
  system?: SystemParam;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  stop_sequences?: string[];
  tools?: Record<string, unknown>[];
  tool_choice?: Record<string, unknown>;
  thinking?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  /** `anthropic-beta` values the client asked for: sent upstream as that header, not in the body. */
  betas?: string[];
}

/** Turns zod issues into one message that names each bad field and what to do. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.join('.') : 'body';
      if (issue.code === 'unrecognized_keys') return `${path}: unknown field(s) ${issue.keys.join(', ')}`;
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}

/** Validates untrusted input; throws `invalid_request` with a message that says what to fix. */
export function parseStreamRequest(input: unknown): StreamRequest {
  const parsed = streamRequestSchema.safeParse(input);
  if (!parsed.success) throw new RelayError('invalid_request', describeIssues(parsed.error));
  return parsed.data;
}

/**
 * Builds the upstream request. `history` is earlier turns kept by the relay (conversations); the
 * new turns are appended after it.
 */
export function toUpstreamRequest(
  req: StreamRequest,
  defaults: { model: string; maxTokens: number },
  history: readonly MessageParam[] = [],
  betas?: readonly string[],
): UpstreamRequest {
  const turns: MessageParam[] =
    req.messages ?? (req.message === undefined ? [] : [{ role: 'user', content: req.message }]);
  const out: UpstreamRequest = {
    model: req.model ?? defaults.model,
    max_tokens: req.max_tokens ?? defaults.maxTokens,
    messages: [...history, ...turns],
  };
  if (req.system !== undefined) out.system = req.system;
  if (req.temperature !== undefined) out.temperature = req.temperature;
  if (req.top_p !== undefined) out.top_p = req.top_p;
  if (req.top_k !== undefined) out.top_k = req.top_k;
  if (req.stop_sequences !== undefined) out.stop_sequences = req.stop_sequences;
  if (req.tools !== undefined) out.tools = req.tools;
  if (req.tool_choice !== undefined) out.tool_choice = req.tool_choice;
  if (req.thinking !== undefined) out.thinking = req.thinking;
  if (req.metadata !== undefined) out.metadata = req.metadata;
  if (betas !== undefined && betas.length > 0) out.betas = [...betas];
  return out;
}

/** The most `anthropic-beta` values one request may name, and the longest one. */
const MAX_BETAS = 32;
const BETA_NAME = /^[A-Za-z0-9._-]{1,128}$/;

/** `anthropic_beta` on a WebSocket `start` frame: a list of beta names. */
export const anthropicBetaSchema = z
  .array(z.string().regex(BETA_NAME, 'a beta name such as "web-fetch-2025-09-10"'))
  .max(MAX_BETAS);

/**
 * The `anthropic-beta` header (comma-separated, possibly repeated): its names, or undefined when
 * absent. A malformed name is `invalid_request`, so a typo is not silently sent on.
 */
export function parseAnthropicBeta(header: string | undefined): string[] | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const names = header
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const parsed = anthropicBetaSchema.safeParse(names);
  if (!parsed.success)
    throw new RelayError('invalid_request', `anthropic-beta: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
