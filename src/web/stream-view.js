/**
 * One stream on screen: the answer as it arrives, its state, errors, the usage receipt, the
 * resume / continuity line, live stats and the gap chart. `view.handlers` is what a transport's
 * `start(request, handlers)` is given; `view.done` settles when the stream has ended.
 */
import { createGapChart } from './gap-chart.js';
import { createStats, formatMs, formatRate, markResume, recordEvent, summarize } from './stream-stats.js';

/**
 * @typedef {object} TransportHandlers
 * @property {(info: { streamId: string }) => void} onOpen
 * @property {(event: Record<string, any>) => void} onEvent
 * @property {(info: { after: number }) => void} onDrop
 * @property {(info: { after: number, how: string }) => void} onResume
 * @property {(failure: import('./failures.js').Failure) => void} onFail
 */

/** @typedef {'connecting' | 'streaming' | 'dropped' | 'done' | 'error' | 'cancelled'} ViewState */

/** No event for this long while streaming: say so in the status line. */
const QUIET_MS = 5000;

/**
 * @param {string} tag
 * @param {string} [className]
 * @param {string} [testid]
 */
function el(tag, className, testid) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (testid) node.dataset.testid = testid;
  return node;
}

/** @param {Record<string, any> | undefined} usage */
export function formatUsage(usage) {
  if (!usage) return 'usage unknown';
  let text = `${usage.input_tokens} input + ${usage.output_tokens} output tokens`;
  if (usage.cache_read_input_tokens) text += `, ${usage.cache_read_input_tokens} cache read`;
  if (usage.cache_creation_input_tokens) text += `, ${usage.cache_creation_input_tokens} cache write`;
  if (usage.estimated) text += ' (estimated)';
  return text;
}

/**
 * @param {HTMLElement} parent
 * @param {{ label: string, testid?: string }} options
 */
