/**
 * Stop reasons the simulator can end a reply with, and the `stop_reason=` directive that forces one,
 * so a client can be tested against every ending the API documents
 * (https://docs.claude.com/en/api/handling-stop-reasons) without the conditions that cause them
 * (a server tool pausing, a refusal, a full context window).
 */

export const STOP_REASONS = [
  'end_turn',
  'max_tokens',
  'stop_sequence',
  'tool_use',
  'pause_turn',
  'refusal',
  'model_context_window_exceeded',
] as const;

export type StopReason = (typeof STOP_REASONS)[number];

export function isStopReason(value: string): value is StopReason {
  return (STOP_REASONS as readonly string[]).includes(value);
}

/**
 * The plan ending with `forced` instead of its own reason; the content stays as planned. A forced
 * `stop_sequence` names no sequence (none matched).
 */
export function forceStopReason<P extends { stopReason: StopReason; stopSequence: string | null }>(
  plan: P,
  forced: StopReason | undefined,
): P {
  if (forced === undefined || forced === plan.stopReason) return plan;
  return { ...plan, stopReason: forced, stopSequence: null };
}
