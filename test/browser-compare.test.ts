/**
 * The SSE-or-WebSocket experiments (src/web/compare-experiments.js) in Debian's Chromium: many
 * streams from one page over HTTP/1.1 and HTTP/2 (nginx with TLS and http2, deploy/nginx-tls.conf,
 * a self-signed certificate made here), and drop-and-recover on every transport, cut by the page
 * and cut by the network (a TCP proxy that resets every connection). Behaviour only, no timings:
 * which streams waited for a free connection, and that every recovered stream is complete.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type CutProxy,
  launchChromium,
  type Nginx,
  selfSignedCertificate,
  startCutProxy,
  startNginx,
} from '../bench/browser-lab.js';
import type { RelayServer } from '../src/server.js';
import { requireComponent } from './helpers/components.js';
import { startTestRelay } from './helpers/relay.js';

const CHROMIUM = requireComponent('chromium');
const NGINX = requireComponent('nginx');

/** ~3 s per answer: the first six are still running when the seventh asks for a connection. */
const LONG = 'Count slowly [[sim tokens=60 tps=20]]';
/** ~2 s: cut after 10 tokens, the rest arrives after the recovery. */
const PACED = 'Keep talking [[sim tokens=60 tps=30]]';
const TRANSPORTS = ['eventsource', 'fetch-sse', 'ws'] as const;
const SSE_TRANSPORTS = ['eventsource', 'fetch-sse'] as const;

interface StreamResult {
  index: number;
  ttft_ms?: number;
  waited: boolean;
  terminal?: string;
  failure?: string;
  lost: number;
  duplicated: number;
  complete: boolean;
}
interface ManyResult {
  transport: string;
  n: number;
  protocol?: string;
  timed_out: boolean;
  waited: number;
  complete: number;
  streams: StreamResult[];
}
interface DropResult {
  transport: string;
  how: string;
  dropped: boolean;
  recovery_ms?: number;
  reconnects: number;
  timed_out: boolean;
  terminal?: string;
  failure?: string;
  lost: number;
  duplicated: number;
  complete: boolean;
}

/** What compare-view.js puts on `window` for tests and the bench. */
interface Experiments {
  relayExperiments: {
    manyStreams(options: object): Promise<ManyResult>;
    dropAndRecover(options: object): Promise<DropResult>;
  };
}

let relay: RelayServer;
let nginx: Nginx;
let proxy: CutProxy;
let dir: string;
const browsers: { h1?: Browser; h2?: Browser } = {};
const pages: Page[] = [];
let pageErrors: string[] = [];

async function openCompare(browser: Browser, origin: string): Promise<Page> {
  const page = await browser.newPage();
  pages.push(page);
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`${origin}/web/compare.html`);
  await page.waitForSelector('body[data-ready="true"]');
  return page;
}

function manyStreams(page: Page, transport: string, n: number): Promise<ManyResult> {
  return page.evaluate(
    (options) => (window as unknown as Experiments).relayExperiments.manyStreams(options),
    { transport, n, message: LONG, timeoutMs: 25_000 },
  );
}

function dropAndRecover(page: Page, transport: string, byNetwork: boolean): Promise<DropResult> {
  return page.evaluate(
    ({ options, byNetwork }) => {
      const w = window as unknown as Experiments & { relayCut: () => Promise<number> };
      return w.relayExperiments.dropAndRecover(byNetwork ? { ...options, cut: () => w.relayCut() } : options);
    },
    { options: { transport, message: PACED, dropAfterTokens: 10, timeoutMs: 25_000 }, byNetwork },
  );
}

