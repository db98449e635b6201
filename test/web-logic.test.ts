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

interface Source {
  n: number;
  label: string;
  url?: string;
  quote?: string;
}
interface BlockSummary {
  kind: 'result' | 'redacted' | 'unknown';
  text: string;
  output?: string;
  toolUseId?: string;
}
const parts = (await import(page('answer-parts.js'))) as {
  createSources(): {
    cite(c: Record<string, unknown>): { source: Source; isNew: boolean };
    list(): Source[];
  };
  describeToolCall(name: string, json: string, kind?: string): string;
  describeBlock(block: Record<string, unknown>): BlockSummary;
  describeRefusal(done: Record<string, unknown>): string | undefined;
  describeDelta(delta: Record<string, unknown>): string;
  safeUrl(url: string | undefined): string | undefined;
};

describe('the page’s answer parts', () => {
  it('numbers citation sources by first use: a URL once, a document by title, with the cited text', () => {
    const sources = parts.createSources();
    const web = {
      type: 'web_search_result_location',
      url: 'https://example.com/a',
      title: 'About A',
      cited_text: 'A is ',
    };
    expect(sources.cite(web)).toEqual({
      source: { n: 1, label: 'About A', url: 'https://example.com/a', quote: 'A is' },
      isNew: true,
    });
    expect(sources.cite({ ...web, cited_text: 'other' }).isNew).toBe(false);
    const doc = { type: 'char_location', document_index: 0, document_title: 'Spec', cited_text: 'x' };
    expect(sources.cite(doc).source).toEqual({ n: 2, label: 'Spec', quote: 'x' });
    expect(sources.cite({ type: 'page_location', document_index: 3 }).source).toEqual({
      n: 3,
      label: 'document 3',
    });
    expect(sources.list().map((s) => s.n)).toEqual([1, 2, 3]);
  });

  it('never makes a link of a non-http URL', () => {
    const sources = parts.createSources();
    const { source } = sources.cite({ type: 'web_search_result_location', url: 'javascript:alert(1)' });
    expect(source.url).toBeUndefined();
    expect(source.label).toBe('javascript:alert(1)');
    expect(parts.safeUrl('https://ok.example/x')).toBe('https://ok.example/x');
  });

  it('says what a server tool does as its input streams: search query, fetched URL, code', () => {
    expect(parts.describeToolCall('web_search', '')).toBe('searching the web…');
    expect(parts.describeToolCall('web_search', '{"query": "rel')).toBe('searching the web…');
    expect(parts.describeToolCall('web_search', '{"query":"relay sse"}')).toBe(
      'searched the web for “relay sse”',
    );
    expect(parts.describeToolCall('web_fetch', '{"url":"https://example.com/p"}')).toBe(
      'fetched https://example.com/p',
    );
    expect(parts.describeToolCall('code_execution', '{"code":"print(1)"}')).toBe('ran code');
    expect(parts.describeToolCall('lookup', '{}', 'mcp')).toBe('called MCP tool lookup');
  });

  it('summarises results: search count, fetch url, code output and exit code, errors', () => {
    const results = [
      { type: 'web_search_result' },
      { type: 'web_search_result' },
      { type: 'web_search_result' },
    ];
    expect(
      parts.describeBlock({ type: 'web_search_tool_result', tool_use_id: 'srv_1', content: results }),
    ).toEqual({ kind: 'result', text: '3 results', toolUseId: 'srv_1' });
    expect(
      parts.describeBlock({
        type: 'web_search_tool_result',
        tool_use_id: 'srv_1',
        content: { type: 'web_search_tool_result_error', error_code: 'max_uses_exceeded' },
      }).text,
    ).toBe('failed: max_uses_exceeded');
    expect(
      parts.describeBlock({
        type: 'web_fetch_tool_result',
        content: { type: 'web_fetch_result', url: 'https://example.com/p' },
      }).text,
    ).toBe('page fetched: https://example.com/p');
    expect(
      parts.describeBlock({
        type: 'code_execution_tool_result',
        tool_use_id: 'srv_2',
        content: {
          type: 'code_execution_result',
          stdout: 'HELLO\n',
          stderr: '',
          return_code: 0,
          content: [],
        },
      }),
    ).toEqual({ kind: 'result', text: 'exit code 0', output: 'HELLO', toolUseId: 'srv_2' });
  });

  it('marks redacted thinking, and anything unknown with a generic marker instead of failing', () => {
    expect(parts.describeBlock({ type: 'redacted_thinking', data: 'xx' })).toEqual({
      kind: 'redacted',
      text: 'redacted thinking',
    });
    expect(parts.describeBlock({ type: 'sim_hologram', shape: 'cube' })).toEqual({
      kind: 'unknown',
      text: '[sim_hologram]',
    });
    expect(parts.describeBlock({})).toEqual({ kind: 'unknown', text: '[unknown]' });
    expect(parts.describeBlock({ type: 'x_tool_result', content: null }).kind).toBe('result');
    expect(parts.describeDelta({ type: 'compaction_delta' })).toBe('[compaction_delta]');
    expect(parts.describeDelta({})).toBe('[delta]');
  });

  it('a refusal notice names its category; other stop reasons have none', () => {
    expect(
      parts.describeRefusal({
        stop_reason: 'refusal',
        stop_details: { type: 'refusal', category: 'cyber', explanation: null },
      }),
    ).toBe('Claude declined to answer (category: cyber)');
    expect(parts.describeRefusal({ stop_reason: 'refusal', stop_details: null })).toBe(
      'Claude declined to answer',
    );
    expect(parts.describeRefusal({ stop_reason: 'end_turn' })).toBeUndefined();
  });
});
