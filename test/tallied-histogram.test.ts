/**
 * The tallied histogram against prom-client's own Histogram fed the same observations: /metrics
 * text and the JSON form must be the same, so replacing one by the other changes no series.
 */
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { TalliedHistogram } from '../src/tallied-histogram.js';
import { registryPair } from './helpers/registry-pair.js';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const NAME = 'relay_test_gap_seconds';
const HELP = 'Time between two things.';

function pair(openMetrics = false) {
  const { reference, tallied } = registryPair(openMetrics);
  const ref = new Histogram({
    name: NAME,
    help: HELP,
    labelNames: ['transport'],
    buckets: BUCKETS,
    registers: [reference],
  });
  const mine = new TalliedHistogram({
    name: NAME,
    help: HELP,
    labelName: 'transport',
    buckets: BUCKETS,
    registers: [tallied],
  });
  const observe = (transport: string, value: number) => {
    ref.observe({ transport }, value);
    mine.observe(transport, value);
  };
  return { reference, tallied, ref, mine, observe };
}

/** Deterministic values across every bucket, on the bounds, above the last one and zero. */
function values(n: number): number[] {
  const out: number[] = [0, 30, 30.000001, 1e6];
  for (const b of BUCKETS) out.push(b);
  let x = 0x2545f491;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out.push(((x % 100_000) / 1000) ** 2 / 300);
  }
  return out;
}

describe('TalliedHistogram', () => {
  it('prints the same /metrics text as prom-client for every bucket, bound and label value', async () => {
    const { reference, tallied, observe } = pair();
    const labels = ['sse', 'ws', 'classic', 'sse', 'openai'];
    for (const [i, v] of values(2000).entries()) observe(labels[i % labels.length]!, v);
    const text = await tallied.metrics();
    expect(text).toBe(await reference.metrics());
    // The series really are there (not two empty outputs).
    expect(text).toContain(`${NAME}_bucket{le="0.001",transport="sse"}`);
    expect(text).toContain(`${NAME}_bucket{le="+Inf",transport="openai"}`);
    expect(text).toContain(`${NAME}_count{transport="classic"}`);
  });

  it('gives the same JSON as prom-client, and the same text in OpenMetrics', async () => {
    const { reference, tallied, observe } = pair(true);
    for (const v of values(300)) observe(v > 1 ? 'ws' : 'sse', v);
    expect(await tallied.getMetricsAsJSON()).toEqual(await reference.getMetricsAsJSON());
    expect(await tallied.metrics()).toBe(await reference.metrics());
  });

  it('prints only its help and type before any observation, as prom-client does', async () => {
    const { reference, tallied } = pair();
    expect(await tallied.metrics()).toBe(await reference.metrics());
    expect(await tallied.metrics()).toBe(`# HELP ${NAME} ${HELP}\n# TYPE ${NAME} histogram\n`);
  });

  it('keeps counting across scrapes and starts over after a reset', async () => {
    const { reference, tallied, observe } = pair();
    observe('sse', 0.003);
    await tallied.metrics();
    observe('sse', 0.2);
    observe('ws', 7);
    expect(await tallied.metrics()).toBe(await reference.metrics());
    expect(await tallied.metrics()).toContain(`${NAME}_count{transport="sse"} 2`);
    tallied.resetMetrics();
    reference.resetMetrics();
    observe('ws', 0.01);
    expect(await tallied.metrics()).toBe(await reference.metrics());
    expect(await tallied.metrics()).not.toContain('transport="sse"');
  });

  it('ignores a value that is not a finite number instead of throwing on the hot path', async () => {
    const { reference, tallied, mine, observe } = pair();
    observe('sse', 0.5);
    mine.observe('sse', Number.NaN);
    mine.observe('sse', Number.POSITIVE_INFINITY);
    expect(await tallied.metrics()).toBe(await reference.metrics());
  });

  it('shares a registry with other metrics and refuses a second metric of its name', async () => {
    const registry = new Registry();
    const mine = new TalliedHistogram({
      name: NAME,
      help: HELP,
      labelName: 'transport',
      buckets: BUCKETS,
      registers: [registry],
    });
    new Histogram({ name: 'relay_other_seconds', help: 'x', registers: [registry] }).observe(1);
    mine.observe('sse', 1);
    const text = await registry.metrics();
    expect(text).toContain('relay_other_seconds_count 1');
    expect(text).toContain(`${NAME}_count{transport="sse"} 1`);
    expect(() => new Histogram({ name: NAME, help: HELP, buckets: BUCKETS, registers: [registry] })).toThrow(
      /already been registered/,
    );
  });

  it('with several labels, prints the same text and JSON as prom-client, labels in the order given', async () => {
    const { reference, tallied } = registryPair();
    // prom-client prints a label object's keys in the caller's order, whatever order labelNames has.
    const ref = new Histogram({
      name: NAME,
      help: HELP,
      labelNames: ['outcome', 'transport'],
      buckets: BUCKETS,
      registers: [reference],
    });
    const mine = new TalliedHistogram({
      name: NAME,
      help: HELP,
      labelNames: ['transport', 'outcome'],
      buckets: BUCKETS,
      registers: [tallied],
    });
    const transports = ['sse', 'ws', 'classic'];
    const outcomes = ['done', 'error', 'cancelled', 'done,outcome=x'];
    for (const [i, v] of values(1500).entries()) {
      const transport = transports[i % 3]!;
      const outcome = outcomes[Math.floor(i / 3) % 4]!;
      ref.observe({ transport, outcome }, v);
      mine.observeLabels([transport, outcome], v);
    }
    const text = await tallied.metrics();
    expect(text).toBe(await reference.metrics());
    expect(await tallied.getMetricsAsJSON()).toEqual(await reference.getMetricsAsJSON());
    expect(text).toContain(`${NAME}_bucket{le="+Inf",transport="ws",outcome="cancelled"}`);
    expect(text).toContain(`${NAME}_count{transport="classic",outcome="done,outcome=x"}`);
    tallied.resetMetrics();
    reference.resetMetrics();
    ref.observe({ transport: 'ws', outcome: 'done' }, 2);
    mine.observeLabels(['ws', 'done'], 2);
    expect(await tallied.metrics()).toBe(await reference.metrics());
  });

  it('refuses label values that do not match its labels', () => {
    const mine = new TalliedHistogram({
      name: NAME,
      help: HELP,
      labelNames: ['transport', 'outcome'],
      buckets: BUCKETS,
      registers: [],
    });
    expect(() => mine.observeLabels(['sse'], 1)).toThrow(/expected 2 label values/);
    expect(() => mine.observe('sse', 1)).toThrow(/several labels/);
  });
});
