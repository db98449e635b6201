/** The non-streaming answer: the same reply plan as one Message JSON object. */
import { benchToken } from './bench.js';
import type { MessageMeta } from './message-meta.js';
import type { PlannedBlock, ReplyPlan } from './plan.js';
import { replyUsage } from './usage.js';

function contentBlock(block: PlannedBlock): Record<string, unknown> {
  switch (block.type) {
    case 'thinking':
      return { type: 'thinking', thinking: block.tokens.join(''), signature: block.signature };
    case 'text':
      return block.citations === undefined
        ? { type: 'text', text: block.tokens.join('') }
        : { type: 'text', text: block.tokens.join(''), citations: block.citations };
    case 'raw':
      return { ...block.block };
    case 'bench': {
      let text = '';
      for (let seq = 1; seq <= block.count; seq++) text += benchToken(seq);
      return { type: 'text', text };
    }
    case 'tool_use': {
      // Cut by max_tokens, the API returns what it could parse; an empty object is the honest subset.
      const complete = block.tokens.join('') === JSON.stringify(block.input);
      return { type: block.blockType, id: block.id, name: block.name, input: complete ? block.input : {} };
    }
  }
}

export function buildMessage(plan: ReplyPlan, meta: MessageMeta): Record<string, unknown> {
  return {
    id: meta.id,
    type: 'message',
    role: 'assistant',
    model: meta.model,
    content: plan.blocks.map(contentBlock),
    stop_reason: plan.stopReason,
    stop_sequence: plan.stopSequence,
    stop_details: plan.stopDetails ?? null,
    ...(plan.container === undefined ? {} : { container: plan.container }),
    usage: replyUsage(plan, meta).whole,
  };
}
