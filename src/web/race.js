/**
 * Race mode: the same request through fetch + SSE and WebSocket at the same moment, two panes
 * side by side, then a verdict (who had the first token, who finished first, or a tie inside the
 * measurement's noise; same text or not).
 */

import { lead } from './race-verdict.js';
import { summarize } from './stream-stats.js';
import { createStreamView } from './stream-view.js';
import * as sse from './transport-sse.js';
import * as ws from './transport-ws.js';

const CONTENDERS = [
  { transport: sse, testid: 'pane-sse' },
  { transport: ws, testid: 'pane-ws' },
];

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
    const first = lead(
      entries.map((e) => ({ label: e.label, ms: e.s.ttftMs })),
      'first token',
    );
    const finished = lead(
      entries.map((e) => ({ label: e.label, ms: allDone ? e.s.totalMs : undefined })),
      'finished',
    );
    verdict.dataset.firstTokenTie = String(first.tie);
    verdict.dataset.finishedTie = String(finished.tie);
    verdict.textContent = [
      first.text,
      finished.text,
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
