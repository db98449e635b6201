/** Reads the relay's Prometheus exposition text in tests: samples, and sums of them by label. */

export interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** `name{labels} value` lines of the exposition text. */
export function samples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** GET /metrics of a relay, parsed. */
export async function scrape(relayUrl: string): Promise<Sample[]> {
  return samples(await (await fetch(`${relayUrl}/metrics`)).text());
}

/** The sum of every sample of `name` whose labels include `want` (0 when none). */
export function value(all: readonly Sample[], name: string, want: Record<string, string> = {}): number {
  return all
    .filter((s) => s.name === name && Object.entries(want).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}
