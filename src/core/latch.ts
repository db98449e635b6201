/**
 * Something that happens once to a stream (its terminal event is in, its upstream has unwound),
 * told to callbacks, and as a promise only to whoever asks for one. Each stream has two; as eager
 * promises with a `then` chain from each of their per-stream listeners they held, with the upstream
 * loop's own chain, about 1 KB per open stream (heap snapshot: 11 promises, 7 reactions, their closures).
 */
export class Latch {
  private fired = false;
  /** Most latches have one listener: it needs no array. */
  private first: (() => void) | undefined;
  private more: (() => void)[] | undefined;
  private promise: Promise<void> | undefined;
  private resolvePromise: (() => void) | undefined;

  /** Calls `fn` once this has fired, in a microtask of its own, as a promise's `then` would. */
  listen(fn: () => void): void {
    if (this.fired) queueMicrotask(fn);
    else if (this.first === undefined) this.first = fn;
    else if (this.more === undefined) this.more = [fn];
    else this.more.push(fn);
  }

  /** A promise of it, made on first ask (then the same one). */
  wait(): Promise<void> {
    if (this.promise === undefined) {
      this.promise = this.fired
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            this.resolvePromise = resolve;
          });
    }
    return this.promise;
  }

  /** Fires once; later calls do nothing. Callbacks run first, in the order they were added. */
  fire(): void {
    if (this.fired) return;
    this.fired = true;
    const { first, more } = this;
    this.first = undefined;
    this.more = undefined;
    if (first !== undefined) queueMicrotask(first);
    if (more !== undefined) for (const fn of more) queueMicrotask(fn);
    this.resolvePromise?.();
    this.resolvePromise = undefined;
  }
}
