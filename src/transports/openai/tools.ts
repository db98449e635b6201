/**
 * OpenAI function tools and `tool_choice` → Anthropic tools and `tool_choice`:
 * `auto` → `auto`, `none` → `none`, `required` → `any`, a named function → `tool`;
 * `parallel_tool_calls: false` → `disable_parallel_tool_use: true`.
 */
import { InvalidParam } from './errors.js';
import type { ChatTool, ChatToolChoice } from './request-schema.js';

export interface MappedTools {
  tools?: Record<string, unknown>[];
  tool_choice?: Record<string, unknown>;
}

export function mapTools(
  tools: readonly ChatTool[] | null | undefined,
  choice: ChatToolChoice | null | undefined,
  parallel: boolean | null | undefined,
): MappedTools {
  if (tools == null || tools.length === 0) {
    // Without tools, `auto` and `none` ask for nothing; forcing a call cannot be honoured.
    if (choice === 'required' || (typeof choice === 'object' && choice !== null)) {
      throw new InvalidParam('tool_choice', 'needs "tools" to choose from');
    }
    return {};
  }
  const out: MappedTools = {
    tools: tools.map(({ function: f }) => ({
      name: f.name,
      ...(f.description == null ? {} : { description: f.description }),
      // The Messages API needs an object schema; OpenAI lets a function without parameters omit it.
      input_schema: f.parameters ?? { type: 'object', properties: {} },
    })),
  };
  const mapped = mapChoice(choice, tools);
  if (parallel === false && mapped?.type !== 'none') {
    out.tool_choice = { ...(mapped ?? { type: 'auto' }), disable_parallel_tool_use: true };
  } else if (mapped !== undefined) {
    out.tool_choice = mapped;
  }
  return out;
}

function mapChoice(
  choice: ChatToolChoice | null | undefined,
  tools: readonly ChatTool[],
): (Record<string, unknown> & { type: string }) | undefined {
  if (choice == null) return undefined;
  switch (choice) {
    case 'auto':
      return { type: 'auto' };
    case 'none':
      return { type: 'none' };
    case 'required':
      return { type: 'any' };
    default: {
      const name = choice.function.name;
      if (!tools.some((t) => t.function.name === name)) {
        throw new InvalidParam('tool_choice.function.name', `no tool named "${name}" in "tools"`);
      }
      return { type: 'tool', name };
    }
  }
}
