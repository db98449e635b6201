/**
 * Stream starts admitted a few per turn of the event loop. A start is the costliest thing a stream
 * does (about a millisecond of CPU: validation, the upstream request, the answer's head), and in a
 * burst every new request that is ready runs in one poll phase: the first tokens of the streams
 * already started, which arrive meanwhile, waited until all of them had run. Starts queued here
 * run from `setImmediate`, `perTurn` at a time, so each turn's poll phase reads the upstream
 * answers (and writes the first tokens) of the starts before it. A lone start waits for the end of
 * the current poll phase only; starts keep their arrival order.
 */
export class StartTurns {
  private readonly perTurn: number;
  private readonly waiting: (() => void)[] = [];
  private scheduled = false;

  constructor(perTurn: number) {
    this.perTurn = Math.max(1, Math.floor(perTurn));
  }

  /** Resolves when this start's turn has come. */
  next(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.run);
      }
    });
  }

  /** Starts still waiting for their turn. */
  get pending(): number {
    return this.waiting.length;
  }

  private readonly run = (): void => {
    this.scheduled = false;
    const admitted = this.waiting.splice(0, this.perTurn);
    // Set again before the admitted run, so starts queued by them wait for the next turn too.
    if (this.waiting.length > 0) {
      this.scheduled = true;
      setImmediate(this.run);
    }
    for (const resolve of admitted) resolve();
  };
}
