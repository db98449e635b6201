/**
 * The demo page in a real browser: Debian's Chromium driven by playwright-core against a real
 * relay on port 0 (zero-delay simulator; `[[sim …]]` directives pace the streams that must still
 * be running when a button is pressed). The answers are compared with what the relay gives over
 * plain fetch for the same request (the simulator is deterministic).
 *
 * `RELAY_SCREENSHOT=1` also writes docs/race.png from a paced race.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer } from '../src/server.js';
import { requireComponent } from './helpers/components.js';
import { startTestRelay } from './helpers/relay.js';
import { readSse, relayEvents } from './helpers/sse.js';

/** Debian's Chromium; a missing one fails this file with the install command (RELAY_TEST_SKIP=chromium skips it). */
const CHROMIUM = requireComponent('chromium');

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TRANSPORTS = ['sse', 'eventsource', 'ws'] as const;
type Transport = (typeof TRANSPORTS)[number];

/** A stream that is still running ~2 s after it starts (room for a slow CI machine to press Drop). */
const PACED = '[[sim tokens=200 tps=100]]';
/** A stream that runs for minutes, for Stop. */
const LONG = '[[sim tokens=1000 tps=40]]';

let relay: RelayServer;
let browser: Browser;
let pageErrors: string[] = [];
const pages: Page[] = [];

interface Reference {
  text: string;
  events: number;
  tokens: number;
  terminal: Record<string, unknown> & { type: string };
}

/** What the relay answers over plain fetch + SSE for the same request. */
async function reference(request: Record<string, unknown>): Promise<Reference> {
  const res = await fetch(`${relay.url}/v1/streams`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(request),
  });
  expect(res.status).toBe(200);
  const events = relayEvents((await readSse(res)).frames);
  const texts = events.filter((e) => e.type === 'text').map((e) => String(e.text));
  return { text: texts.join(''), events: events.length, tokens: texts.length, terminal: events.at(-1)! };
}

async function openPage(url = relay.url, viewport = { width: 1280, height: 900 }): Promise<Page> {
  const page = await browser.newPage({ viewport });
  pages.push(page);
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`${url}/`);
  await page.waitForSelector('body[data-ready="true"]');
  return page;
}

/** Fills the prompt, picks the transport and presses Send; returns the new turn (by index, not `.last()`). */
async function send(page: Page, transport: Transport | 'race', prompt: string): Promise<Locator> {
  const turns = page.locator('[data-testid="turn"]');
  const before = await turns.count();
  await page.check(`[data-testid="transport-${transport}"]`);
  await page.fill('[data-testid="prompt"]', prompt);
  await page.click('[data-testid="send"]');
  return turns.nth(before);
}

/** Waits until the page runs nothing (every stream of the turn has ended). */
async function idle(page: Page, timeout = 15_000): Promise<void> {
  await page.waitForFunction(() => document.body.dataset.running === 'false', undefined, { timeout });
}

/** Waits until a stream view has shown at least `n` tokens. */
async function tokensAtLeast(view: Locator, n: number): Promise<void> {
  await view.locator(`[data-testid="stat-tokens"]`).evaluate(
    (el, min) =>
      new Promise<void>((resolve, reject) => {
        const deadline = Date.now() + 10_000;
        const check = () => {
          if (Number(el.textContent) >= min) resolve();
          else if (Date.now() > deadline) reject(new Error(`fewer than ${min} tokens: ${el.textContent}`));
          else setTimeout(check, 10);
        };
        check();
      }),
    n,
  );
}

const text = async (view: Locator, testid: string) =>
  (await view.locator(`[data-testid="${testid}"]`).textContent()) ?? '';
const answer = (view: Locator) =>
  view.locator('[data-testid="answer-text"]').evaluate((el) => el.textContent ?? '');

