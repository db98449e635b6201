/**
 * A Prometheus counter tallied by the relay instead of by prom-client, for figures counted once
 * per stream start or end. prom-client's `inc(labels, n)` hashes the label object into a string,
 * checks every label name and looks the string up (with the caller's spread of a label object
 * before it): the per-stream metrics did eight of those per stream end, ~0.1 ms of a burst's
 * stream. Here an increment walks one small Map per label value to the series (label-tree.ts) and adds a number;
 * nothing is allocated after a series' first increment.
 *
 * prom-client reads the tallies at scrape time through `get()`, which returns what its own Counter
 * would for the same increments (values, label objects with their keys in the same order, series
 * in the order of their first increment), so /metrics prints the same text byte for byte
 * (test/tallied-counter.test.ts compares both).
 */
import type { Metric, Registry, RegistryContentType } from 'prom-client';
import { LabelTree } from './label-tree.js';

/** One exported sample, shaped as prom-client's counter samples are. */
export interface CounterValue {
  readonly value: number;
  readonly labels: Readonly<Record<string, string>>;
}

/** What `get()` returns: prom-client's metric object, as its registry reads it. */
export interface CounterData {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter';
  readonly aggregator: 'sum';
  readonly values: CounterValue[];
}

export interface TalliedCounterConfig {
  readonly name: string;
  readonly help: string;
  /**
   * The labels, in the order each series prints them (prom-client prints a label object's keys in
   * the order the caller wrote them). At least one; their values are the caller's to bound.
   */
  readonly labelNames: readonly string[];
  readonly registers: readonly Registry<RegistryContentType>[];
}

/** One series: its label values (in `labelNames` order) and its count. */
class Series {
  value = 0;
  constructor(readonly labelValues: readonly string[]) {}
}

export class TalliedCounter {
  readonly name: string;
  readonly help: string;
  readonly type = 'counter' as const;
  readonly aggregator = 'sum' as const;
  private readonly labelNames: readonly string[];
  private readonly lookup = new LabelTree<Series>();
  /** In order of each series' first increment, as prom-client lists its label sets. */
  private series: Series[] = [];

  constructor(config: TalliedCounterConfig) {
    if (config.labelNames.length === 0)
      throw new RangeError(`${config.name}: a tallied counter needs a label`);
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames;
    // As TalliedHistogram: the registry only calls name, get() and reset().
    for (const registry of config.registers) registry.registerMetric(this as unknown as Metric);
  }

  /**
   * Adds `by` (default 1) to the series of these label values, given in `labelNames` order; 0
   * still creates the series, as in prom-client. A negative or non-finite amount is ignored (as
   * TalliedHistogram ignores such values): prom-client would throw, or print NaN for ever.
   */
  inc(labelValues: readonly string[], by = 1): void {
    if (!(by >= 0 && by < Number.POSITIVE_INFINITY)) return;
    if (labelValues.length !== this.labelNames.length) {
      throw new RangeError(`${this.name}: expected ${this.labelNames.length} label values`);
    }
    let series = this.lookup.get(labelValues);
    if (series === undefined) {
      series = new Series([...labelValues]);
      this.lookup.set(labelValues, series);
      this.series.push(series);
    }
    series.value += by;
  }

  /** What prom-client's Counter#get returns for the same increments. */
  get(): Promise<CounterData> {
    const values = this.series.map((s): CounterValue => {
      const labels: Record<string, string> = {};
      for (let i = 0; i < this.labelNames.length; i++) labels[this.labelNames[i]!] = s.labelValues[i]!;
      return { value: s.value, labels };
    });
    return Promise.resolve({
      help: this.help,
      name: this.name,
      type: this.type,
      values,
      aggregator: this.aggregator,
    });
  }

  reset(): void {
    this.lookup.clear();
    this.series = [];
  }
}
