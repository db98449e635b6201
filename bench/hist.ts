/**
 * HDR histograms (hdr-histogram-js) in microseconds: built in the clients, shipped to the
 * orchestrator compressed, merged and read there. Plus the median of repetitions.
 */
import * as hdr from 'hdr-histogram-js';

export type Histogram = hdr.Histogram;

/**
 * µs from 0 to one hour at 3 significant digits (1 µs steps below 1 ms). Times to first token
 * take 4: they sit on top of the upstream's own delay (hundreds of ms), and 3 digits there would
 * round to 0.256 ms, too coarse for a 2 ms target.
 */
export function newHistogram(digits: 3 | 4 = 3): Histogram {
  return hdr.build({
    bitBucketSize: 32,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: digits,
    autoResize: true,
  });
}

/** Records a duration given in ns as whole µs (negative values, impossible on one clock, as 0). */
export function recordNs(h: Histogram, ns: number): void {
  h.recordValue(ns > 0 ? Math.round(ns / 1000) : 0);
}

export function encode(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decode(b64: string): Histogram {
  return hdr.decodeFromCompressedBase64(b64);
}

/** One histogram holding every input. */
export function merge(encoded: readonly string[], digits: 3 | 4 = 3): Histogram {
  const out = newHistogram(digits);
  for (const b64 of encoded) out.add(decode(b64));
  return out;
}

/** Percentiles in ms (3 decimals); all null when the histogram is empty. */
export interface Percentiles {
  readonly count: number;
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly max: number | null;
  readonly min: number | null;
}

const ms = (us: number): number => Math.round(us) / 1000;

export function percentiles(h: Histogram): Percentiles {
  if (h.totalCount === 0) return { count: 0, p50: null, p90: null, p99: null, max: null, min: null };
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    max: ms(h.maxValue),
    min: ms(h.getValueAtPercentile(0)),
  };
}

/** Points for a percentile curve (the chart): percentile → ms. */
export const CURVE_PERCENTILES: readonly number[] = [0, 25, 50, 75, 90, 95, 99, 99.9, 100];

export function curve(h: Histogram): { p: number; ms: number }[] {
  if (h.totalCount === 0) return [];
  return CURVE_PERCENTILES.map((p) => ({
    p,
    ms: ms(p === 100 ? h.maxValue : h.getValueAtPercentile(p)),
  }));
}

/** Median of the non-null numbers (the mean of the middle two for an even count); null if none. */
export function median(values: readonly (number | null | undefined)[]): number | null {
  const xs = values
    .filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
    .sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
}

/** Rounds for reports: 3 decimals below 10, 2 below 100, 1 below 1000, else whole. */
export function round(v: number | null): number | null {
  if (v === null || !Number.isFinite(v)) return null;
  const a = Math.abs(v);
  const d = a < 10 ? 3 : a < 100 ? 2 : a < 1000 ? 1 : 0;
  const f = 10 ** d;
  return Math.round(v * f) / f;
}
