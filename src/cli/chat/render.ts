/** What `relay chat` prints besides the answer itself: the stats line, receipts and errors. */
import type { TerminalEvent, Usage } from '../../core/events.js';

export interface Timing {
  /** ms (performance.now) when the request was sent. */
  readonly sentAt: number;
  /** ms when the first content event arrived; undefined if none did. */
  readonly firstTokenAt: number | undefined;
  /** ms when the terminal event arrived. */
  readonly endedAt: number;
}

/** ANSI dim, only for a terminal (and never with NO_COLOR): piped output stays plain text. */
export function dimmer(isTty: boolean, env: NodeJS.ProcessEnv): (text: string) => string {
  const color = isTty && (env.NO_COLOR === undefined || env.NO_COLOR === '');
  return color ? (text) => `\x1b[2m${text}\x1b[22m` : (text) => text;
}

export function formatUsage(usage: Usage): string {
  return `${usage.input_tokens} in / ${usage.output_tokens} out tokens${usage.estimated ? ' (estimated)' : ''}`;
}

/** One line after each answer: time to first token, tokens per second, usage. */
export function statsLine(terminal: TerminalEvent, timing: Timing): string {
  const parts: string[] = [];
  if (terminal.type === 'cancelled') parts.push(`cancelled (${terminal.reason})`);
  if (terminal.type === 'error') parts.push(`failed (${terminal.code})`);
  const { firstTokenAt } = timing;
  parts.push(firstTokenAt === undefined ? 'ttft —' : `ttft ${Math.round(firstTokenAt - timing.sentAt)} ms`);
  const streamingMs = firstTokenAt === undefined ? 0 : timing.endedAt - firstTokenAt;
  const tokens = terminal.usage.output_tokens;
  // Tokens after the first one, over the time they took: the rate a reader sees.
  parts.push(
    streamingMs > 0 && tokens > 1 ? `${((tokens - 1) / (streamingMs / 1000)).toFixed(1)} tok/s` : 'tok/s —',
  );
  parts.push(formatUsage(terminal.usage));
  return parts.join(' · ');
}

/**
 * Citations as footnotes: each distinct source (a URL, or a cited document) gets a number the
 * first time it is cited; the answer shows `[n]` where the citation arrived, and the footnotes
 * follow the answer.
 */
export class Footnotes {
  private readonly sources = new Map<string, { n: number; line: string }>();

  /** The marker for one citation event's `citation` object. */
  cite(citation: Readonly<Record<string, unknown>>): string {
    const { key, line } = describeSource(citation);
    let source = this.sources.get(key);
    if (source === undefined) {
      source = { n: this.sources.size + 1, line };
      this.sources.set(key, source);
    }
    return `[${source.n}]`;
  }

  /** The footnote lines, or '' when nothing was cited. */
  render(): string {
    let out = '';
    for (const { n, line } of this.sources.values()) out += `[${n}] ${line}\n`;
    return out;
  }
}

function describeSource(c: Readonly<Record<string, unknown>>): { key: string; line: string } {
  const text = (field: string): string | undefined => {
    const value = c[field];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const url = text('url');
  if (url !== undefined)
    return { key: url, line: text('title') === undefined ? url : `${text('title')} — ${url}` };
  const title = text('document_title') ?? text('title') ?? text('source');
  const index = typeof c.document_index === 'number' ? `document ${c.document_index}` : undefined;
  const name = title ?? index ?? String(c.type ?? 'source');
  const quoted = text('cited_text');
  return {
    key: `${name}\u0000${index ?? ''}`,
    line: quoted === undefined ? name : `${name}: “${quoted.trim()}”`,
  };
}
