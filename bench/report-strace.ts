/** The summary's section for `--strace`: calls per 1,000 tokens by call, pipe beside the relay. */
import { SOCKET_IO, type SyscallData, type SyscallRow } from './scenarios-strace.js';

/** Calls per 1,000 tokens: one decimal (a fraction of a call per token still shows), none past 1,000. */
const num = (v: number | null | undefined): string =>
  v === null || v === undefined || !Number.isFinite(v)
    ? '–'
    : v >= 1000
      ? Math.round(v).toLocaleString('en-US')
      : v.toFixed(1);

/** The summary's section: one table per scenario, calls per 1,000 tokens by call, relay ÷ pipe. */
export function syscallSection(d: SyscallData, reps: number): string[] {
  const out = ['## Syscalls per 1,000 tokens (`strace -c -f`, attached for the measured job only)', ''];
  if (d.skipped !== undefined) return [...out, `Skipped: ${d.skipped}.`, ''];
  out.push(
    `Counts, not times: strace slows every call, so this pass measures nothing else and the scenarios above did not run under it. Median of ${reps} repetition(s) (the totals with their min–max); relay ÷ pipe beside each. A process slowed down (by strace, by load) reads more bytes per call, so bulk counts fall as a process falls behind: paced load is where a call per token shows. "reads + writes" = ${SOCKET_IO.join(', ')} (read and write include libuv's eventfd wake-ups); \`-f\` counts every thread (futex: hand-offs between threads, e.g. V8's GC helpers).`,
    '',
  );
  for (const sc of d.scenarios) {
    const rows = sc.rows;
    const pipe = rows.find((r) => r.target === 'pipe');
    const relays = rows.filter((r) => r.target !== 'pipe');
    const names = [...new Set(rows.flatMap((r) => Object.keys(r.per1k)))]
      .map((name) => ({ name, most: Math.max(...rows.map((r) => r.per1k[name] ?? 0)) }))
      .filter((x) => x.most >= 0.5)
      .sort((a, b) => b.most - a.most || a.name.localeCompare(b.name))
      .slice(0, 14)
      .map((x) => x.name);
    const ratio = (mine: number | null | undefined, ref: number | null | undefined) =>
      mine == null || ref == null || ref <= 0 ? '–' : `${(mine / ref).toFixed(2)}×`;
    const line = (
      label: string,
      pick: (r: SyscallRow) => number | null | undefined,
      spread?: (r: SyscallRow) => readonly [number, number] | null,
    ) => [
      label,
      ...rows.map((r) => {
        const s = reps > 1 ? spread?.(r) : null;
        return s == null ? num(pick(r)) : `${num(pick(r))} (${num(s[0])}–${num(s[1])})`;
      }),
      ...(pipe === undefined ? [] : relays.map((r) => ratio(pick(r), pick(pipe)))),
    ];
    const head = [
      'syscall',
      ...rows.map((r) => ` ${r.target}`),
      ...(pipe === undefined ? [] : relays.map((r) => ` ${r.target} ÷ pipe`)),
    ];
    out.push(
      `### ${sc.scenario}: ${sc.streams} streams, ${sc.concurrency} at a time, ${sc.pace.tokens} tokens each${sc.pace.tps > 0 ? ` at ${sc.pace.tps} tok/s` : ', no delay'}`,
      '',
      table(head, [
        ...names.map((name) => line(name, (r) => r.per1k[name] ?? 0)),
        line(
          '**reads + writes**',
          (r) => r.ioPer1k,
          (r) => r.ioRange,
        ),
        line(
          '**all calls**',
          (r) => r.totalPer1k,
          (r) => r.totalRange,
        ),
      ]),
      '',
    );
  }
  return out;
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const row = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [row(head), row(head.map((h) => (h.startsWith(' ') ? '---:' : '---'))), ...rows.map(row)].join('\n');
}
