/**
 * How deeply a parsed JSON value nests. `JSON.parse` handles any depth, but `JSON.stringify` (the
 * SDK's, the relay's own echoes) recurses and overflows the stack at a few thousand levels, so
 * every JSON edge refuses excessive nesting before anything serialises the value again.
 */

/** Nesting accepted in a request body or a WebSocket frame; real Anthropic requests stay far below. */
export const MAX_JSON_DEPTH = 128;

/**
 * True when `value` nests objects or arrays more than `max` levels deep (a scalar is depth 0, `{}`
 * and `[]` depth 1). Stops at the first path that goes too deep; recursion never exceeds `max + 1`.
 */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (max <= 0) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (nestsDeeperThan(item, max - 1)) return true;
    return false;
  }
  for (const key in value) {
    if (nestsDeeperThan((value as Record<string, unknown>)[key], max - 1)) return true;
  }
  return false;
}

/** The message a client gets for a value nested too deeply (`where`: "the request body", "the frame"). */
export function tooDeepMessage(where: string, max = MAX_JSON_DEPTH): string {
  return `${where} nests objects or arrays more than ${max} levels deep; flatten it`;
}
