/**
 * Validation of `POST /v1/messages` and `/v1/messages/count_tokens` bodies, with error messages
 * worded like the real API's (`max_tokens: Field required`, `messages.0.role: Input should be …`).
 * Known parameters are checked like the API checks them (ranges of temperature, top_p and top_k,
 * the thinking and tool_choice variants, thinking's budget against max_tokens), so a relay that
 * forwards a bad one sees the API's 400. Unknown top-level fields are accepted: the simulator is a
 * test double for relays, and a relay that forwards a new API parameter should not break on it.
 */
import { z } from 'zod';

/** zod's error hook: "Field required" for a missing field, else the given wording. */
function required(otherwise: string) {
  return {
    error: (issue: { input?: unknown }) => (issue.input === undefined ? 'Field required' : otherwise),
  };
}

const contentBlock = z.looseObject({ type: z.string(required('Input should be a valid string')) });

const messageParam = z.looseObject({
  role: z.enum(['user', 'assistant'], required("Input should be 'user' or 'assistant'")),
  content: z.union([z.string(), z.array(contentBlock)], required('Input should be a valid string or list')),
});

const textBlock = z.looseObject({ type: z.literal('text'), text: z.string() });

const tool = z.looseObject({
  name: z.string(required('Input should be a valid string')).min(1),
  input_schema: z.looseObject({}).optional(),
});

/** The largest `max_tokens` accepted (the API's largest per-model output limit). */
export const MAX_OUTPUT_TOKENS = 128_000;

const common = {
  model: z
    .string(required('Input should be a valid string'))
    .min(1, 'String should have at least 1 character'),
  messages: z
    .array(messageParam, required('Input should be a valid list'))
    .min(1, 'at least one message is required'),
  system: z.union([z.string(), z.array(textBlock)]).optional(),
  tools: z.array(tool).optional(),
  tool_choice: z
    .discriminatedUnion(
      'type',
      [
        z.looseObject({ type: z.literal('auto') }),
        z.looseObject({ type: z.literal('any') }),
        z.looseObject({ type: z.literal('none') }),
        z.looseObject({
          type: z.literal('tool'),
          name: z.string(required('Input should be a valid string')),
        }),
      ],
      { error: "Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'" },
    )
    .optional(),
  thinking: z
    .discriminatedUnion(
      'type',
      [
        z.looseObject({
          type: z.literal('enabled'),
          budget_tokens: z
            .number(required('Input should be a valid integer'))
            .int('Input should be a valid integer')
            .min(1024, 'Input should be greater than or equal to 1024'),
        }),
        z.looseObject({ type: z.literal('disabled') }),
        z.looseObject({ type: z.literal('adaptive') }),
      ],
      { error: "Input tag does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'" },
    )
    .optional(),
};

/** A sampling parameter: a number within [min, max], worded like the API's 400s. */
const bounded = (min: number, max: number, integer = false) => {
  const number = z.number('Input should be a valid number');
  return (integer ? number.int('Input should be a valid integer') : number)
    .min(min, `Input should be greater than or equal to ${min}`)
    .max(max, `Input should be less than or equal to ${max}`);
};

const messagesBody = z
  .looseObject({
    ...common,
    max_tokens: z
      .number(required('Input should be a valid integer'))
      .int('Input should be a valid integer')
      .min(1, 'ensure this value is greater than or equal to 1'),
    stream: z.boolean('Input should be a valid boolean').optional(),
    stop_sequences: z
      .array(z.string('Input should be a valid string'), 'Input should be a valid list')
      .optional(),
    temperature: bounded(0, 1).optional(),
    top_p: bounded(0, 1).optional(),
    top_k: bounded(0, Number.MAX_SAFE_INTEGER, true).optional(),
    metadata: z
      .looseObject({ user_id: z.string('Input should be a valid string').nullable().optional() })
      .optional(),
  })
  .superRefine(checkTurns)
  .superRefine((body, ctx) => {
    // Like the API's per-model output limit; it also bounds what one request can make us generate.
    if (body.thinking?.type === 'enabled' && body.thinking.budget_tokens >= body.max_tokens) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: `\`max_tokens\` must be greater than \`thinking.budget_tokens\`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size`,
      });
    }
    if (body.max_tokens > MAX_OUTPUT_TOKENS) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: `max_tokens: ${body.max_tokens} > ${MAX_OUTPUT_TOKENS}, which is the maximum allowed number of output tokens for ${body.model}`,
      });
    }
  });

const countTokensBody = z.looseObject(common).superRefine(checkTurns);

export type MessagesBody = z.infer<typeof messagesBody>;
export type CountTokensBody = z.infer<typeof countTokensBody>;
type MessageParam = z.infer<typeof messageParam>;
type ToolParam = z.infer<typeof tool>;

export type { ToolParam };

function checkTurns(body: { messages: MessageParam[] }, ctx: z.RefinementCtx): void {
  if (body.messages[0]?.role !== 'user') {
    ctx.addIssue({ code: 'custom', path: ['messages'], message: 'first message must use the "user" role' });
  }
  // Consecutive same-role turns are accepted: the API merges them.
  body.messages.forEach((m, i) => {
    if (m.role === 'user' && (m.content === '' || (Array.isArray(m.content) && m.content.length === 0))) {
      ctx.addIssue({
        code: 'custom',
        path: ['messages', i],
        message: 'user messages must have non-empty content',
      });
    }
  });
}

export type Parsed<T> =
  | { readonly ok: true; readonly body: T }
  | { readonly ok: false; readonly message: string };

function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'Invalid request';
  const path = issue.path.map(String).join('.');
  return path.length > 0 ? `${path}: ${issue.message}` : issue.message;
}

function parseWith<T>(schema: z.ZodType<T>, json: unknown): Parsed<T> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, message: 'Input should be a valid dictionary or object' };
  }
  const result = schema.safeParse(json);
  return result.success ? { ok: true, body: result.data } : { ok: false, message: describe(result.error) };
}

export function parseMessagesBody(json: unknown): Parsed<MessagesBody> {
  return parseWith(messagesBody, json);
}

export function parseCountTokensBody(json: unknown): Parsed<CountTokensBody> {
  return parseWith(countTokensBody, json);
}

function textOf(content: MessageParam['content']): string {
  if (typeof content === 'string') return content;
  return content
    .map((block) => (block.type === 'text' && typeof block.text === 'string' ? block.text : ''))
    .filter((t) => t.length > 0)
    .join('\n');
}

/** Text of the last user message: where directives live and what tests search records by. */
export function lastUserText(messages: readonly MessageParam[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m?.role === 'user') return textOf(m.content);
  }
  return '';
}

/**
 * `input_tokens` ≈ characters / 4 over the system prompt, every message and the tool
 * definitions, at least 1: close enough to the real tokenizer for usage accounting.
 */
export function estimateInputTokens(body: {
  system?: string | { text: string }[] | undefined;
  messages: readonly MessageParam[];
  tools?: readonly ToolParam[] | undefined;
}): number {
  let chars = 0;
  if (typeof body.system === 'string') chars += body.system.length;
  else if (body.system !== undefined) for (const b of body.system) chars += b.text.length;
  for (const m of body.messages) {
    chars += typeof m.content === 'string' ? m.content.length : JSON.stringify(m.content).length;
  }
  if (body.tools !== undefined) chars += JSON.stringify(body.tools).length;
  return Math.max(1, Math.ceil(chars / 4));
}
