/**
 * The compare experiments' judgements as plain functions (src/web/compare-experiments.js, a browser
 * ES module that touches no DOM at import): the lost/duplicated count every drop-and-recover result
 * rests on, so a "0 lost, 0 duplicated" from Chromium means something, and the quantile the TTFT
 * figures use.
 */
import { describe, expect, it } from 'vitest';

interface Completeness {
  lost: number;
  duplicated: number;
  complete: boolean;
}
// A computed specifier: the page's .js files have no type declarations for tsc.
const page = (file: string) => `../src/web/${file}`;
const { completeness, quantile } = (await import(page('compare-experiments.js'))) as {
  completeness(record: { seqs: number[]; terminal: string | undefined }): Completeness;
  quantile(values: number[], q: number): number | undefined;
};

describe('counting what a recovered stream received', () => {
  it('a stream with every seq once and its done is complete', () => {
    expect(completeness({ seqs: [1, 2, 3, 4], terminal: 'done' })).toEqual({
      lost: 0,
      duplicated: 0,
      complete: true,
    });
  });

  it('counts a seq received twice across the reconnect as duplicated', () => {
    expect(completeness({ seqs: [1, 2, 3, 3, 4], terminal: 'done' })).toEqual({
      lost: 0,
      duplicated: 1,
      complete: false,
    });
  });

  it('counts seqs skipped across the reconnect as lost', () => {
    expect(completeness({ seqs: [1, 2, 5, 6], terminal: 'done' })).toEqual({
      lost: 2,
      duplicated: 0,
      complete: false,
    });
  });

  it('is not complete without its done, even with no gap', () => {
    expect(completeness({ seqs: [1, 2, 3], terminal: undefined }).complete).toBe(false);
    expect(completeness({ seqs: [1, 2, 3], terminal: 'error' }).complete).toBe(false);
  });
});

describe('quantile', () => {
  it('takes the nearest rank, and nothing from nothing', () => {
    expect(quantile([30, 10, 20], 0.5)).toBe(20);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(quantile([5], 0.99)).toBe(5);
    expect(quantile([], 0.5)).toBeUndefined();
  });
});
