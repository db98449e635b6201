/**
 * A fake at the seam: an Upstream that plays a script and records how each call ended. Core tests
 * use it to drive the registry through exact sequences; everything above the seam is real.
 */
import type { UpstreamRequest } from '../../src/core/request.js';
import { sleep } from '../../src/core/signals.js';
import type { Upstream, UpstreamEvent } from '../../src/core/upstream.js';

export type ScriptStep = UpstreamEvent | { wait: number } | { throw: Error } | { hang: true };

export interface ScriptedCall {
  request: UpstreamRequest;
  aborted: boolean;
  finished: boolean;
}

export class ScriptedUpstream implements Upstream {
  readonly calls: ScriptedCall[] = [];
  constructor(private readonly script: (req: UpstreamRequest) => ScriptStep[]) {}

  async *stream(request: UpstreamRequest, signal: AbortSignal): AsyncGenerator<UpstreamEvent> {
    const call: ScriptedCall = { request, aborted: false, finished: false };
    this.calls.push(call);
    const onAbort = (): void => {
      call.aborted = true;
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (const step of this.script(request)) {
        if (signal.aborted) return;
        if ('wait' in step) {
          if (!(await sleep(step.wait, signal))) return;
        } else if ('throw' in step) {
          throw step.throw;
        } else if ('hang' in step) {
          await sleep(60_000, signal);
          return;
        } else {
          yield step;
        }
      }
    } finally {
      call.finished = true;
      signal.removeEventListener('abort', onAbort);
    }
  }
}

/** N text tokens "t1 ", "t2 ", … then done with matching usage. */
export function textScript(n: number, opts: { waitMs?: number } = {}): ScriptStep[] {
  const steps: ScriptStep[] = [{ type: 'usage', usage: { input_tokens: 7, output_tokens: 1 } }];
  for (let i = 1; i <= n; i++) {
    if (opts.waitMs !== undefined) steps.push({ wait: opts.waitMs });
    steps.push({ type: 'text', text: `t${i} `, index: 0 });
  }
  steps.push({ type: 'usage', usage: { input_tokens: 7, output_tokens: n } });
  steps.push({ type: 'done', stop_reason: 'end_turn' });
  return steps;
}
