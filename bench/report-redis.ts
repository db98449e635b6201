/** The Markdown section of the `redis` scenario (issue 14's targets), for bench/report.ts. */
import type { RedisData } from './scenarios-redis.js';

const n = (v: number | null | undefined): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '–' : v < 100 ? v.toFixed(3) : v.toFixed(1);

const row = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;

export function redisSection(d: RedisData): string[] {
  const out = ['## Several instances on one Redis (issue 14)', ''];
  if (d.skipped !== undefined) return [...out, `Skipped: ${d.skipped}.`, ''];
  out.push(
    'Three relays on the bench simulator: one without Redis, A and B sharing one redis-server. Streams start on A; "reader on B" reads the same stream through B at the same time; cancels are sent to B (and to A for reference). Milliseconds; CPU per 1,000 tokens delivered.',
    '',
    row(['target', 'measured', 'limit', 'met']),
    row(['---', '---', '---', '---']),
    ...d.goals.map((g) =>
      row([g.goal, g.measured, g.limit, g.met === null ? 'not measured' : g.met ? 'met' : '**missed**']),
    ),
    '',
  );
  if (d.cpu) {
    out.push(
      row([
        'relay',
        'rep',
        ' tokens',
        ' relay CPU ms/1k',
        ' instance B CPU ms/1k',
        ' redis-server CPU ms/1k',
      ]),
      row(['---', '---:', '---:', '---:', '---:', '---:']),
      ...d.cpu.runs.map((r) =>
        row([
          r.target,
          String(r.rep + 1),
          String(r.tokens),
          n(r.cpuPer1k),
          n(r.otherInstancePer1k),
          n(r.redisServerPer1k),
        ]),
      ),
      '',
    );
  }
  if (d.readers) {
    out.push(
      row(['rep', ' reader on A p50', ' p99', ' reader on B p50', ' p99', ' tokens each']),
      row(['---:', '---:', '---:', '---:', '---:', '---:']),
      ...d.readers.runs.map((r) =>
        row([String(r.rep + 1), n(r.onA.p50), n(r.onA.p99), n(r.onB.p50), n(r.onB.p99), String(r.onB.count)]),
      ),
      '',
    );
  }
  if (d.cancel) {
    out.push(
      row(['cancel sent to', 'rep', ' → upstream closed p50', ' p99', ' max', ' not closed']),
      row(['---', '---:', '---:', '---:', '---:', '---:']),
      ...d.cancel.runs.map((r) =>
        row([
          r.where,
          String(r.rep + 1),
          n(r.close.p50),
          n(r.close.p99),
          n(r.close.max),
          String(r.notClosed),
        ]),
      ),
      '',
    );
  }
  return out;
}
