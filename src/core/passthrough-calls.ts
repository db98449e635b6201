/**
 * The Anthropic-compatible calls in flight (`POST /v1/messages`). They are not relay streams (no
 * log, no resume), but a drain must see them like streams: refuse new ones with `shutting_down`,
 * let running ones finish, and end the rest at an event boundary when the deadline comes.
 */
import { shuttingDown } from './errors.js';

/** How the transport ends one call when the drain's deadline comes (it knows the wire). */
export type StopCall = () => void;

export class PassthroughCalls {
  private readonly calls = new Set<StopCall>();
  private readonly idleWaiters: (() => void)[] = [];
  private draining = false;

  /** Calls in flight. */
  get size(): number {
    return this.calls.size;
  }

  /** From now on `open` refuses with `shutting_down`; calls in flight go on. */
  beginDrain(): void {
    this.draining = true;
  }

  /** Registers a call; `stop` ends it when the drain's deadline comes. Returns its release. */
  open(stop: StopCall): () => void {
    if (this.draining) throw shuttingDown();
    this.calls.add(stop);
    return () => {
      if (!this.calls.delete(stop)) return;
      if (this.calls.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    };
  }

  /** Resolves when no call is in flight. */
  idle(): Promise<void> {
    if (this.calls.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Refuses new calls and asks every call in flight to end now. */
  stopAll(): void {
    this.draining = true;
    for (const stop of [...this.calls]) stop();
  }
}
