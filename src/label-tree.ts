/**
 * Label values → one series each, for the metrics the relay tallies itself (tallied-counter.ts,
 * tallied-histogram.ts): one small Map per label, walked value by value, so finding a series that
 * exists allocates nothing (prom-client hashes a label object into a string on every call).
 */
type Level<T> = Map<string, Level<T> | T>;

export class LabelTree<T> {
  private root: Level<T> = new Map();

  /** The series of these label values (always as many as the tree's labels), if it exists. */
  get(labelValues: readonly string[]): T | undefined {
    let level: Level<T> | undefined = this.root;
    const last = labelValues.length - 1;
    for (let i = 0; i < last && level !== undefined; i++) {
      level = level.get(labelValues[i]!) as Level<T> | undefined;
    }
    return level?.get(labelValues[last]!) as T | undefined;
  }

  /** Files `series` under these label values. */
  set(labelValues: readonly string[], series: T): void {
    let level = this.root;
    const last = labelValues.length - 1;
    for (let i = 0; i < last; i++) {
      let next = level.get(labelValues[i]!) as Level<T> | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(labelValues[i]!, next);
      }
      level = next;
    }
    level.set(labelValues[last]!, series);
  }

  clear(): void {
    this.root = new Map();
  }
}
