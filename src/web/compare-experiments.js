/**
 * The browser experiments behind the SSE-or-WebSocket guide, run from one page: the compare view
 * runs them in a visitor's browser, the tests and `relay bench` run them in headless Chromium
 * (`page.evaluate(() => import('/web/compare-experiments.js'))`). Plain data in, plain data out.
 *
 * - manyStreams: N answers started at once over one transport; each stream's time to first token,
 *   and how many streams only got their first token after another stream had ended (over HTTP/1.1
 *   the browser's six connections per origin make the 7th SSE stream wait for a free one).
 * - dropAndRecover: one answer, its connection cut mid-stream (by the page, or by the network
 *   through `cut`), then the time from the cut to the first resumed token, and every seq counted:
 *   lost and duplicated must both be 0.
 */

import {
  COMPARE_TRANSPORTS,
  createWsMux,
  finished,
  newRecord,
  startEventSource,
  startFetchSse,
} from './compare-clients.js';

export { COMPARE_TRANSPORTS, LABELS } from './compare-clients.js';

/** Ask for this when none is given: a paced answer, long enough to overlap N = 24 starts. */
export const DEFAULT_MESSAGE = 'Count slowly, one word at a time. [[sim tokens=60 tps=30]]';

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * @param {() => boolean} check @param {number} deadline performance.now() to give up at
 * @returns {Promise<boolean>} whether it came true in time
 */
async function until(check, deadline) {
  while (!check()) {
    if (performance.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

/** @param {string} transport */
function checkTransport(transport) {
  if (!COMPARE_TRANSPORTS.includes(transport)) {
    throw new Error(`unknown transport ${transport}; one of ${COMPARE_TRANSPORTS.join(', ')}`);
  }
}

/**
 * Starts streams over one transport; the WebSocket ones share one socket.
 * @param {string} transport
 */
function launcher(transport) {
  const mux = transport === 'ws' ? createWsMux() : undefined;
  return {
    /** @param {Record<string, unknown>} request @param {import('./compare-clients.js').StreamRecord} record */
    start(request, record) {
      if (mux !== undefined) return mux.start(request, record);
      return transport === 'eventsource' ? startEventSource(request, record) : startFetchSse(request, record);
    },
    close() {
      mux?.close();
    },
  };
}

/**
 * Seqs 1…last, each once: what a complete stream received.
 * @param {import('./compare-clients.js').StreamRecord} record
 */
export function completeness(record) {
  const unique = new Set(record.seqs);
  const max = record.seqs.reduce((m, s) => Math.max(m, s), 0);
  const duplicated = record.seqs.length - unique.size;
  const lost = max - unique.size;
  return { lost, duplicated, complete: record.terminal === 'done' && lost === 0 && duplicated === 0 };
}

/** @param {number[]} values @param {number} q 0…1 */
export function quantile(values, q) {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** @param {number | undefined} ms */
const round = (ms) => (ms === undefined ? undefined : Math.round(ms * 10) / 10);

/**
 * The protocol the browser used for the relay's HTTP requests since `since` (resource timing's
 * nextHopProtocol: `http/1.1`, `h2`); `undefined` when none was recorded (WebSocket only).
 * @param {number} since
 */
function protocolSince(since) {
  const seen = new Set();
  for (const entry of performance.getEntriesByType('resource')) {
    const timing = /** @type {PerformanceResourceTiming} */ (entry);
    if (timing.startTime >= since && timing.name.includes('/v1/streams') && timing.nextHopProtocol !== '') {
      seen.add(timing.nextHopProtocol);
    }
  }
  return seen.size === 0 ? undefined : [...seen].join(', ');
}

/**
 * N answers started at the same moment over one transport.
 * @param {{ transport: string, n: number, message?: string, timeoutMs?: number }} options
 */
export async function manyStreams({ transport, n, message = DEFAULT_MESSAGE, timeoutMs = 30_000 }) {
  checkTransport(transport);
  const since = performance.now();
  const launch = launcher(transport);
  const records = Array.from({ length: n }, (_, i) => newRecord(transport, i));
  const handles = records.map((record) => launch.start({ message, on_disconnect: 'abort' }, record));
  const allDone = await until(() => records.every(finished), since + timeoutMs);
  for (const handle of handles) handle.stop();
  launch.close();

  const firstEnd = Math.min(...records.map((r) => r.endedAt ?? Number.POSITIVE_INFINITY));
  const streams = records.map((r) => ({
    index: r.index,
    ttft_ms: r.firstTokenAt === undefined ? undefined : round(r.firstTokenAt - r.requestedAt),
    total_ms: r.endedAt === undefined ? undefined : round(r.endedAt - r.requestedAt),
    // Its first token came only after another stream of the run had ended.
    waited: r.firstTokenAt !== undefined && r.firstTokenAt > firstEnd,
    terminal: r.terminal,
    failure: r.failure,
    ...completeness(r),
  }));
  const ttfts = /** @type {number[]} */ (streams.map((s) => s.ttft_ms).filter((t) => t !== undefined));
  return {
    transport,
    n,
    protocol: transport === 'ws' ? 'websocket' : protocolSince(since),
    timed_out: !allDone,
    ttft_p50_ms: quantile(ttfts, 0.5),
    ttft_max_ms: ttfts.length === 0 ? undefined : Math.max(...ttfts),
    waited: streams.filter((s) => s.waited).length,
    complete: streams.filter((s) => s.complete).length,
    streams,
  };
}

/**
 * One answer whose connection is cut after `dropAfterTokens` tokens, then recovered.
 * `cut` cuts it from outside (a test's proxy closing every socket: EventSource then reconnects by
 * itself); without one the page drops its own connection.
 * @param {{ transport: string, message?: string, dropAfterTokens?: number, timeoutMs?: number,
 *   cut?: () => Promise<unknown> }} options
 */
export async function dropAndRecover({
  transport,
  message = DEFAULT_MESSAGE,
  dropAfterTokens = 10,
  timeoutMs = 30_000,
  cut,
}) {
  checkTransport(transport);
  const started = performance.now();
  const deadline = started + timeoutMs;
  const launch = launcher(transport);
  const record = newRecord(transport, 0);
  // grace (the default): the relay keeps generating into the log while no one is connected.
  const handle = launch.start({ message, on_disconnect: 'grace' }, record);
  const tokensSoFar = () => record.tokens.filter(Boolean).length;
  const reached = await until(() => tokensSoFar() >= dropAfterTokens || finished(record), deadline);
  /** @type {number | undefined} */
  let droppedAt;
  let before = 0;
  if (reached && !finished(record)) {
    droppedAt = performance.now();
    before = record.seqs.length;
    if (cut === undefined) handle.drop();
    else await cut();
  }
  const ended = await until(() => finished(record), deadline);
  handle.stop();
  launch.close();

  /** @type {number | undefined} */
  let resumedAt;
  for (let i = before; droppedAt !== undefined && i < record.seqs.length; i++) {
    if (record.tokens[i] === true) {
      resumedAt = record.times[i];
      break;
    }
  }
  return {
    transport,
    how: cut === undefined ? 'page' : 'network',
    dropped: droppedAt !== undefined,
    dropped_after_seq: droppedAt === undefined ? undefined : record.seqs[before - 1],
    recovery_ms:
      droppedAt === undefined || resumedAt === undefined ? undefined : round(resumedAt - droppedAt),
    reconnects: record.reconnects,
    timed_out: !ended,
    terminal: record.terminal,
    failure: record.failure,
    events: record.seqs.length,
    ...completeness(record),
  };
}
