/**
 * The one helper that links abort signals and deadlines, so every async path can be stopped by
 * one `AbortSignal` and nothing keeps a listener or a timer after it is done.
 */

export interface LinkedAbort {
  readonly signal: AbortSignal;
  /** Aborts the linked signal with `reason` (a no-op once aborted). */
  abort(reason?: unknown): void;
  /** Removes every listener and timer this link added. Idempotent. */
  dispose(): void;
}

/**
 * A controller that aborts when any parent aborts. Unlike `AbortSignal.any`, the listeners it puts
 * on long-lived parents are removed on `dispose()`, which matters for a server that links
 * thousands of short streams to one shutdown signal.
 */
export function linkAbort(...parents: (AbortSignal | undefined)[]): LinkedAbort {
  const controller = new AbortController();
  const cleanups: (() => void)[] = [];
  const dispose = (): void => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  };
  const abort = (reason?: unknown): void => {
    dispose();
    if (!controller.signal.aborted) controller.abort(reason);
  };
  for (const parent of parents) {
    if (parent === undefined) continue;
    if (parent.aborted) {
      abort(parent.reason);
      break;
    }
    const onAbort = (): void => abort(parent.reason);
    parent.addEventListener('abort', onAbort, { once: true });
    cleanups.push(() => parent.removeEventListener('abort', onAbort));
  }
  return { signal: controller.signal, abort, dispose };
}

/**
 * A restartable deadline: `onExpire` runs once if `reset()` is not called within `ms`. Used for the
 * first-token deadline and the idle timeout. `ms <= 0` or non-finite disables it.
 */
export class Deadline {
  private timer: NodeJS.Timeout | undefined;
  private readonly ms: number;
  private readonly onExpire: () => void;

  constructor(ms: number, onExpire: () => void) {
    this.ms = ms;
    this.onExpire = onExpire;
  }

  /** (Re)starts the countdown. */
  reset(ms = this.ms): void {
    this.clear();
    if (!(ms > 0) || !Number.isFinite(ms)) return;
    this.timer = setTimeout(this.fire, ms);
    this.timer.unref?.();
  }

  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.onExpire();
  };
}

/** Resolves after `ms`, or at once (without throwing) when `signal` aborts. Returns true if it slept fully. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