describe.skipIf(CHROMIUM === undefined)('the demo page in Chromium', { timeout: 45_000 }, () => {
  beforeAll(async () => {
    relay = await startTestRelay();
    browser = await chromium.launch({
      executablePath: CHROMIUM!, // defined: the describe is skipped otherwise
      args: [
        '--headless=new',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-quic',
        '--no-first-run',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await relay?.close();
  });

  afterEach(async () => {
    for (const page of pages.splice(0)) await page.close();
    const errors = pageErrors;
    pageErrors = [];
    expect(errors, 'uncaught errors in the page').toEqual([]);
  });

  describe.each(TRANSPORTS)('over %s', (transport) => {
    it('shows the full answer, the done receipt and the stats', async () => {
      const prompt = `Explain ${transport} streaming in a few words [[sim tokens=60]]`;
      const expected = await reference({ message: prompt });
      const page = await openPage();
      const turn = await send(page, transport, prompt);
      await idle(page);
      const view = turn.locator('[data-testid="stream"]');
      expect(await view.getAttribute('data-state')).toBe('done');
      expect(await answer(view)).toBe(expected.text);
      expect(await text(view, 'receipt')).toMatch(
        /done · stop_reason end_turn · \d+ input \+ 60 output tokens/,
      );
      expect(await text(view, 'stat-events')).toBe(String(expected.events));
      expect(await text(view, 'stat-tokens')).toBe(String(expected.tokens));
      expect(await text(view, 'stat-ttft')).toMatch(/ms$/);
      expect(await view.locator('[data-testid="gap-chart"]').getAttribute('data-gaps')).toBe(
        String(expected.tokens - 1),
      );
      expect(await view.locator('[data-testid="error"]').isHidden()).toBe(true);
      expect(await view.getAttribute('data-stream-id')).toMatch(/^str_/);
    });

    it('Stop sends a real cancel and shows the usage receipt', async () => {
      const page = await openPage();
      const turn = await send(page, transport, `Go on and on ${LONG}`);
      const view = turn.locator('[data-testid="stream"]');
      await tokensAtLeast(view, 5);
      await page.click('[data-testid="stop"]');
      await idle(page);
      expect(await view.getAttribute('data-state')).toBe('cancelled');
      const receipt = view.locator('[data-testid="receipt"]');
      expect(await receipt.getAttribute('data-kind')).toBe('cancelled');
      expect(await text(view, 'receipt')).toMatch(/cancelled \(client\) · \d+ input \+ \d+ output tokens/);
      // The relay itself says the stream was cancelled, well before its 1000 tokens.
      const id = await view.getAttribute('data-stream-id');
      const snapshot = (await (await fetch(`${relay.url}/v1/streams/${id}`)).json()) as {
        state: string;
        usage: { output_tokens: number };
      };
      expect(snapshot.state).toBe('cancelled');
      expect(snapshot.usage.output_tokens).toBeLessThan(1000);
      expect((await answer(view)).length).toBeGreaterThan(0);
    });

    it('drop connection resumes with exactly the full text: no gap, no duplicate', async () => {
      // As long as PACED (~2 s) but fewer tokens, so the resume gap stays among the 150 bars shown.
      const prompt = 'Keep talking [[sim tokens=120 tps=60]]';
      const expectedP = reference({ message: prompt });
      const page = await openPage();
      const turn = await send(page, transport, prompt);
      const view = turn.locator('[data-testid="stream"]');
      await tokensAtLeast(view, 15);
      await page.click('[data-testid="drop"]');
      await idle(page);
      const expected = await expectedP;
      expect(await view.getAttribute('data-state')).toBe('done');
      expect(await answer(view)).toBe(expected.text);
      const line = view.locator('[data-testid="resume-line"]');
      expect(await line.getAttribute('data-resumes')).toBe('1');
      expect(await line.getAttribute('data-gaps')).toBe('0');
      expect(await line.getAttribute('data-duplicates')).toBe('0');
      expect(await text(view, 'resume-line')).toMatch(/resumed at seq \d+ .* · 0 gaps · 0 duplicates/);
      expect(await text(view, 'stat-events')).toBe(String(expected.events));
      // The gap that spans the reconnect is marked, kept out of the median, and the scale follows
      // the median (at most four of them), not that one long gap.
      const chart = view.locator('[data-testid="gap-chart"]');
      expect(await chart.getAttribute('data-resume-gaps')).toBe('1');
      expect(await chart.locator('rect.resume').count()).toBe(1);
      expect(await chart.locator('figcaption').textContent()).toMatch(/resume gap \d+ ms \(marked\)/);
      const scale = Number(await chart.getAttribute('data-scale-ms'));
      const median = Number(await chart.getAttribute('data-median-ms'));
      expect(scale).toBeLessThanOrEqual(Math.max(1, 4 * median) + 0.001);
    });

    it('an upstream failure shows the error, never a silent stall', async () => {
      const page = await openPage();
      const turn = await send(page, transport, 'This fails upstream [[sim status=500]]');
      await idle(page);
      const view = turn.locator('[data-testid="stream"]');
      expect(await view.getAttribute('data-state')).toBe('error');
      expect(await text(view, 'error')).toMatch(/^Upstream error — \w+: .+/);
      expect(await view.locator('[data-testid="receipt"]').getAttribute('data-kind')).toBe('error');
    });

    it('invalid input shows the relay’s 400 message', async () => {
      const page = await openPage();
      await page.fill('[data-testid="max-tokens"]', '0');
      const turn = await send(page, transport, 'Hello');
      await idle(page);
      const view = turn.locator('[data-testid="stream"]');
      expect(await view.getAttribute('data-state')).toBe('error');
      const shown = await text(view, 'error');
      // The WebSocket notice names the field inside the start frame: `request.max_tokens`.
      expect(shown).toMatch(/invalid_request: (request\.)?max_tokens: /);
      if (transport !== 'ws') expect(shown).toMatch(/^400 invalid_request/);
    });

    it('an unreachable relay is reported plainly', async () => {
      const doomed = await startTestRelay();
      const page = await openPage(doomed.url);
      await doomed.close();
      const turn = await send(page, transport, 'Anyone there?');
      await idle(page);
      const view = turn.locator('[data-testid="stream"]');
      expect(await view.getAttribute('data-state')).toBe('error');
      expect(await text(view, 'error')).toMatch(/relay_unreachable: the relay at .* is unreachable/);
    });
  });

  it('the page asks for batched WebSocket frames and shows every event of each array once', async () => {
    const prompt = 'Batched frames please [[sim tokens=150]]';
    const expected = await reference({ message: prompt });
    const page = await openPage();
    const urls: string[] = [];
    const frames: string[] = [];
    page.on('websocket', (socket) => {
      urls.push(socket.url());
      socket.on('framereceived', (frame) => {
        if (typeof frame.payload === 'string') frames.push(frame.payload);
      });
    });
    const turn = await send(page, 'ws', prompt);
    await idle(page);
    const view = turn.locator('[data-testid="stream"]');
    expect(urls).toHaveLength(1);
    expect(new URL(urls[0]!).searchParams.get('frames')).toBe('batch');
    // Every relay event came inside an array, and the page counted each exactly once.
    const events = frames.filter((f) => f.startsWith('[')).flatMap((f) => JSON.parse(f) as unknown[]);
    expect(events).toHaveLength(expected.events);
    expect(frames.every((f) => f.startsWith('['))).toBe(true);
    expect(await view.getAttribute('data-state')).toBe('done');
    expect(await answer(view)).toBe(expected.text);
    expect(await text(view, 'stat-events')).toBe(String(expected.events));
  });

  it('an error after some text keeps the text and shows the error', async () => {
    const prompt = 'Half an answer [[sim tokens=40 error_after=10]]';
    const expected = await reference({ message: prompt });
    expect(expected.terminal.type).toBe('error');
    const page = await openPage();
    const turn = await send(page, 'ws', prompt);
    await idle(page);
    const view = turn.locator('[data-testid="stream"]');
    expect(await view.getAttribute('data-state')).toBe('error');
    expect(await answer(view)).toBe(expected.text);
    expect(await text(view, 'error')).toContain(`Upstream error — ${expected.terminal.code}: `);
  });

  it('web search: the search and its results, numbered citation markers and their sources under the answer', async () => {
    const prompt = 'relay streaming [[sim web_search=1 tokens=20]]';
    const expected = await reference({ message: prompt });
    const page = await openPage();
    const turn = await send(page, 'sse', prompt);
    await idle(page);
    const view = turn.locator('[data-testid="stream"]');
    expect(await view.getAttribute('data-state')).toBe('done');
    const search = view.locator('[data-testid="activity-item"][data-tool="web_search"]');
    await expect.poll(() => search.isVisible()).toBe(true);
    expect(await search.textContent()).toBe('searched the web for “relay streaming” · 3 results');
    const markers = view.locator('[data-testid="cite-marker"]');
    expect(await markers.allTextContents()).toEqual(['[1]', '[2]']);
    expect(await markers.first().isVisible()).toBe(true);
    const sources = view.locator('[data-testid="source"]');
    expect(await sources.count()).toBe(2);
    expect(await sources.first().isVisible()).toBe(true);
    expect(await sources.first().locator('a').getAttribute('href')).toMatch(/^https:\/\/example\.com\//);
    expect(await sources.first().textContent()).toMatch(
      /^About relay \(1\) — About relay \(1\): relay streaming$/,
    );
    // The answer's text is the relay's, markers aside.
    expect((await answer(view)).replace(/\[\d+\]/g, '')).toBe(expected.text);
  });

  it('thinking folded, redacted thinking and unknown types as markers, a refusal with its category', async () => {
    const prompt =
      'x [[sim thinking=1 redacted_thinking=1 unknown_block=1 unknown_delta=1 refusal=cyber tokens=12]]';
    const page = await openPage();
    const turn = await send(page, 'ws', prompt);
    await idle(page);
    const view = turn.locator('[data-testid="stream"]');
    expect(await view.getAttribute('data-state')).toBe('done');
    const thinking = view.locator('details.thinking');
    expect(await thinking.isVisible()).toBe(true);
    expect(await thinking.getAttribute('open')).toBeNull();
    expect(await view.locator('[data-testid="thinking-text"]').isVisible()).toBe(false);
    expect(await text(view, 'redacted-thinking')).toBe('redacted thinking');
    expect(await view.locator('[data-testid="marker"]').allTextContents()).toEqual([
      '[sim_hologram]',
      '[sim_sparkle_delta] on block 3',
    ]);
    expect(await text(view, 'refusal')).toBe('Claude declined to answer (category: cyber)');
    expect(await view.locator('[data-testid="refusal"]').isVisible()).toBe(true);
  });

  it('race mode fills both panes with the same text and shows the stats', async () => {
    const prompt = 'Race me [[sim tokens=80]]';
    const expected = await reference({ message: prompt });
    const page = await openPage();
    const turn = await send(page, 'race', prompt);
    await idle(page);
    for (const pane of ['pane-sse', 'pane-ws']) {
      const view = turn.locator(`[data-testid="${pane}"]`);
      expect(await view.getAttribute('data-state'), pane).toBe('done');
      expect(await answer(view), pane).toBe(expected.text);
      expect(await text(view, 'stat-events'), pane).toBe(String(expected.events));
      expect(await text(view, 'stat-ttft'), pane).toMatch(/ms$/);
      expect(await text(view, 'stat-tps'), pane).toMatch(/^\d+(\.\d)?$/);
      expect(await view.locator('[data-testid="gap-chart"]').getAttribute('data-gaps'), pane).toBe(
        String(expected.tokens - 1),
      );
      expect(await view.locator('[data-testid="gap-chart"] rect').count(), pane).toBe(expected.tokens - 1);
    }
    expect(await turn.locator('[data-testid="pane-sse"]').getAttribute('data-transport')).toBe('fetch + SSE');
    expect(await turn.locator('[data-testid="pane-ws"]').getAttribute('data-transport')).toBe('WebSocket');
    const verdict = turn.locator('[data-testid="race-verdict"]');
    expect(await verdict.getAttribute('data-same')).toBe('true');
    expect(await text(turn, 'race-verdict')).toMatch(/first token: .* · finished: .* · ✓ same text on both/);
  });

  it('drop in race mode resumes both panes without loss', async () => {
    const prompt = `Race and drop ${PACED}`;
    const expectedP = reference({ message: prompt });
    const page = await openPage();
    const turn = await send(page, 'race', prompt);
    await tokensAtLeast(turn.locator('[data-testid="pane-sse"]'), 10);
    await tokensAtLeast(turn.locator('[data-testid="pane-ws"]'), 10);
    await page.click('[data-testid="drop"]');
    await idle(page);
    const expected = await expectedP;
    for (const pane of ['pane-sse', 'pane-ws']) {
      const view = turn.locator(`[data-testid="${pane}"]`);
      expect(await answer(view), pane).toBe(expected.text);
      const line = view.locator('[data-testid="resume-line"]');
      expect(await line.getAttribute('data-resumes'), pane).toBe('1');
      expect(await line.getAttribute('data-gaps'), pane).toBe('0');
      expect(await line.getAttribute('data-duplicates'), pane).toBe('0');
    }
  });

  it('multi-turn keeps the history on the relay under one conversation_id', async () => {
    const page = await openPage();
    const first = await send(page, 'sse', 'My name is Ada [[sim tokens=12]]');
    await idle(page);
    const second = await send(page, 'ws', 'What is my name? [[sim tokens=12]]');
    await idle(page);
    const id = await page.locator('[data-testid="transcript"]').getAttribute('data-conversation-id');
    expect(id).toMatch(/^web-[0-9a-f]{24}$/);
    expect(await text(page.locator('body'), 'conversation')).toContain(`${id} · 2 turns`);
    const res = await fetch(`${relay.url}/v1/conversations/${id}`);
    expect(res.status).toBe(200);
    const kept = JSON.stringify(await res.json());
    for (const view of [first, second].map((t) => t.locator('[data-testid="stream"]'))) {
      expect(await view.getAttribute('data-state')).toBe('done');
      expect(kept).toContain(JSON.stringify(await answer(view)).slice(1, -1));
    }
    expect(kept).toContain('My name is Ada');
    expect(kept).toContain('What is my name?');
    // The second turn was sent with the first one as history: more input tokens.
    const inputTokens = async (t: Locator) =>
      Number((await text(t, 'receipt')).match(/(\d+) input/)?.[1] ?? Number.NaN);
    expect(await inputTokens(second)).toBeGreaterThan(await inputTokens(first));

    await page.click('[data-testid="new-chat"]');
    expect(await page.locator('[data-testid="turn"]').count()).toBe(0);
    expect(await page.locator('[data-testid="transcript"]').getAttribute('data-conversation-id')).toBeNull();
  });

  it('says the upstream is simulated and which model is in use, from /v1/models', async () => {
    const page = await openPage();
    const info = page.locator('[data-testid="upstream-info"]');
    expect(await info.getAttribute('data-simulated')).toBe('true');
    expect(await info.textContent()).toMatch(
      /^upstream: simulated .* · model: claude-sonnet-5-5 — Claude Sonnet 5\.5 \(relay default\)$/,
    );
    const suggested = await page
      .locator('[data-testid="model-suggestions"] option')
      .evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value));
    expect(suggested).toContain('claude-sonnet-5-5');
    expect(suggested).toContain('claude-sim');
    await page.fill('[data-testid="model"]', 'claude-haiku-4-5-20251001');
    expect(await info.textContent()).toContain('model: claude-haiku-4-5-20251001 — Claude Haiku 4.5 (typed)');
    await page.fill('[data-testid="model"]', 'claude-nope');
    expect(await info.getAttribute('data-listed')).toBe('false');
    expect(await info.textContent()).toContain(
      "model: claude-nope (typed; not in the upstream's /v1/models)",
    );
  });

  it('an empty prompt asks for one instead of sending', async () => {
    const page = await openPage();
    await page.click('[data-testid="send"]');
    expect(await text(page.locator('body'), 'notice')).toBe('Type a prompt first.');
    expect(await page.locator('[data-testid="turn"]').count()).toBe(0);
  });

  it.runIf(process.env.RELAY_SCREENSHOT === '1')('writes docs/race.png from a paced race', async () => {
    const page = await openPage(relay.url, { width: 1280, height: 820 });
    // The model suffix paces the simulator without showing a directive in the prompt.
    await page.fill('[data-testid="model"]', 'claude-sim#tokens=140,tps=70,ttft=250');
    await page.fill('[data-testid="system"]', 'You are a concise streaming expert.');
    const turn = await send(page, 'race', 'How do SSE and WebSocket differ for streaming LLM output?');
    await idle(page, 20_000);
    expect(await turn.locator('[data-testid="race-verdict"]').getAttribute('data-same')).toBe('true');
    await page.evaluate(() => window.scrollTo(0, 0));
    mkdirSync(join(ROOT, 'docs'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'docs', 'race.png') });
  });
});
