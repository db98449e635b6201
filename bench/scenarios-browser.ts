/**
 * The browser scenarios of `relay bench` (issue 19): the experiments of src/web/compare-experiments.js
 * run in headless Chromium against a relay process on the bench's simulator.
 *
 * - many: N = 1, 6, 7, 12, 24 answers from one page × EventSource, fetch + SSE, one WebSocket ×
 *   HTTP/1.1 and HTTP/2 (nginx with TLS, deploy/nginx-tls.conf; HTTP/1.1 is the same nginx with
 *   Chromium's HTTP/2 turned off): time to first token of each stream, and how many waited.
 * - drop: drop and recover per transport, cut by the network (a proxy resetting every socket;
 *   EventSource reconnects by itself) and by the page: drop → first resumed token; lost/duplicated.
 * - proxy: time to first token of one answer, direct and through deploy/nginx.conf (plain HTTP).
 *
 * Skipped with one line when Chromium or nginx is missing. A lost, duplicated or incomplete stream
 * fails the scenario (and so the run).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import {
  type CutProxy,
  findBinary,
  launchChromium,
  type Nginx,
  selfSignedCertificate,
  startCutProxy,
  startNginx,
} from './browser-lab.js';
import type { Harness } from './harness.js';
import { median, round } from './hist.js';
import { repoRoot } from './options.js';
import { track } from './procs.js';

const TRANSPORTS = ['eventsource', 'fetch-sse', 'ws'] as const;
type Transport = (typeof TRANSPORTS)[number];

/** What compare-experiments.js answers (the fields the bench reads). */
interface ManyResult {
  transport: string;
  n: number;
  protocol?: string;
  timed_out: boolean;
  ttft_p50_ms?: number;
  ttft_max_ms?: number;
  waited: number;
  complete: number;
}
interface DropResult {
  transport: string;
  how: string;
  dropped: boolean;
  recovery_ms?: number;
  timed_out: boolean;
  lost: number;
  duplicated: number;
  complete: boolean;
}

export interface BrowserManyRow extends ManyResult {
  /** h1 or h2: what the page asked nginx for (`protocol` is what Chromium reports it used). */
  readonly http: 'h1' | 'h2';
}
export interface BrowserDropRow {
  readonly transport: Transport;
  readonly how: 'network' | 'page';
  readonly runs: number;
  readonly recovery_ms_median: number | null;
  readonly recovery_ms_max: number | null;
  readonly lost: number;
  readonly duplicated: number;
  readonly complete: number;
}
export interface BrowserProxyRow {
  readonly transport: Transport;
  readonly runs: number;
  readonly direct_ttft_ms_median: number | null;
  readonly nginx_ttft_ms_median: number | null;
}
export interface BrowserData {
  /** Why nothing was measured (Chromium or nginx missing), else absent. */
  readonly skipped?: string;
  readonly chromium?: string;
  readonly many: BrowserManyRow[];
  readonly drop: BrowserDropRow[];
  readonly proxy: BrowserProxyRow[];
}

interface BrowserSizes {
  readonly ns: readonly number[];
  /** The answer every stream asks for: paced so that N = 24 starts overlap. */
  readonly message: string;
  readonly dropRuns: number;
  readonly proxyRuns: number;
  /** A short answer for the direct-vs-nginx first-token runs (only its first token matters). */
  readonly shortMessage: string;
}

const SHORT = '[[sim tokens=5 tps=50 ttft=0]] hello';

const SIZES: Record<'full' | 'quick' | 'smoke', BrowserSizes> = {
  full: {
    ns: [1, 6, 7, 12, 24],
    message: '[[sim tokens=60 tps=30 ttft=0]] count',
    dropRuns: 5,
    proxyRuns: 10,
    shortMessage: SHORT,
  },
  quick: {
    ns: [1, 6, 7, 24],
    message: '[[sim tokens=30 tps=30 ttft=0]] count',
    dropRuns: 2,
    proxyRuns: 3,
    shortMessage: SHORT,
  },
  smoke: {
    ns: [1, 7],
    message: '[[sim tokens=20 tps=40 ttft=0]] count',
    dropRuns: 1,
    proxyRuns: 1,
    shortMessage: SHORT,
  },
};

/** The window handle compare-view.js sets for tests and the bench. */
interface Experiments {
  relayExperiments: {
    manyStreams(options: object): Promise<ManyResult>;
    dropAndRecover(options: object): Promise<DropResult>;
  };
}

