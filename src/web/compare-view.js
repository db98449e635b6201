/**
 * The compare view (compare.html): runs the many-streams and drop-and-recover experiments in the
 * visitor's browser against the relay that served the page, one transport after the other, and
 * shows each result beside the benchmark's recorded figures (compare-figures.js).
 */
import { ensureKey } from './auth.js';
import { DEFAULT_MESSAGE, dropAndRecover, LABELS, manyStreams } from './compare-experiments.js';
import { FIGURES } from './compare-figures.js';

/** @param {string} id */
function byId(id) {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`#${id} is missing from compare.html`);
  return node;
}

const form = /** @type {HTMLFormElement} */ (byId('compare-form'));
const nChoice = /** @type {HTMLSelectElement} */ (byId('compare-n'));
const message = /** @type {HTMLInputElement} */ (byId('compare-message'));
const runMany = /** @type {HTMLButtonElement} */ (byId('run-many'));
const runDrop = /** @type {HTMLButtonElement} */ (byId('run-drop'));
const status = byId('compare-status');
const liveRows = byId('live-rows');

/** @param {number | undefined} ms */
const ms = (ms) => (ms === undefined ? '—' : `${ms} ms`);

/**
 * One table row for either experiment's result (the live one or the benchmark's).
 * @param {Record<string, any>} r
 */
export function resultRow(r) {
  const many = r.n !== undefined;
  const cells = [
    many ? `${r.n} streams` : `drop (${r.how})`,
    `${LABELS[/** @type {keyof typeof LABELS} */ (r.transport)] ?? r.transport}${r.http ? ` · ${r.http}` : ''}`,
    r.protocol ?? '—',
    many ? `${ms(r.ttft_p50_ms)} / ${ms(r.ttft_max_ms)}` : '—',
    many ? `${r.waited} of ${r.n}` : '—',
    many ? '—' : ms(r.recovery_ms),
    many ? `${r.complete} of ${r.n}` : `${r.complete ? 'yes' : 'no'} · ${r.lost} · ${r.duplicated}`,
  ];
  const tr = document.createElement('tr');
  tr.dataset.testid = 'result-row';
  tr.dataset.transport = r.transport;
  for (const [i, text] of cells.entries()) {
    const td = document.createElement('td');
    td.textContent = text;
    if (i === 6 && (many ? r.complete !== r.n : !r.complete)) td.className = 'bad';
    tr.append(td);
  }
  return tr;
}

function chosenTransports() {
  return [...form.querySelectorAll('input[name="transport"]:checked')].map(
    (el) => /** @type {HTMLInputElement} */ (el).value,
  );
}

/** @param {(transport: string) => Promise<Record<string, any>>} run */
async function runEach(run) {
  runMany.disabled = true;
  runDrop.disabled = true;
  document.body.dataset.running = 'true';
  try {
    for (const transport of chosenTransports()) {
      status.textContent = `running ${LABELS[/** @type {keyof typeof LABELS} */ (transport)]}…`;
      liveRows.append(resultRow(await run(transport)));
    }
    status.textContent = 'done.';
  } catch (err) {
    status.textContent = `failed: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    runMany.disabled = false;
    runDrop.disabled = false;
    document.body.dataset.running = 'false';
  }
}

runMany.addEventListener('click', () =>
  runEach((transport) =>
    manyStreams({ transport, n: Number(nChoice.value), message: message.value || DEFAULT_MESSAGE }),
  ),
);
runDrop.addEventListener('click', () =>
  runEach((transport) => dropAndRecover({ transport, message: message.value || DEFAULT_MESSAGE })),
);

function showFigures() {
  const source = byId('figures-source');
  const rows = byId('bench-rows');
  if (FIGURES === undefined) {
    source.textContent = 'No browser benchmark has been recorded yet (npm run bench -- --record).';
    return;
  }
  source.textContent = `${FIGURES.command} at ${FIGURES.revision}, ${FIGURES.date}.`;
  for (const r of [...FIGURES.many, ...FIGURES.drop]) rows.append(resultRow(r));
}

message.placeholder = DEFAULT_MESSAGE;
// The tests and `relay bench` drive the same experiments through this handle (page.evaluate).
Object.assign(window, { relayExperiments: { manyStreams, dropAndRecover } });
showFigures();
void ensureKey().finally(() => {
  document.body.dataset.ready = 'true';
  document.body.dataset.running = 'false';
});
