/**
 * Live numbers for one stream, measured in the page: time to first token (from the moment the
 * request left), tokens per second, events, inter-token gaps, and seq continuity (gaps and
 * duplicates across drops and resumes: the proof that no text was lost or repeated).
 */
import { TOKEN_TYPES } from './protocol.js';

/** Most recent inter-token gaps kept for the chart. */
const MAX_GAPS = 400;

export function createStats(now = performance.now()) {
  return {
    startedAt: now,
    /** @type {number | undefined} */
    firstTokenAt: undefined,
    /** @type {number | undefined} */
    lastTokenAt: undefined,
    /** @type {number | undefined} */
    endedAt: undefined,
    tokens: 0,
    events: 0,
    /** @type {number[]} milliseconds between consecutive token events */
    gapsMs: [],
    /** @type {boolean[]} per gap in gapsMs: true when the gap ended at a resume (it spans the reconnect) */
    gapAfterResume: [],
    /** a resume happened since the last token: the next gap spans it */
    resumePending: false,
    lastSeq: 0,
    /** seq numbers skipped (text lost); the log starts at seq 1 */
    seqGaps: 0,
    /** events whose seq was already seen (text repeated) */
    duplicates: 0,
  };
}

/** @typedef {ReturnType<typeof createStats>} Stats */

/**
 * @param {Stats} stats
 * @param {{ type: string, seq?: number }} event
 */
export function recordEvent(stats, event, now = performance.now()) {
  stats.events += 1;
  if (typeof event.seq === 'number') {
    if (event.seq <= stats.lastSeq) stats.duplicates += 1;
    else {
      stats.seqGaps += event.seq - stats.lastSeq - 1;
      stats.lastSeq = event.seq;
    }
  }
  if (TOKEN_TYPES.has(event.type)) {
    if (stats.lastTokenAt === undefined) stats.firstTokenAt = now;
    else {
      stats.gapsMs.push(now - stats.lastTokenAt);
      stats.gapAfterResume.push(stats.resumePending);
      if (stats.gapsMs.length > MAX_GAPS) {
        stats.gapsMs.shift();
        stats.gapAfterResume.shift();
      }
    }
    stats.resumePending = false;
    stats.lastTokenAt = now;
    stats.tokens += 1;
  }
}

/**
 * A resume happened: the gap up to the next token spans the reconnect, so the chart marks it
 * (and keeps it out of its median).
 * @param {Stats} stats
 */
export function markResume(stats) {
  stats.resumePending = true;
}

/** @param {Stats} stats */
export function summarize(stats) {
  const ttftMs = stats.firstTokenAt === undefined ? undefined : stats.firstTokenAt - stats.startedAt;
  const span =
    stats.firstTokenAt !== undefined && stats.lastTokenAt !== undefined
      ? stats.lastTokenAt - stats.firstTokenAt
      : 0;
  const tokensPerSecond = stats.tokens > 1 && span > 0 ? ((stats.tokens - 1) * 1000) / span : undefined;
  const end = stats.endedAt ?? performance.now();
  return {
    ttftMs,
    tokensPerSecond,
    tokens: stats.tokens,
    events: stats.events,
    totalMs: end - stats.startedAt,
    seqGaps: stats.seqGaps,
    duplicates: stats.duplicates,
    lastSeq: stats.lastSeq,
  };
}

/** @param {number | undefined} ms */
export function formatMs(ms) {
  if (ms === undefined) return '—';
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

/** @param {number | undefined} rate */
export function formatRate(rate) {
  if (rate === undefined) return '—';
  return rate < 10 ? rate.toFixed(1) : String(Math.round(rate));
}
