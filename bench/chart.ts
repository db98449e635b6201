/**
 * `latest.svg`, drawn by hand: per-token latency percentile curves per target (one panel per
 * concurrency shown, log scale), throughput bars and CPU-per-1000-tokens bars (paced and bulk).
 */
import type { BenchResult } from './result.js';

const COLORS: Record<string, string> = { direct: '#7f7f7f', pipe: '#1f77b4', sse: '#d62728', ws: '#2ca02c' };
const EXTRA = ['#9467bd', '#ff7f0e', '#8c564b', '#e377c2'];
const colorOf = (t: string, all: readonly string[]): string =>
  COLORS[t] ?? EXTRA[Math.max(0, all.indexOf(t)) % EXTRA.length]!;

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
function fmt(v: number): string {
  if (v === 0) return '0';
  if (v >= 1000) return Math.round(v).toLocaleString('en-US');
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3);
}

/** The smallest 1, 2 or 5 × 10^k at or above v. */
function niceCeil(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5]) if (m * p >= v) return m * p;
  return 10 * p;
}

const W = 500;
const H = 320;
const M = { l: 72, r: 16, t: 36, b: 48 };

interface Panel {
  readonly x: number;
  readonly y: number;
}

function frame(p: Panel, title: string): string {
  return `<g transform="translate(${p.x},${p.y})"><rect width="${W}" height="${H}" fill="#fff" stroke="#ddd"/><text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="600">${esc(title)}</text></g>`;
}

/** Percentile → x on a "nines" scale; max sits one step past 99.9. */
function nines(p: number): number {
  return p >= 100 ? 3.5 : Math.log10(1 / (1 - p / 100));
}