describe.skipIf(CHROMIUM === undefined || NGINX === undefined)(
  'SSE or WebSocket, measured in Chromium',
  { timeout: 60_000 },
  () => {
    beforeAll(async () => {
      relay = await startTestRelay();
      dir = mkdtempSync(join(tmpdir(), 'relay-tls-'));
      const host = new URL(relay.url).host;
      nginx = await startNginx(NGINX!, 'nginx-tls.conf', [host], await selfSignedCertificate(dir));
      proxy = await startCutProxy(host);
      browsers.h1 = await launchChromium(CHROMIUM!, false);
      browsers.h2 = await launchChromium(CHROMIUM!, true);
    }, 60_000);

    afterAll(async () => {
      await browsers.h1?.close();
      await browsers.h2?.close();
      await proxy?.close();
      await nginx?.stop();
      await relay?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    afterEach(async () => {
      for (const page of pages.splice(0)) await page.close();
      const errors = pageErrors;
      pageErrors = [];
      expect(errors, 'uncaught errors in the page').toEqual([]);
    });

    describe.each(SSE_TRANSPORTS)('%s, seven streams from one page', (transport) => {
      it('over HTTP/1.1 the seventh waits for one of the first six to finish', async () => {
        const page = await openCompare(browsers.h1!, nginx.url);
        const result = await manyStreams(page, transport, 7);
        expect(result.protocol).toBe('http/1.1');
        expect(result.timed_out).toBe(false);
        expect(result.complete).toBe(7);
        // Six connections per origin: exactly one stream got its first token after another ended.
        expect(result.streams.filter((s) => s.waited).map((s) => s.index)).toHaveLength(1);
        expect(result.waited).toBe(1);
      });

      it('over HTTP/2 none waits: all seven get a first token before any finishes', async () => {
        const page = await openCompare(browsers.h2!, nginx.url);
        const result = await manyStreams(page, transport, 7);
        expect(result.protocol).toBe('h2');
        expect(result.timed_out).toBe(false);
        expect(result.complete).toBe(7);
        expect(result.waited).toBe(0);
      });
    });

    it('one WebSocket carries seven streams without waiting, even when HTTP/2 is off', async () => {
      const page = await openCompare(browsers.h1!, nginx.url);
      const result = await manyStreams(page, 'ws', 7);
      expect(result.protocol).toBe('websocket');
      expect(result.complete).toBe(7);
      expect(result.waited).toBe(0);
    });

    it('the compare view, reached from the chat page, runs both experiments from its buttons', async () => {
      const page = await openCompare(browsers.h2!, nginx.url);
      await page.goto(`${nginx.url}/`);
      await page.click('[data-testid="compare-link"]');
      await page.waitForSelector('body[data-ready="true"]');
      await page.selectOption('[data-testid="compare-n"]', '6');
      await page.fill('[data-testid="compare-message"]', 'Short [[sim tokens=20 tps=100]]');
      await page.click('[data-testid="run-many"]');
      await page.waitForFunction(
        () =>
          document.body.dataset.running === 'false' &&
          document.querySelectorAll('#live-rows tr').length === 3,
        undefined,
        { timeout: 30_000 },
      );
      await page.click('[data-testid="run-drop"]');
      await page.waitForFunction(
        () =>
          document.body.dataset.running === 'false' &&
          document.querySelectorAll('#live-rows tr').length === 6,
        undefined,
        { timeout: 30_000 },
      );
      const rows = await page
        .locator('#live-rows tr')
        .evaluateAll((trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent)));
      expect(rows.map((r) => r[1])).toEqual([
        'EventSource',
        'fetch + SSE',
        'WebSocket',
        'EventSource',
        'fetch + SSE',
        'WebSocket',
      ]);
      expect(rows.slice(0, 3).map((r) => [r[0], r[4], r[6]])).toEqual(
        Array(3).fill(['6 streams', '0 of 6', '6 of 6']),
      );
      expect(rows.slice(0, 2).map((r) => r[2])).toEqual(['h2', 'h2']);
      expect(rows.slice(3).map((r) => [r[0], r[6]])).toEqual(Array(3).fill(['drop (page)', 'yes · 0 · 0']));
      expect(await page.locator('[data-testid="compare-status"]').textContent()).toBe('done.');
      // Beside them, the benchmark's recorded figures (src/web/compare-figures.js), with their source.
      expect(await page.locator('[data-testid="figures-source"]').textContent()).toMatch(
        /^npm run bench .* at \w+/,
      );
      expect(await page.locator('[data-testid="bench-results"] tbody tr').count()).toBeGreaterThan(0);
    });

    describe.each(TRANSPORTS)('%s drop and recover', (transport) => {
      it('a drop by the page loses and repeats nothing', async () => {
        const page = await openCompare(browsers.h2!, nginx.url);
        const result = await dropAndRecover(page, transport, false);
        expect(result).toMatchObject({
          dropped: true,
          terminal: 'done',
          lost: 0,
          duplicated: 0,
          complete: true,
        });
        expect(result.reconnects).toBeGreaterThanOrEqual(1);
        expect(result.recovery_ms).toBeGreaterThan(0);
      });

      it('a cut by the network (every socket reset) loses and repeats nothing', async () => {
        const page = await openCompare(browsers.h1!, proxy.url);
        await page.exposeFunction('relayCut', () => proxy.cut());
        const result = await dropAndRecover(page, transport, true);
        expect(result).toMatchObject({
          how: 'network',
          dropped: true,
          terminal: 'done',
          lost: 0,
          duplicated: 0,
          complete: true,
        });
        // EventSource's recovery is the browser's own reconnect (retry: 1000, Last-Event-ID).
        expect(result.reconnects).toBeGreaterThanOrEqual(1);
        expect(result.recovery_ms).toBeGreaterThan(0);
      });
    });
  },
);
