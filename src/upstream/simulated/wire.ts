/**
 * Anthropic's streaming wire format (https://docs.claude.com/en/docs/build-with-claude/streaming):
 * `event: <name>\ndata: <json>\n\n` frames in the order message_start, content_block_start, ping,
 * content_block_delta…, content_block_stop, (next block…), message_delta, message_stop.
 */
import { benchToken } from './bench.js';
import type { AnthropicErrorType } from './errors.js';
import type { MessageMeta } from './message-meta.js';
import type { PlannedBlock, ReplyPlan } from './plan.js';
import { replyUsage } from './usage.js';

/**
 * One SSE frame to write. `token` frames carry model output and are paced; `start` is
 * message_start (the point `*_after=0` faults fire at); `meta` frames are written at once.
 * `render` runs right before the write, which is when a benchmark token takes its timestamp.
 */
export interface Frame {
  readonly kind: 'start' | 'token' | 'meta';
  render(): string | Buffer;
}

export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The API's mid-stream error event. */
export function errorEventFrame(type: AnthropicErrorType, message: string): string {
  return sseFrame('error', { type: 'error', error: { type, message } });
}

// The real API writes `{"type": "ping"}` with a space; parsers must not care, so neither do we.
const PING = 'event: ping\ndata: {"type": "ping"}\n\n';

const fixed = (kind: Frame['kind'], text: string): Frame => ({ kind, render: () => text });

function delta(index: number, body: Record<string, unknown>): string {
  return sseFrame('content_block_delta', { type: 'content_block_delta', index, delta: body });
}

function emptyBlock(block: PlannedBlock): Record<string, unknown> {
  switch (block.type) {
    case 'thinking':
      return { type: 'thinking', thinking: '', signature: '' };
    case 'text':
    case 'bench':
      return { type: 'text', text: '' };
    case 'tool_use':
      return { type: block.blockType, id: block.id, name: block.name, input: {} };
    case 'raw':
      return { ...block.block };
  }
}

function blockFrames(block: PlannedBlock, index: number): Frame[] {
  const frames: Frame[] = [
    fixed(
      'meta',
      sseFrame('content_block_start', {
        type: 'content_block_start',
        index,
        content_block: emptyBlock(block),
      }),
    ),
  ];
  if (index === 0) frames.push(fixed('meta', PING));
  switch (block.type) {
    case 'thinking':
      for (const t of block.tokens)
        frames.push(fixed('token', delta(index, { type: 'thinking_delta', thinking: t })));
      frames.push(fixed('meta', delta(index, { type: 'signature_delta', signature: block.signature })));
      break;
    case 'text':
      for (const citation of block.citations ?? [])
        frames.push(fixed('meta', delta(index, { type: 'citations_delta', citation })));
      block.tokens.forEach((t, i) => {
        frames.push(fixed('token', delta(index, { type: 'text_delta', text: t })));
        if (i === 0)
          for (const extra of block.extraDeltas ?? []) frames.push(fixed('meta', delta(index, extra)));
      });
      break;
    case 'raw':
      for (const extra of block.deltas ?? []) frames.push(fixed('meta', delta(index, extra)));
      break;
    case 'bench':
      for (let seq = 1; seq <= block.count; seq++) {
        const n = seq;
        frames.push({
          kind: 'token',
          render: () => delta(index, { type: 'text_delta', text: benchToken(n) }),
        });
      }
      break;
    case 'tool_use':
      // Like the API: the input starts with an empty partial_json.
      frames.push(fixed('meta', delta(index, { type: 'input_json_delta', partial_json: '' })));
      for (const t of block.tokens) {
        frames.push(fixed('token', delta(index, { type: 'input_json_delta', partial_json: t })));
      }
      break;
  }
  frames.push(fixed('meta', sseFrame('content_block_stop', { type: 'content_block_stop', index })));
  return frames;
}

/** Every frame of a streamed reply, in the API's order. */
export function planFrames(plan: ReplyPlan, meta: MessageMeta): Frame[] {
  const usage = replyUsage(plan, meta);
  const start = sseFrame('message_start', {
    type: 'message_start',
    message: {
      id: meta.id,
      type: 'message',
      role: 'assistant',
      model: meta.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: usage.start,
    },
  });
  const frames: Frame[] = [fixed('start', start)];
  plan.blocks.forEach((block, index) => {
    frames.push(...blockFrames(block, index));
  });
  frames.push(
    fixed(
      'meta',
      sseFrame('message_delta', {
        type: 'message_delta',
        delta: {
          stop_reason: plan.stopReason,
          stop_sequence: plan.stopSequence,
          ...(plan.stopDetails === undefined ? {} : { stop_details: plan.stopDetails }),
          ...(plan.container === undefined ? {} : { container: plan.container }),
        },
        usage: usage.delta,
      }),
    ),
    fixed('meta', sseFrame('message_stop', { type: 'message_stop' })),
  );
  return frames;
}
