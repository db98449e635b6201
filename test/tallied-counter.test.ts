/**
 * The tallied counter against prom-client's own Counter fed the same increments: /metrics text
 * and the JSON form must be the same, so replacing one by the other changes no series.
 */
import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { TalliedCounter } from '../src/tallied-counter.js';
import { registryPair } from './helpers/registry-pair.js';

const NAME = 'relay_test_ended_total';
const HELP = 'Things that ended.';
/** In the order the relay writes its label objects (which is the order prom-client prints them). */
const LABELS = ['transport', 'model', 'principal', 'outcome', 'code'] as const;

function pair(openMetrics = false) {
  const { reference, tallied } = registryPair(openMetrics);
  // prom-client's label names in another order than the values are written: it prints a label
  // object's keys as the caller wrote them, whatever order its labelNames have.
  const ref = new Counter({
    name: NAME,
    help: HELP,
    labelNames: ['transport', 'outcome', 'code', 'model', 'principal'],
    registers: [reference],
  });
  const mine = new TalliedCounter({ name: NAME, help: HELP, labelNames: LABELS, registers: [tallied] });
  const inc = (values: readonly string[], by?: number) => {
    const labels: Record<string, string> = {};
    LABELS.forEach((name, i) => {
      labels[name] = values[i]!;
    });
    ref.inc(labels, by);
    mine.inc(values, by);
  };
  return { reference, tallied, mine, inc };
}

/** Deterministic label values (few distinct per label, as bounded labels are) and amounts. */
function increments(n: number): { values: string[]; by: number | undefined }[] {
  const out: { values: string[]; by: number | undefined }[] = [];
  let x = 0x2545f491;
  const pick = (options: readonly string[]): string => {
    x = (x * 1103515245 + 12345) >>> 0;
    return options[(x >>> 16) % options.length]!;
  };
  for (let i = 0; i < n; i++) {
    const values = [
      pick(['sse', 'ws', 'classic']),
      pick(['claude-a', 'claude-b', 'other', 'with "quotes" and \\ and \n']),
      pick(['anonymous', 'key_1', 'key,2:x']),
      pick(['done', 'error', 'cancelled']),
      pick(['', 'upstream_overloaded', 'client']),
    ];
    x = (x * 1103515245 + 12345) >>> 0;
    const r = x >>> 8;
    const by = r % 5 === 0 ? undefined : r % 7 === 0 ? 0 : (r % 1000) / 7;
    out.push({ values, by });
  }
  return out;
}

describe('TalliedCounter', () => {
  it('prints the same /metrics text as prom-client for every series, amount and label value', async () => {
    const { reference, tallied, inc } = pair();
    for (const { values, by } of increments(3000)) inc(values, by);
    const text = await tallied.metrics();
    expect(text).toBe(await reference.metrics());
    // The series really are there (not two empty outputs), escaped as prom-client escapes them.
    expect(text).toContain(
      `${NAME}{transport="sse",model="claude-a",principal="anonymous",outcome="done",code=""}`,
    );
    expect(text).toContain('model="with \\"quotes\\" and \\\\ and \\n"');
  });

  it('gives the same JSON as prom-client, and the same text in OpenMetrics', async () => {
    const { reference, tallied, inc } = pair(true);
    for (const { values, by } of increments(500)) inc(values, by);
    expect(await tallied.getMetricsAsJSON()).toEqual(await reference.getMetricsAsJSON());
    expect(await tallied.metrics()).toBe(await reference.metrics());
  });

  it('prints only its help and type before any increment, as prom-client does', async () => {
    const { reference, tallied } = pair();
    expect(await tallied.metrics()).toBe(await reference.metrics());
    expect(await tallied.metrics()).toBe(`# HELP ${NAME} ${HELP}\n# TYPE ${NAME} counter\n`);
  });

  it('lists series in the order of their first increment, keeps counting across scrapes, starts over after a reset', async () => {
    const { reference, tallied, inc } = pair();
    inc(['ws', 'm', 'p', 'done', '']);
    await tallied.metrics();
    inc(['sse', 'm', 'p', 'done', ''], 2);
    inc(['ws', 'm', 'p', 'done', ''], 3);
    const text = await tallied.metrics();
    expect(text).toBe(await reference.metrics());
    expect(text.indexOf('transport="ws"')).toBeLessThan(text.indexOf('transport="sse"'));
    expect(text).toContain(`${NAME}{transport="ws",model="m",principal="p",outcome="done",code=""} 4`);
    tallied.resetMetrics();
    reference.resetMetrics();
    inc(['sse', 'm', 'p', 'error', 'x']);
    expect(await tallied.metrics()).toBe(await reference.metrics());
    expect(await tallied.metrics()).not.toContain('transport="ws"');
  });

  it('keeps series apart whose values only a joined key would confuse', async () => {
    const registry = new Registry();
    const mine = new TalliedCounter({
      name: NAME,
      help: HELP,
      labelNames: ['a', 'b'],
      registers: [registry],
    });
    mine.inc(['x,b:y', '']);
    mine.inc(['x', 'y']);
    mine.inc(['x', 'y']);
    const text = await registry.metrics();
    expect(text).toContain(`${NAME}{a="x,b:y",b=""} 1`);
    expect(text).toContain(`${NAME}{a="x",b="y"} 2`);
  });

  it('ignores an amount that is negative or not a finite number instead of throwing on the hot path', async () => {
    const { reference, tallied, mine, inc } = pair();
    inc(['sse', 'm', 'p', 'done', ''], 4);
    mine.inc(['sse', 'm', 'p', 'done', ''], Number.NaN);
    mine.inc(['sse', 'm', 'p', 'done', ''], Number.POSITIVE_INFINITY);
    mine.inc(['sse', 'm', 'p', 'done', ''], -1);
    expect(await tallied.metrics()).toBe(await reference.metrics());
    expect(() => mine.inc(['sse'])).toThrow(/expected 5 label values/);
  });

  it('shares a registry with other metrics and refuses a second metric of its name', async () => {
    const registry = new Registry();
    const mine = new TalliedCounter({
      name: NAME,
      help: HELP,
      labelNames: ['transport'],
      registers: [registry],
    });
    new Counter({ name: 'relay_other_total', help: 'x', registers: [registry] }).inc(2);
    mine.inc(['sse']);
    const text = await registry.metrics();
    expect(text).toContain('relay_other_total 2');
    expect(text).toContain(`${NAME}{transport="sse"} 1`);
    expect(() => new Counter({ name: NAME, help: HELP, registers: [registry] })).toThrow(
      /already been registered/,
    );
  });
});
