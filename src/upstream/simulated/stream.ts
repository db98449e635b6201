/**
 * Writes a streamed answer frame by frame: paces the tokens, and applies the stream-ending
 * fault (error event, truncation, reset, stall) at its token count.
 */
import type { StreamCut } from './directives.js';
import { type AnthropicErrorType, defaultErrorMessage } from './errors.js';
import { countToken, type Exchange, finish, resetSocket, sendHead, wait, write } from './exchange.js';
import { errorEventFrame, type Frame } from './wire.js';

export interface Pacing {
  /** Delay before the first token, after headers and message_start. */
  readonly firstTokenMs: number;
  /** Delay between tokens (0 = none). */
  readonly intervalMs: number;
}

/** `1000 / tps`, with 0 and Infinity meaning "no delay". */
export function intervalFor(tokensPerSecond: number): number {
  return tokensPerSecond > 0 && Number.isFinite(tokensPerSecond) ? 1000 / tokensPerSecond : 0;
}

export interface StreamPlan {
  readonly frames: readonly Frame[];
  readonly pacing: Pacing;
  readonly cut: StreamCut | undefined;
  readonly errorType: AnthropicErrorType | undefined;
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
} as const;

/** Streams the frames; returns when the answer ended, the client left, or a stall began. */
export async function streamFrames(ex: Exchange, plan: StreamPlan): Promise<void> {
  sendHead(ex, 200, SSE_HEADERS);
  let tokens = 0;
  for (const frame of plan.frames) {
    if (frame.kind === 'token') {
      const ms = tokens === 0 ? plan.pacing.firstTokenMs : plan.pacing.intervalMs;
      if (!(await wait(ex, ms))) return;
    }
    if (!(await write(ex, frame.render()))) return;
    if (frame.kind === 'token') {
      tokens++;
      countToken(ex);
    }
    const cut = plan.cut;
    if (cut !== undefined && frame.kind !== 'meta' && tokens === cut.after) {
      applyCut(ex, cut, plan.errorType);
      return;
    }
  }
  ex.res.end();
  finish(ex, 'completed');
}

function applyCut(ex: Exchange, cut: StreamCut, errorType: AnthropicErrorType | undefined): void {
  switch (cut.kind) {
    case 'error': {
      const type = errorType ?? 'overloaded_error';
      ex.res.end(errorEventFrame(type, defaultErrorMessage(type)));
      finish(ex, 'error_event');
      return;
    }
    case 'truncate':
      ex.res.end();
      finish(ex, 'truncated');
      return;
    case 'reset':
      resetSocket(ex);
      return;
    case 'stall':
      // Nothing more is written; the socket stays open until the client or the server closes it.
      ex.records.update(ex.record, { outcome: 'stalled' });
      return;
  }
}
