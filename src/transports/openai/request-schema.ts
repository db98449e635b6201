/**
 * The Chat Completions request body (https://platform.openai.com/docs/api-reference/chat/create),
 * as far as the relay can honour it. Every object is strict: a field the relay does not know is a
 * 400 naming it, never silently dropped. Optional fields accept `null` like OpenAI's API does
 * (many clients send `"stop": null`). Fields that are only accepted at their harmless value (`n: 1`,
 * `logprobs: false` …) are checked in request.ts, which knows what to say about them.
 */
import { z } from 'zod';
import { InvalidParam } from './errors.js';

const textPart = z.strictObject({ type: z.literal('text'), text: z.string() });
const refusalPart = z.strictObject({ type: z.literal('refusal'), refusal: z.string() });
const imagePart = z.strictObject({
  type: z.literal('image_url'),
  image_url: z.strictObject({
    url: z.string().min(1),
    // Claude sizes images itself; OpenAI's resolution hint has nothing to map to (README: ignored).
    detail: z.enum(['auto', 'low', 'high']).nullish(),
  }),
});

const textContent = z.union([z.string(), z.array(textPart).min(1)]);

const systemMessage = z.strictObject({
  role: z.enum(['system', 'developer']),
  content: textContent,
  name: z.string().nullish(),
});

const userMessage = z.strictObject({
  role: z.literal('user'),
  content: z.union([z.string(), z.array(z.discriminatedUnion('type', [textPart, imagePart])).min(1)]),
  name: z.string().nullish(),
});

const toolCall = z.strictObject({
  id: z.string().min(1),
  type: z.literal('function'),
  function: z.strictObject({ name: z.string().min(1), arguments: z.string() }),
});

const assistantMessage = z.strictObject({
  role: z.literal('assistant'),
  content: z.union([z.string(), z.array(z.discriminatedUnion('type', [textPart, refusalPart]))]).nullish(),
  refusal: z.string().nullish(),
  tool_calls: z.array(toolCall).nullish(),
  name: z.string().nullish(),
});

const toolMessage = z.strictObject({
  role: z.literal('tool'),
  tool_call_id: z.string().min(1),
  content: textContent,
});

const message = z.discriminatedUnion('role', [systemMessage, userMessage, assistantMessage, toolMessage]);

const functionTool = z.strictObject({
  type: z.literal('function'),
  function: z.strictObject({
    name: z.string().min(1),
    description: z.string().nullish(),
    parameters: z.looseObject({}).nullish(),
    // Claude validates tool input against the schema on its own terms (README: ignored).
    strict: z.boolean().nullish(),
  }),
});

const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.strictObject({ type: z.literal('function'), function: z.strictObject({ name: z.string().min(1) }) }),
]);

export const REASONING_EFFORTS = ['none', 'minimal', 'low', 'medium', 'high', 'xhigh'] as const;
export type ReasoningEffort = (typeof REASONING_EFFORTS)[number];

export const chatRequestSchema = z.strictObject({
  model: z.string().min(1).max(256).nullish(),
  messages: z.array(message).min(1, 'give at least one message').max(10_000),
  stream: z.boolean().nullish(),
  stream_options: z
    .strictObject({
      include_usage: z.boolean().nullish(),
      // OpenAI pads chunks against side channels; the relay sends no padding (README: ignored).
      include_obfuscation: z.boolean().nullish(),
    })
    .nullish(),
  max_tokens: z.number().int().positive().max(1_000_000).nullish(),
  max_completion_tokens: z.number().int().positive().max(1_000_000).nullish(),
  // OpenAI's range is 0–2, Claude's 0–1: values above 1 are capped (README).
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  stop: z.union([z.string().min(1), z.array(z.string().min(1)).max(64)]).nullish(),
  tools: z.array(functionTool).max(1000).nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  reasoning_effort: z.enum(REASONING_EFFORTS).nullish(),
  user: z.string().max(256).nullish(),
  safety_identifier: z.string().max(256).nullish(),

  // Accepted only at their harmless value; request.ts refuses the rest by name.
  n: z.number().int().nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().nullish(),
  frequency_penalty: z.number().nullish(),
  presence_penalty: z.number().nullish(),
  logit_bias: z.record(z.string(), z.number()).nullish(),
  response_format: z.looseObject({ type: z.string() }).nullish(),
  modalities: z.array(z.string()).nullish(),

  // Safe to ignore: none changes what the model is asked (README: ignored fields).
  store: z.boolean().nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  service_tier: z.string().nullish(),
  seed: z.number().int().nullish(),
  prompt_cache_key: z.string().nullish(),
  prompt_cache_retention: z.string().nullish(),
});

export type ChatRequest = z.infer<typeof chatRequestSchema>;
export type ChatMessage = ChatRequest['messages'][number];
export type ChatTool = NonNullable<ChatRequest['tools']>[number];
export type ChatToolChoice = NonNullable<ChatRequest['tool_choice']>;

/** Fields OpenAI deprecated or that the relay has no way to honour, with what to do instead. */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  functions: 'deprecated by OpenAI and not supported; use "tools"',
  function_call: 'deprecated by OpenAI and not supported; use "tool_choice"',
  audio: 'audio output is not supported by Claude',
  prediction: 'predicted outputs are not supported by Claude',
  web_search_options: 'not supported by the relay; give Claude a tool instead',
  verbosity: 'not supported by Claude; say it in the system message',
};

/** Validates a body; throws InvalidParam naming the first bad field. */
export function parseChatRequest(input: unknown): ChatRequest {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidParam('body', 'the request body must be a JSON object');
  }
  for (const [field, why] of Object.entries(UNSUPPORTED)) {
    if ((input as Record<string, unknown>)[field] != null) throw new InvalidParam(field, why);
  }
  const parsed = chatRequestSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw issueToParam(parsed.error.issues[0]);
}

type Issue = z.core.$ZodIssue;

/** OpenAI's spelling of a field path: `messages[0].content[1].image_url`. */
export function paramPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? 'body' : out;
}

/**
 * The most useful reading of a zod issue. A union (`"content": "text" or [parts]`) reports every
 * branch; the branch that got deepest into the value is the one the client meant.
 */
function issueToParam(issue: Issue | undefined, prefix: readonly PropertyKey[] = []): InvalidParam {
  if (issue === undefined) return new InvalidParam('body', 'invalid request');
  const path = [...prefix, ...issue.path];
  switch (issue.code) {
    case 'unrecognized_keys': {
      const key = issue.keys[0] ?? '';
      return new InvalidParam(
        paramPath([...path, key]),
        `unknown field${issue.keys.length > 1 ? `s ${issue.keys.join(', ')}` : ''}; the relay does not support it (the README lists the fields it accepts and ignores)`,
      );
    }
    case 'invalid_union': {
      const branches = issue.errors.map((b) => b[0]).filter((b): b is Issue => b !== undefined);
      const deepest = branches.reduce<Issue | undefined>(
        (best, b) => (best === undefined || b.path.length > best.path.length ? b : best),
        undefined,
      );
      if (deepest !== undefined && deepest.path.length > 0) return issueToParam(deepest, path);
      const expected = branches.flatMap((b) => (b.code === 'invalid_type' ? [b.expected] : []));
      if (expected.length === branches.length && expected.length > 0) {
        return new InvalidParam(paramPath(path), `expected ${expected.join(' or ')}`);
      }
      return new InvalidParam(paramPath(path), deepest?.message ?? issue.message);
    }
    default:
      return new InvalidParam(paramPath(path), issue.message);
  }
}