export function createStreamView(parent, { label, testid = 'stream' }) {
  const root = el('article', 'stream', testid);
  root.dataset.state = 'connecting';
  root.dataset.transport = label;
  root.setAttribute('aria-label', `${label} stream`);

  const header = el('header', 'stream-head');
  const name = el('span', 'transport-name');
  name.textContent = label;
  const status = el('span', 'status', 'status');
  status.setAttribute('role', 'status');
  const idEl = el('code', 'stream-id', 'stream-id');
  header.append(name, status, idEl);

  const thinking = el('details', 'thinking');
  thinking.hidden = true;
  const thinkingSummary = el('summary');
  thinkingSummary.textContent = 'thinking';
  const thinkingText = el('div', 'thinking-text', 'thinking-text');
  thinking.append(thinkingSummary, thinkingText);

  const answer = el('div', 'answer', 'answer-text');
  const answerText = document.createTextNode('');
  answer.append(answerText);
  const tools = el('pre', 'tools', 'tool-text');
  tools.hidden = true;
  const error = el('p', 'error', 'error');
  error.setAttribute('role', 'alert');
  error.hidden = true;
  const resumeLine = el('p', 'resume', 'resume-line');
  resumeLine.hidden = true;
  const receipt = el('p', 'receipt', 'receipt');
  receipt.hidden = true;

  const statsBox = el('dl', 'stats');
  /** @param {string} term @param {string} id */
  const stat = (term, id) => {
    const wrap = el('div');
    const dt = el('dt');
    dt.textContent = term;
    const dd = el('dd', undefined, id);
    dd.textContent = '—';
    wrap.append(dt, dd);
    statsBox.append(wrap);
    return dd;
  };
  const ttftEl = stat('first token', 'stat-ttft');
  const tpsEl = stat('tokens/s', 'stat-tps');
  const eventsEl = stat('events', 'stat-events');
  const tokensEl = stat('tokens', 'stat-tokens');
  const totalEl = stat('total', 'stat-total');

  root.append(header, thinking, answer, tools, error, resumeLine, receipt, statsBox);
  const chart = createGapChart(root);
  parent.append(root);

  const stats = createStats();
  /** @type {{ after: number, how: string }[]} */
  const resumes = [];
  let lastTextIndex = -1;
  let lastEventAt = performance.now();
  let finished = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let renderTimer;
  /** @type {(value: { state: ViewState, text: string }) => void} */
  let resolveDone = () => {};
  /** @type {Promise<{ state: ViewState, text: string }>} */
  const done = new Promise((resolve) => {
    resolveDone = resolve;
  });

  /** @param {ViewState} state @param {string} text */
  const setState = (state, text) => {
    root.dataset.state = state;
    status.textContent = text;
  };
  setState('connecting', 'connecting…');

  const render = () => {
    renderTimer = undefined;
    const s = summarize(stats);
    ttftEl.textContent = formatMs(s.ttftMs);
    tpsEl.textContent = formatRate(s.tokensPerSecond);
    eventsEl.textContent = String(s.events);
    tokensEl.textContent = String(s.tokens);
    totalEl.textContent = formatMs(s.totalMs);
    chart.update(stats.gapsMs, stats.gapAfterResume);
    if (resumes.length > 0) {
      const last = resumes[resumes.length - 1];
      const ok = s.seqGaps === 0 && s.duplicates === 0;
      resumeLine.hidden = false;
      resumeLine.classList.toggle('bad', !ok);
      resumeLine.textContent =
        `${ok ? '✓' : '✕'} resumed ${resumes.length > 1 ? `${resumes.length}× ` : ''}at seq ${last.after + 1} ` +
        `(${last.how}) · seq 1–${s.lastSeq} received · ${s.seqGaps} gaps · ${s.duplicates} duplicates`;
      resumeLine.dataset.resumes = String(resumes.length);
      resumeLine.dataset.gaps = String(s.seqGaps);
      resumeLine.dataset.duplicates = String(s.duplicates);
    }
  };
  const scheduleRender = () => {
    renderTimer ??= setTimeout(render, 40);
  };

  const quietTimer = setInterval(() => {
    const quiet = performance.now() - lastEventAt;
    if (root.dataset.state === 'streaming' && quiet > QUIET_MS) {
      status.textContent = `streaming · no event for ${Math.round(quiet / 1000)} s`;
    }
    if (!finished) scheduleRender();
  }, 1000);

  /** @param {ViewState} state @param {string} text */
  const finish = (state, text) => {
    if (finished) return;
    finished = true;
    clearInterval(quietTimer);
    stats.endedAt = performance.now();
    setState(state, text);
    clearTimeout(renderTimer);
    render();
    resolveDone({ state, text: answerText.data });
  };

  /** @param {string} text */
  const showError = (text) => {
    error.hidden = false;
    error.textContent = text;
  };

  /** @param {string} kind @param {string} text */
  const showReceipt = (kind, text) => {
    receipt.hidden = false;
    receipt.dataset.kind = kind;
    receipt.textContent = text;
  };

  /** @type {TransportHandlers} */
  const handlers = {
    onOpen({ streamId }) {
      idEl.textContent = streamId;
      root.dataset.streamId = streamId;
    },
    onEvent(event) {
      if (finished) return;
      lastEventAt = performance.now();
      recordEvent(stats, event, lastEventAt);
      switch (event.type) {
        case 'start':
          setState('streaming', 'streaming');
          break;
        case 'text':
          if (lastTextIndex !== -1 && event.index !== lastTextIndex) answerText.appendData('\n\n');
          lastTextIndex = event.index;
          answerText.appendData(event.text);
          if (root.dataset.state !== 'streaming') setState('streaming', 'streaming');
          break;
        case 'thinking':
          thinking.hidden = false;
          thinkingText.append(event.text);
          break;
        case 'tool_use':
          tools.hidden = false;
          tools.append(`${tools.textContent ? '\n' : ''}tool_use ${event.name} (${event.id}): `);
          break;
        case 'tool_input':
          tools.append(event.partial_json);
          break;
        case 'retry':
          status.textContent = `retrying upstream: attempt ${event.attempt} in ${event.delay_ms} ms (${event.reason})`;
          break;
        case 'done':
          showReceipt('done', `✓ done · stop_reason ${event.stop_reason} · ${formatUsage(event.usage)}`);
          finish('done', 'done');
          break;
        case 'error':
          showError(
            `Upstream error — ${event.code}: ${event.message}${event.retryable ? ' (retryable)' : ''}`,
          );
          showReceipt('error', `✕ ended with error · ${formatUsage(event.usage)}`);
          finish('error', 'error');
          break;
        case 'cancelled':
          showReceipt('cancelled', `■ cancelled (${event.reason}) · ${formatUsage(event.usage)}`);
          finish('cancelled', 'cancelled');
          break;
        default:
          break;
      }
      scheduleRender();
    },
    onDrop({ after }) {
      if (finished) return;
      setState('dropped', `connection dropped after seq ${after} — resuming…`);
    },
    onResume(info) {
      if (finished) return;
      resumes.push(info);
      markResume(stats);
      setState('streaming', `resumed after seq ${info.after}`);
      scheduleRender();
    },
    onFail(failure) {
      const prefix = failure.status ? `${failure.status} ` : '';
      showError(`${prefix}${failure.code}: ${failure.message}`);
      finish('error', 'failed');
    },
  };

  return {
    root,
    handlers,
    done,
    stats,
    get text() {
      return answerText.data;
    },
  };
}
