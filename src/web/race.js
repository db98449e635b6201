/**
 * Race mode: the same request through fetch + SSE and WebSocket at the same moment, two panes
 * side by side, then a verdict (who had the first token, who finished first, same text or not).
 */

import { formatMs, summarize } from './stream-stats.js';
import { createStreamView } from './stream-view.js';
import * as sse from './transport-sse.js';
import * as ws from './transport-ws.js';

const CONTENDERS = [
  { transport: sse, testid: 'pane-sse' },
  { transport: ws, testid: 'pane-ws' },
];

/**
 * @param {{ label: string, ms: number | undefined }[]} entries
 * @param {string} what
 */
function lead(entries, what) {
  const known = entries.filter((e) => e.ms !== undefined);
  if (known.length < 2) return `${what}: —`;
  known.sort((a, b) => (a.ms ?? 0) - (b.ms ?? 0));
  const [first, second] = known;
  const by = (second.ms ?? 0) - (first.ms ?? 0);
  return by < 0.05 ? `${what}: a tie` : `${what}: ${first.label} by ${formatMs(by)}`;
}

/**
 * @param {Record<string, unknown>} request
 * @param {HTMLElement} parent
 */
export function startRace(request, parent) {
  const race = document.createElement('div');
  race.className = 'race';
  race.dataset.testid = 'race';
  const verdict = document.createElement('p');
  verdict.className = 'verdict';
  verdict.dataset.testid = 'race-verdict';
  verdict.textContent = 'racing…';
  const panes = document.createElement('div');
  panes.className = 'panes';
  race.append(panes, verdict);
  parent.append(race);

  const views = CONTENDERS.map(({ transport, testid }) =>
    createStreamView(panes, { label: transport.label, testid }),
  );
  // Both requests leave in the same tick; each clock starts right before its own request.
  const controls = CONTENDERS.map(({ transport }, i) => {
    const view = views[i];
    view.stats.startedAt = performance.now();
    return transport.start(request, view.handlers);
  });

  const done = Promise.all(views.map((v) => v.done)).then((results) => {
    const entries = views.map((v, i) => ({ label: CONTENDERS[i].transport.label, s: summarize(v.stats) }));
    const same = results.every((r) => r.text === results[0].text);
    const allDone = results.every((r) => r.state === 'done');
    verdict.dataset.same = String(same);
    verdict.textContent = [
      lead(
        entries.map((e) => ({ label: e.label, ms: e.s.ttftMs })),
        'first token',
      ),
      lead(
        entries.map((e) => ({ label: e.label, ms: allDone ? e.s.totalMs : undefined })),
        'finished',
      ),
      same ? '✓ same text on both' : '✕ the texts differ',
    ].join(' · ');
    return results;
  });

  return {
    cancel() {
      for (const c of controls) c.cancel();
    },
    drop() {
      return controls.map((c) => c.drop()).some(Boolean);
    },
    done,
  };
}
