/**
 * OpenAI chat messages → Anthropic's `system` and turns. System and developer messages, wherever
 * they stand, become the system prompt in order; user text and images become content blocks;
 * assistant `tool_calls` become `tool_use` blocks; `tool` messages become `tool_result` blocks of a
 * user turn. Consecutive turns of one role are merged, so the tool results answering one assistant
 * turn share the next user turn, as the Messages API requires.
 */
import type { MessageParam, SystemParam } from '../../core/request.js';
import { InvalidParam } from './errors.js';
import type { ChatMessage } from './request-schema.js';

type Block = Record<string, unknown> & { type: string };

export interface MappedMessages {
  readonly system: SystemParam | undefined;
  readonly messages: MessageParam[];
}

/** The image types Claude accepts (https://docs.claude.com/en/docs/build-with-claude/vision). */
const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

/** `data:<media type>;base64,<data>` — the only data URL form an image can take here. */
const DATA_URL = /^data:([^;,]+);base64,(.*)$/s;

export function mapMessages(input: readonly ChatMessage[]): MappedMessages {
  const system: { type: 'text'; text: string }[] = [];
  const turns: { role: 'user' | 'assistant'; blocks: Block[] }[] = [];
  const push = (role: 'user' | 'assistant', blocks: Block[]): void => {
    const last = turns.at(-1);
    if (last?.role === role) last.blocks.push(...blocks);
    else turns.push({ role, blocks });
  };

  input.forEach((m, i) => {
    switch (m.role) {
      case 'system':
      case 'developer':
        for (const text of texts(m.content)) system.push({ type: 'text', text });
        break;
      case 'user':
        push('user', userBlocks(m.content, i));
        break;
      case 'assistant':
        push('assistant', assistantBlocks(m, i));
        break;
      case 'tool':
        push('user', [
          { type: 'tool_result', tool_use_id: m.tool_call_id, content: texts(m.content).join('') },
        ]);
        break;
      default:
        m satisfies never;
    }
  });

  if (turns.length === 0) {
    throw new InvalidParam('messages', 'give at least one user message besides system messages');
  }
  return {
    system: system.length === 0 ? undefined : system.length === 1 ? system[0]?.text : system,
    messages: turns.map(({ role, blocks }) => ({ role, content: simplify(blocks) })),
  };
}

function texts(content: string | readonly { text: string }[]): string[] {
  return typeof content === 'string' ? [content] : content.map((p) => p.text);
}

/** A turn of one text block is sent as a plain string, as most clients write it. */
function simplify(blocks: Block[]): string | Block[] {
  const only = blocks[0];
  if (blocks.length === 1 && only?.type === 'text' && typeof only.text === 'string') return only.text;
  return blocks;
}

function userBlocks(content: Extract<ChatMessage, { role: 'user' }>['content'], i: number): Block[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  return content.map((part, j): Block => {
    switch (part.type) {
      case 'text':
        return { type: 'text', text: part.text };
      case 'image_url':
        return imageBlock(part.image_url.url, `messages[${i}].content[${j}].image_url.url`);
      default:
        return part satisfies never;
    }
  });
}

/** A data URL becomes a base64 source, an http(s) URL a url source (Claude fetches it). */
export function imageBlock(url: string, param: string): Block {
  const data = DATA_URL.exec(url);
  if (data !== null) {
    const mediaType = (data[1] ?? '').toLowerCase();
    if (!IMAGE_TYPES.has(mediaType)) {
      throw new InvalidParam(param, `image type ${mediaType} is not supported; use jpeg, png, gif or webp`);
    }
    return { type: 'image', source: { type: 'base64', media_type: mediaType, data: data[2] ?? '' } };
  }
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  throw new InvalidParam(param, 'give an http(s) URL or a data:image/...;base64, URL');
}

function assistantBlocks(m: Extract<ChatMessage, { role: 'assistant' }>, i: number): Block[] {
  const blocks: Block[] = [];
  const content = m.content ?? [];
  const parts = typeof content === 'string' ? [{ type: 'text' as const, text: content }] : content;
  for (const part of parts) {
    const text = part.type === 'text' ? part.text : part.refusal;
    // The Messages API refuses empty text blocks; OpenAI clients send `""` beside tool calls.
    if (text !== '') blocks.push({ type: 'text', text });
  }
  if (m.refusal != null && m.refusal !== '') blocks.push({ type: 'text', text: m.refusal });
  (m.tool_calls ?? []).forEach((call, j) => {
    blocks.push({
      type: 'tool_use',
      id: call.id,
      name: call.function.name,
      input: toolInput(call.function.arguments, `messages[${i}].tool_calls[${j}].function.arguments`),
    });
  });
  if (blocks.length === 0) {
    throw new InvalidParam(`messages[${i}].content`, 'an assistant message needs content or tool_calls');
  }
  return blocks;
}

/** Tool arguments are a JSON object in a string; `""` (sent by some clients for no arguments) is `{}`. */
function toolInput(args: string, param: string): Record<string, unknown> {
  if (args.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(args);
  } catch {
    throw new InvalidParam(param, 'must be a JSON object in a string');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidParam(param, 'must be a JSON object in a string');
  }
  return value as Record<string, unknown>;
}
