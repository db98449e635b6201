/**
 * A Prometheus histogram with one label, tallied by the relay instead of by prom-client, for a
 * figure observed per content event (the inter-token gap). prom-client's `observe` cost ~330 ns
 * and ~220 B of garbage per call (a labels hash string, a closure, a pair object); here an
 * observation is a scan of the bounds and three additions on numbers kept per label value, with
 * nothing allocated after a label value's first observation. prom-client reads the tallies at
 * scrape time through `get()`, which returns what its own Histogram would (same values, names,
 * labels and order), so /metrics prints the same series byte for byte (test/tallied-histogram.test.ts
 * compares both).
 */
import type { Metric, Registry, RegistryContentType } from 'prom-client';
import { LabelTree } from './label-tree.js';

/** One exported sample, shaped as prom-client's histogram samples are. */
export interface TalliedValue {
  readonly value: number;
  readonly metricName: string;
  /** prom-client sets `null` on bucket samples and leaves it undefined on `_sum` and `_count`. */
  readonly exemplar: null | undefined;
  readonly labels: Readonly<Record<string, string | number>>;
}

/** What `get()` returns: prom-client's metric object, as its registry reads it. */
export interface TalliedData {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram';
  readonly aggregator: 'sum';
  readonly values: TalliedValue[];
}

interface TalliedHistogramBase {
  readonly name: string;
  readonly help: string;
  /** Upper bounds, ascending; `+Inf` is implied. */
  readonly buckets: readonly number[];
  readonly registers: readonly Registry<RegistryContentType>[];
}

/**
 * One label (`observe`), or several (`observeLabels`, for a figure observed once per stream: the
 * per-event path keeps its single lookup). Label values are the caller's to bound; several labels
 * print in the order of `labelNames` (as prom-client prints the label object it was given).
 */
export type TalliedHistogramConfig = TalliedHistogramBase &
  ({ readonly labelName: string } | { readonly labelNames: readonly string[] });

/** One label set's observations: per-bucket counts (not cumulative), their sum and count. */
class Tally {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labelValues: readonly string[],
    buckets: number,
  ) {
    this.counts = new Float64Array(buckets);
  }
}

export class TalliedHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  private readonly labelNames: readonly string[];
  private readonly bounds: Float64Array;
  /** One label: its value → its tally. */
  private tallies = new Map<string, Tally>();
  /** Several labels: nested by label value. */
  private readonly lookup = new LabelTree<Tally>();
  /** In order of each label set's first observation, as prom-client lists its label sets. */
  private order: Tally[] = [];

  constructor(config: TalliedHistogramConfig) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = 'labelName' in config ? [config.labelName] : [...config.labelNames];
    if (this.labelNames.length === 0)
      throw new RangeError(`${config.name}: a tallied histogram needs a label`);
    this.bounds = Float64Array.from(config.buckets);
    // prom-client's Metric type lists its own classes; the registry itself only calls name,
    // get() and reset(), which this class has with the same meaning.
    for (const registry of config.registers) registry.registerMetric(this as unknown as Metric);
  }

  /**
   * Counts `value` under `labelValue`, for a histogram of one label (non-finite values are
   * ignored: prom-client would throw).
   */
  observe(labelValue: string, value: number): void {
    if (!Number.isFinite(value)) return;
    let tally = this.tallies.get(labelValue);
    if (tally === undefined) {
      if (this.labelNames.length !== 1)
        throw new RangeError(`${this.name}: has several labels (observeLabels)`);
      tally = this.newTally([labelValue]);
      this.tallies.set(labelValue, tally);
    }
    this.count(tally, value);
  }

  /** Counts `value` under these label values, given in `labelNames` order (as `observe` otherwise). */
  observeLabels(labelValues: readonly string[], value: number): void {
    if (!Number.isFinite(value)) return;
    if (labelValues.length !== this.labelNames.length) {
      throw new RangeError(`${this.name}: expected ${this.labelNames.length} label values`);
    }
    if (labelValues.length === 1) {
      this.observe(labelValues[0]!, value);
      return;
    }
    let tally = this.lookup.get(labelValues);
    if (tally === undefined) {
      tally = this.newTally([...labelValues]);
      this.lookup.set(labelValues, tally);
    }
    this.count(tally, value);
  }

  private newTally(labelValues: readonly string[]): Tally {
    const tally = new Tally(labelValues, this.bounds.length);
    this.order.push(tally);
    return tally;
  }

  private count(tally: Tally, value: number): void {
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        tally.counts[i]!++;
        break;
      }
    }
    tally.sum += value;
    tally.count++;
  }

  /** What prom-client's Histogram#get returns for the same observations. */
  get(): Promise<TalliedData> {
    const values: TalliedValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const tally of this.order) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += tally.counts[i]!;
        values.push(this.value(bucketName, cumulative, tally, this.bounds[i]!, null));
      }
      values.push(this.value(bucketName, tally.count, tally, '+Inf', null));
      values.push(this.value(`${this.name}_sum`, tally.sum, tally));
      values.push(this.value(`${this.name}_count`, tally.count, tally));
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }

  reset(): void {
    this.tallies = new Map();
    this.lookup.clear();
    this.order = [];
  }

  /** One exported value, its fields as prom-client's (`le` first, then the labels; exemplar on buckets). */
  private value(
    metricName: string,
    value: number,
    tally: Tally,
    le?: number | string,
    exemplar?: null,
  ): TalliedValue {
    const labels: Record<string, string | number> = le === undefined ? {} : { le };
    for (let i = 0; i < this.labelNames.length; i++) labels[this.labelNames[i]!] = tally.labelValues[i]!;
    return { value, metricName, exemplar, labels };
  }
}
