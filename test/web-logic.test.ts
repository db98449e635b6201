/**
 * The demo page's judgements, as plain functions (the page's modules are browser ES modules with
 * no build step; these two touch no DOM): the gap chart's median-based scale with the resume gap
 * set apart, and the race's tie inside the measurement's noise.
 */
import { describe, expect, it } from 'vitest';

interface Scale {
  medianMs: number;
  scaleMs: number;
  offScale: number;
}
interface Lead {
  text: string;
  tie: boolean | undefined;
}
// A computed specifier: the page's .js files have no type declarations for tsc.
const page = (file: string) => `../src/web/${file}`;
const { chartScale } = (await import(page('gap-chart.js'))) as {
  chartScale(gapsMs: number[], afterResume?: boolean[]): Scale;
};
const { lead } = (await import(page('race-verdict.js'))) as {
  lead(entries: { label: string; ms: number | undefined }[], what: string): Lead;
};

describe('the inter-token chart scale', () => {
  it('follows the median, so one resume gap does not flatten the other bars', () => {
    const gaps = [...Array.from({ length: 50 }, (_, i) => 16 + (i % 5)), 2400, 0.2, 0.1];
    const flags = gaps.map((g) => g === 2400);
    const scale = chartScale(gaps, flags);
    expect(scale.medianMs).toBe(18);
    expect(scale.scaleMs).toBe(72); // 4 medians, far below the 2.4 s resume gap
    expect(scale.offScale).toBe(1);
  });

  it('keeps the resume gap out of the median', () => {
    const gaps = [10, 10, 3000, 3000, 3000];
    expect(chartScale(gaps, [false, false, true, true, true]).medianMs).toBe(10);
    expect(chartScale(gaps).medianMs).toBe(3000); // unmarked, they would be the median
  });

  it('uses the largest gap when that is below four medians, and never less than 1 ms', () => {
    expect(chartScale([10, 11, 12]).scaleMs).toBe(12);
    expect(chartScale([0, 0, 0.1]).scaleMs).toBe(1);
    expect(chartScale([])).toEqual({ medianMs: 0, scaleMs: 1, offScale: 0 });
  });
});

describe('the race verdict', () => {
  it('calls a 0.8 ms difference a tie and says it is inside the noise', () => {
    const verdict = lead(
      [
        { label: 'fetch + SSE', ms: 12.4 },
        { label: 'WebSocket', ms: 11.6 },
      ],
      'first token',
    );
    expect(verdict.tie).toBe(true);
    expect(verdict.text).toBe('first token: a tie (0.8 ms apart, inside the ±2.0 ms measurement noise)');
  });

  it('scales the noise with the time measured (5 % of the faster)', () => {
    const long = lead(
      [
        { label: 'a', ms: 2000 },
        { label: 'b', ms: 2090 },
      ],
      'finished',
    );
    expect(long.tie).toBe(true);
    const clear = lead(
      [
        { label: 'a', ms: 2000 },
        { label: 'b', ms: 2150 },
      ],
      'finished',
    );
    expect(clear).toEqual({ text: 'finished: a by 150 ms', tie: false });
  });

  it('names a winner beyond the noise and says nothing without two figures', () => {
    expect(
      lead(
        [
          { label: 'WebSocket', ms: 30 },
          { label: 'fetch + SSE', ms: 20 },
        ],
        'first token',
      ),
    ).toEqual({ text: 'first token: fetch + SSE by 10 ms', tie: false });
    expect(lead([{ label: 'a', ms: 1 }], 'finished')).toEqual({ text: 'finished: —', tie: undefined });
  });
});