async function open(browser: Browser, origin: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${origin}/web/compare.html`, { timeout: 15_000 });
  await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
  return page;
}

function many(page: Page, transport: Transport, n: number, message: string): Promise<ManyResult> {
  return page.evaluate(
    (options) => (window as unknown as Experiments).relayExperiments.manyStreams(options),
    { transport, n, message, timeoutMs: 60_000 },
  );
}

function drop(page: Page, transport: Transport, message: string, byNetwork: boolean): Promise<DropResult> {
  return page.evaluate(
    ({ options, byNetwork }) => {
      const w = window as unknown as Experiments & { relayCut: () => Promise<number> };
      return w.relayExperiments.dropAndRecover(byNetwork ? { ...options, cut: () => w.relayCut() } : options);
    },
    { options: { transport, message, dropAfterTokens: 10, timeoutMs: 30_000 }, byNetwork },
  );
}

const med = (xs: number[]): number | null => (xs.length === 0 ? null : round(median(xs)));

export async function browser(h: Harness): Promise<BrowserData> {
  const chromiumPath = findBinary(['chromium', 'chromium-browser']);
  const nginxPath = findBinary(['nginx']);
  if (chromiumPath === undefined || nginxPath === undefined) {
    const skipped = `browser scenarios skipped: ${chromiumPath === undefined ? 'chromium' : 'nginx'} is missing (npm run test:setup installs it)`;
    h.log(skipped);
    return { skipped, many: [], drop: [], proxy: [] };
  }
  const sizes = SIZES[h.opts.mode];
  const relay = await h.startRelay();
  const host = new URL(relay.url).host;
  const dir = mkdtempSync(join(tmpdir(), 'relay-bench-tls-'));
  const browsers: Browser[] = [];
  let tls: Nginx | undefined;
  let plain: Nginx | undefined;
  let proxy: CutProxy | undefined;
  try {
    tls = await startNginx(nginxPath, 'nginx-tls.conf', [host], await selfSignedCertificate(dir));
    track(tls.child);
    plain = await startNginx(nginxPath, 'nginx.conf', [host]);
    track(plain.child);
    proxy = await startCutProxy(host);
    const h1 = await launchChromium(chromiumPath, false);
    browsers.push(h1);
    const h2 = await launchChromium(chromiumPath, true);
    browsers.push(h2);
    const data: BrowserData = { chromium: h2.version(), many: [], drop: [], proxy: [] };
    const problems: string[] = [];

    for (const [http, b] of [
      ['h1', h1],
      ['h2', h2],
    ] as const) {
      for (const n of sizes.ns) {
        for (const transport of TRANSPORTS) {
          const page = await open(b, tls.url);
          const result = await many(page, transport, n, sizes.message);
          await page.close();
          data.many.push({
            transport: result.transport,
            n: result.n,
            http,
            ...(result.protocol === undefined ? {} : { protocol: result.protocol }),
            timed_out: result.timed_out,
            ...(result.ttft_p50_ms === undefined ? {} : { ttft_p50_ms: result.ttft_p50_ms }),
            ...(result.ttft_max_ms === undefined ? {} : { ttft_max_ms: result.ttft_max_ms }),
            waited: result.waited,
            complete: result.complete,
          });
          h.log(
            `browser many ${http} ${transport} N=${n}: ttft p50 ${result.ttft_p50_ms} ms, max ${result.ttft_max_ms} ms, ${result.waited} waited (${result.protocol})`,
          );
          if (result.complete !== n)
            problems.push(`${http} ${transport} N=${n}: ${result.complete} of ${n} complete`);
        }
      }
    }

    for (const how of ['network', 'page'] as const) {
      for (const transport of TRANSPORTS) {
        const results: DropResult[] = [];
        for (let i = 0; i < sizes.dropRuns; i++) {
          const page = await open(h1, proxy.url);
          await page.exposeFunction('relayCut', () => proxy!.cut());
          results.push(await drop(page, transport, sizes.message, how === 'network'));
          await page.close();
        }
        const times = results.flatMap((r) => (r.recovery_ms === undefined ? [] : [r.recovery_ms]));
        const row: BrowserDropRow = {
          transport,
          how,
          runs: results.length,
          recovery_ms_median: med(times),
          recovery_ms_max: times.length === 0 ? null : Math.max(...times),
          lost: results.reduce((s, r) => s + r.lost, 0),
          duplicated: results.reduce((s, r) => s + r.duplicated, 0),
          complete: results.filter((r) => r.complete).length,
        };
        data.drop.push(row);
        h.log(
          `browser drop (${how}) ${transport}: recovery median ${row.recovery_ms_median} ms, lost ${row.lost}, duplicated ${row.duplicated}`,
        );
        if (row.complete !== row.runs || row.lost + row.duplicated > 0) {
          problems.push(`drop (${how}) ${transport}: ${row.complete} of ${row.runs} complete`);
        }
      }
    }

    for (const transport of TRANSPORTS) {
      const ttft: Record<'direct' | 'nginx', number[]> = { direct: [], nginx: [] };
      for (let i = 0; i < sizes.proxyRuns; i++) {
        // Alternate, so a drift of the shared machine lands on both sides.
        for (const [side, origin] of [
          ['direct', relay.url],
          ['nginx', plain.url],
        ] as const) {
          const page = await open(h1, origin);
          const result = await many(page, transport, 1, sizes.shortMessage);
          await page.close();
          if (result.ttft_p50_ms !== undefined) ttft[side].push(result.ttft_p50_ms);
        }
      }
      const row: BrowserProxyRow = {
        transport,
        runs: sizes.proxyRuns,
        direct_ttft_ms_median: med(ttft.direct),
        nginx_ttft_ms_median: med(ttft.nginx),
      };
      data.proxy.push(row);
      h.log(
        `browser ttft ${transport}: direct ${row.direct_ttft_ms_median} ms, through nginx ${row.nginx_ttft_ms_median} ms`,
      );
    }
    if (problems.length > 0) throw new Error(`browser streams incomplete: ${problems.join('; ')}`);
    return data;
  } finally {
    for (const b of browsers) await b.close().catch(() => {});
    await proxy?.close();
    await plain?.stop();
    await tls?.stop();
    rmSync(dir, { recursive: true, force: true });
    await h.stopServers();
  }
}

/**
 * `--record`: the figures the compare view shows beside a visitor's own (src/web/compare-figures.js).
 */
export function writeCompareFigures(
  data: BrowserData,
  meta: { revision: string; date: string; command: string },
): void {
  const figures = {
    ...meta,
    many: data.many.filter((r) => r.n === 7 || r.n === 24),
    drop: data.drop.map((r) => ({
      transport: r.transport,
      how: r.how,
      recovery_ms: r.recovery_ms_median ?? undefined,
      complete: r.complete === r.runs,
      lost: r.lost,
      duplicated: r.duplicated,
    })),
  };
  const text = `/**
 * The browser benchmark's figures the compare view shows beside a visitor's own: written by
 * \`npm run bench -- --record\` (bench/scenarios-browser.ts; generated, so biome leaves it alone).
 * @type {{ revision: string, date: string, command: string, many: any[], drop: any[] } | undefined}
 */
export const FIGURES = ${JSON.stringify(figures, null, 2)};
`;
  writeFileSync(join(repoRoot(), 'src', 'web', 'compare-figures.js'), text);
}

const cell = (v: number | null | undefined, unit = ' ms'): string =>
  v === null || v === undefined ? '—' : `${v}${unit}`;

/** The browser section of a run's summary (bench/report.ts appends it). */
export function renderBrowser(data: BrowserData | undefined): string {
  if (data === undefined) return '';
  if (data.skipped !== undefined) return `\n## Browser (Chromium)\n\n${data.skipped}\n`;
  const out = [
    '',
    `## Browser (Chromium ${data.chromium ?? ''})`,
    '',
    'Many answers from one page (time to first token p50 / max; streams that got their first token only after another had ended):',
    '',
    '| N | transport | HTTP/1.1 | waited | HTTP/2 | waited |',
    '|---|---|---|---|---|---|',
  ];
  const ns = [...new Set(data.many.map((r) => r.n))];
  for (const n of ns) {
    for (const transport of TRANSPORTS) {
      const h1 = data.many.find((r) => r.n === n && r.transport === transport && r.http === 'h1');
      const h2 = data.many.find((r) => r.n === n && r.transport === transport && r.http === 'h2');
      const t = (r: BrowserManyRow | undefined) => `${cell(r?.ttft_p50_ms)} / ${cell(r?.ttft_max_ms)}`;
      out.push(`| ${n} | ${transport} | ${t(h1)} | ${h1?.waited ?? '—'} | ${t(h2)} | ${h2?.waited ?? '—'} |`);
    }
  }
  out.push('', 'Drop and recover (drop → first resumed token, median / max; lost; duplicated):', '');
  out.push('| transport | cut by | recovery | lost | duplicated | complete |', '|---|---|---|---|---|---|');
  for (const r of data.drop) {
    out.push(
      `| ${r.transport} | ${r.how} | ${cell(r.recovery_ms_median)} / ${cell(r.recovery_ms_max)} | ${r.lost} | ${r.duplicated} | ${r.complete} of ${r.runs} |`,
    );
  }
  out.push('', 'Time to first token of one answer, direct and through deploy/nginx.conf (median):', '');
  out.push('| transport | direct | through nginx |', '|---|---|---|');
  for (const r of data.proxy) {
    out.push(`| ${r.transport} | ${cell(r.direct_ttft_ms_median)} | ${cell(r.nginx_ttft_ms_median)} |`);
  }
  return `${out.join('\n')}\n`;
}
