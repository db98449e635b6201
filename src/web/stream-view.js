/**
 * One stream on screen: the answer as it arrives, its state, errors, the usage receipt, the
 * resume / continuity line, live stats and the gap chart. Besides the text: thinking folded,
 * server-tool activity and results, citations as numbered markers with their sources under the
 * answer, a refusal notice, and a small marker for anything the page does not know
 * (answer-parts.js decides the wording). `view.handlers` is what a transport's
 * `start(request, handlers)` is given; `view.done` settles when the stream has ended.
 */
import {
  codeOf,
  createSources,
  describeBlock,
  describeDelta,
  describeRefusal,
  describeToolCall,
} from './answer-parts.js';
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

/** Class and test id of a block's activity line, by what answer-parts.js made of it. */
const BLOCK_LOOK = {
  result: ['tool-call', 'activity-item'],
  redacted: ['marker redacted', 'redacted-thinking'],
  unknown: ['marker', 'marker'],
};

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

  const activity = el('ul', 'activity', 'activity');
  activity.hidden = true;
  const answer = el('div', 'answer', 'answer-text');
  /** The text node text is appended to; a citation marker starts a new one after it. */
  let answerText = document.createTextNode('');
  answer.append(answerText);
  /** The answer's plain text (markers excluded): what `view.text` and `done` report. */
  let fullText = '';
  const refusal = el('p', 'refusal', 'refusal');
  refusal.setAttribute('role', 'note');
  refusal.hidden = true;
  const sourcesBox = el('ol', 'sources', 'sources');
  sourcesBox.hidden = true;
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

  root.append(
    header,
    thinking,
    activity,
    answer,
    refusal,
    sourcesBox,
    tools,
    error,
    resumeLine,
    receipt,
    statsBox,
  );
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
    resolveDone({ state, text: fullText });
  };

  /** @param {number} index @param {string} text */
  const appendText = (index, text) => {
    if (lastTextIndex !== -1 && index !== lastTextIndex) {
      answerText.appendData('\n\n');
      fullText += '\n\n';
    }
    lastTextIndex = index;
    answerText.appendData(text);
    fullText += text;
  };

  const sources = createSources();
  /** @param {Record<string, unknown>} citation */
  const cite = (citation) => {
    const { source, isNew } = sources.cite(citation);
    const marker = el('sup', 'cite', 'cite-marker');
    marker.textContent = `[${source.n}]`;
    if (source.quote) marker.title = source.quote;
    answerText = document.createTextNode('');
    answer.append(marker, answerText);
    if (!isNew) return;
    sourcesBox.hidden = false;
    const item = el('li', 'source', 'source');
    item.value = source.n;
    if (source.url) {
      const link = /** @type {HTMLAnchorElement} */ (el('a'));
      link.href = source.url;
      link.target = '_blank';
      link.rel = 'noopener noreferrer';
      link.textContent = source.label;
      item.append(link);
    } else {
      item.append(source.label);
    }
    if (source.quote) {
      const quote = el('q', 'source-quote');
      quote.textContent = source.quote;
      item.append(' — ', quote);
    }
    sourcesBox.append(item);
  };

  /** Server and MCP tool calls by block index (their input streams there) and by id (results name it). */
  /** @type {Map<number, { item: HTMLElement, line: HTMLElement, name: string, kind: string, json: string }>} */
  const callsByIndex = new Map();
  /** @type {Map<string, HTMLElement>} */
  const callsById = new Map();
  /** Unknown delta types already marked, per block: one marker each, not one per delta. */
  const markedDeltas = new Set();

  /** @param {string} className @param {string} text @param {string} [testid] */
  const addActivity = (className, text, testid = 'activity-item') => {
    activity.hidden = false;
    const item = el('li', className, testid);
    const line = el('span', 'activity-line');
    line.textContent = text;
    item.append(line);
    activity.append(item);
    return { item, line };
  };

  /** @param {Record<string, any>} event */
  const showToolCall = (event) => {
    const { item, line } = addActivity(
      `tool-call ${event.kind}`,
      describeToolCall(event.name, '', event.kind),
    );
    item.dataset.tool = event.name;
    callsByIndex.set(event.index, { item, line, name: event.name, kind: event.kind, json: '' });
    callsById.set(event.id, item);
  };

  /** @param {number} index @param {Record<string, any>} block */
  const showBlock = (index, block) => {
    // A text or thinking block that started with content (citations, say) renders as its kind.
    if (block.type === 'text' && typeof block.text === 'string') {
      if (Array.isArray(block.citations)) for (const c of block.citations) cite(c);
      appendText(index, block.text);
      return;
    }
    if (block.type === 'thinking' && typeof block.thinking === 'string') {
      thinking.hidden = false;
      thinkingText.append(block.thinking);
      return;
    }
    const summary = describeBlock(block);
    const call = summary.toolUseId === undefined ? undefined : callsById.get(summary.toolUseId);
    /** @type {HTMLElement} */
    let host;
    if (call !== undefined) {
      const result = el('span', 'tool-result', 'tool-result');
      result.textContent = ` · ${summary.text}`;
      call.append(result);
      host = call;
    } else {
      const [className, testid] = BLOCK_LOOK[summary.kind];
      host = addActivity(className, summary.text, testid).item;
    }
    if (summary.output !== undefined) {
      const output = el('pre', 'tool-output', 'tool-output');
      output.textContent = summary.output;
      host.append(output);
    }
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
          appendText(event.index, event.text);
          if (root.dataset.state !== 'streaming') setState('streaming', 'streaming');
          break;
        case 'thinking':
          thinking.hidden = false;
          thinkingText.append(event.text);
          break;
        case 'signature':
          // Nothing to read: the signature only travels back with the block next turn.
          break;
        case 'citation':
          cite(event.citation ?? {});
          break;
        case 'tool_use':
          if (event.kind === 'server' || event.kind === 'mcp') {
            showToolCall(event);
            break;
          }
          tools.hidden = false;
          tools.append(`${tools.textContent ? '\n' : ''}tool_use ${event.name} (${event.id}): `);
          break;
        case 'tool_input': {
          const call = callsByIndex.get(event.index);
          if (call === undefined) {
            tools.append(event.partial_json);
            break;
          }
          call.json += event.partial_json;
          call.line.textContent = describeToolCall(call.name, call.json, call.kind);
          const code = codeOf(call.json);
          if (code !== undefined) call.item.title = code;
          break;
        }
        case 'block':
          showBlock(event.index, event.block ?? {});
          break;
        case 'delta': {
          const type = describeDelta(event.delta ?? {});
          if (markedDeltas.has(`${event.index}${type}`)) break;
          markedDeltas.add(`${event.index}${type}`);
          addActivity('marker', `${type} on block ${event.index}`, 'marker');
          break;
        }
        case 'retry':
          status.textContent = `retrying upstream: attempt ${event.attempt} in ${event.delay_ms} ms (${event.reason})`;
          break;
        case 'done': {
          const declined = describeRefusal(event);
          if (declined !== undefined) {
            refusal.hidden = false;
            refusal.textContent = declined;
          }
          showReceipt('done', `✓ done · stop_reason ${event.stop_reason} · ${formatUsage(event.usage)}`);
          finish('done', 'done');
          break;
        }
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
      return fullText;
    },
  };
}