function latencyPanel(
  p: Panel,
  title: string,
  curves: Record<string, { p: number; ms: number }[]>,
  order: readonly string[],
): string {
  const series = order.filter((t) => (curves[t]?.length ?? 0) > 0);
  const all = series.flatMap((t) => curves[t]!.map((pt) => pt.ms)).filter((v) => v > 0);
  if (all.length === 0) return frame(p, `${title}: no data`);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...all)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...all)));
  const iw = W - M.l - M.r;
  const ih = H - M.t - M.b;
  const x = (pp: number) => M.l + (nines(pp) / 3.5) * iw;
  const y = (ms: number) =>
    M.t + ih - ((Math.log10(Math.max(ms, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * ih;
  const parts: string[] = [frame(p, title), `<g transform="translate(${p.x},${p.y})" font-size="11">`];
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    parts.push(
      `<line x1="${M.l}" x2="${W - M.r}" y1="${y(d)}" y2="${y(d)}" stroke="#eee"/><text x="${M.l - 6}" y="${y(d) + 4}" text-anchor="end">${fmt(d)}</text>`,
    );
  }
  for (const [pp, label] of [
    [0, 'min'],
    [50, 'p50'],
    [90, 'p90'],
    [99, 'p99'],
    [99.9, 'p99.9'],
    [100, 'max'],
  ] as const) {
    parts.push(
      `<line x1="${x(pp)}" x2="${x(pp)}" y1="${M.t}" y2="${M.t + ih}" stroke="#f2f2f2"/><text x="${x(pp)}" y="${M.t + ih + 16}" text-anchor="middle">${label}</text>`,
    );
  }
  parts.push(
    `<text x="14" y="${M.t + ih / 2}" transform="rotate(-90 14 ${M.t + ih / 2})" text-anchor="middle">ms (log)</text>`,
  );
  series.forEach((t, i) => {
    const pts = curves[t]!.map((pt) => `${x(pt.p).toFixed(1)},${y(pt.ms).toFixed(1)}`).join(' ');
    const c = colorOf(t, order);
    parts.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts}"/>`);
    parts.push(
      `<rect x="${M.l + 8 + i * 80}" y="${H - 16}" width="10" height="10" fill="${c}"/><text x="${M.l + 22 + i * 80}" y="${H - 7}">${esc(t)}</text>`,
    );
  });
  parts.push('</g>');
  return parts.join('');
}

interface Bar {
  readonly group: string;
  readonly label: string;
  readonly value: number | null;
  readonly color: string;
}

function barPanel(p: Panel, title: string, unit: string, bars: readonly Bar[]): string {
  const values = bars.map((b) => b.value).filter((v): v is number => v !== null);
  if (values.length === 0) return frame(p, `${title}: no data`);
  const max = niceCeil(Math.max(...values) * 1.1);
  const iw = W - M.l - M.r;
  const ih = H - M.t - M.b;
  const groups = [...new Set(bars.map((b) => b.group))];
  const gw = iw / groups.length;
  const parts: string[] = [frame(p, title), `<g transform="translate(${p.x},${p.y})" font-size="11">`];
  parts.push(
    `<text x="14" y="${M.t + ih / 2}" transform="rotate(-90 14 ${M.t + ih / 2})" text-anchor="middle">${esc(unit)}</text>`,
  );
  for (let k = 0; k <= 4; k++) {
    const v = (max / 4) * k;
    const yy = M.t + ih - (v / max) * ih;
    parts.push(
      `<line x1="${M.l}" x2="${W - M.r}" y1="${yy}" y2="${yy}" stroke="#eee"/><text x="${M.l - 6}" y="${yy + 4}" text-anchor="end">${fmt(v)}</text>`,
    );
  }
  groups.forEach((g, gi) => {
    const mine = bars.filter((b) => b.group === g);
    const bw = Math.min(40, (gw * 0.8) / mine.length);
    const x0 = M.l + gi * gw + (gw - bw * mine.length) / 2;
    mine.forEach((b, bi) => {
      const v = b.value ?? 0;
      const bh = (v / max) * ih;
      const bx = x0 + bi * bw;
      parts.push(
        `<rect x="${bx + 2}" y="${M.t + ih - bh}" width="${bw - 4}" height="${bh}" fill="${b.color}"><title>${esc(`${g} ${b.label}: ${fmt(v)} ${unit}`)}</title></rect>`,
      );
      parts.push(
        `<text x="${bx + bw / 2}" y="${M.t + ih - bh - 4}" text-anchor="middle" font-size="10">${b.value === null ? '–' : fmt(v)}</text>`,
      );
      if (mine.length > 1)
        parts.push(
          `<text x="${bx + bw / 2}" y="${M.t + ih + 28}" text-anchor="middle" font-size="9">${esc(b.label)}</text>`,
        );
    });
    parts.push(
      `<text x="${M.l + gi * gw + gw / 2}" y="${M.t + ih + 15}" text-anchor="middle">${esc(g)}</text>`,
    );
  });
  parts.push('</g>');
  return parts.join('');
}

export function renderChart(r: BenchResult): string {
  const order = r.targets.map((t) => t.split('=')[0]!);
  const panels: string[] = [];
  const { latency, throughput } = r.scenarios;
  const slots: Panel[] = [
    { x: 10, y: 40 },
    { x: 20 + W, y: 40 },
    { x: 10, y: 50 + H },
    { x: 20 + W, y: 50 + H },
  ];
  // The two concurrencies nearest the issue's targets (10 and 100) that were measured.
  const cs = latency === undefined ? [] : Object.keys(latency.curves).map(Number);
  const shown = [...new Set([pick(cs, 10), pick(cs, 100)].filter((c): c is number => c !== undefined))];
  shown.slice(0, 2).forEach((c, i) => {
    panels.push(latencyPanel(slots[i]!, `Per-token latency, C = ${c}`, latency!.curves[c]!, order));
  });
  const pacedC =
    latency === undefined
      ? undefined
      : pick(
          cs.filter((c) => c <= 100),
          100,
        );
  const thr = throughput?.rows ?? [];
  panels.push(
    barPanel(
      slots[2]!,
      `Throughput (${throughput?.streams ?? '?'} streams, no delay)`,
      'tokens/s',
      thr.map((x) => ({
        group: x.target,
        label: '',
        value: x.tokensPerSec,
        color: colorOf(x.target, order),
      })),
    ),
  );
  const cpuTargets = order.filter((t) => t !== 'direct');
  const cpuBars: Bar[] = [];
  for (const t of cpuTargets) {
    const paced = latency?.rows.find((x) => x.target === t && x.c === pacedC)?.cpuPer1k ?? null;
    const bulk = thr.find((x) => x.target === t)?.cpuPer1k ?? null;
    if (paced === null && bulk === null) continue;
    cpuBars.push({ group: t, label: 'paced', value: paced, color: colorOf(t, order) });
    cpuBars.push({ group: t, label: 'bulk', value: bulk, color: `${colorOf(t, order)}99` });
  }
  panels.push(
    barPanel(slots[3]!, `CPU per 1000 tokens: paced (C = ${pacedC ?? '?'}) and bulk`, 'CPU ms', cpuBars),
  );
  const title = `relay benchmark (${r.mode}) — ${r.machine.cpuModel}, ${r.machine.cores} cores, Node ${r.machine.node} — ${r.startedAt.slice(0, 10)}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W + 30}" height="${2 * H + 60}" viewBox="0 0 ${2 * W + 30} ${2 * H + 60}" font-family="system-ui, sans-serif">`,
    '<rect width="100%" height="100%" fill="#fafafa"/>',
    `<text x="${W + 15}" y="26" text-anchor="middle" font-size="15" font-weight="600">${esc(title)}</text>`,
    ...panels,
    '</svg>',
    '',
  ].join('\n');
}

function pick(cs: readonly number[], want: number): number | undefined {
  let best: number | undefined;
  for (const c of cs)
    if (best === undefined || Math.abs(Math.log(c / want)) < Math.abs(Math.log(best / want))) best = c;
  return best;
}
