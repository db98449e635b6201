/**
 * The line under the title that says what answers: the upstream (the built-in simulator, or the
 * API's origin; from `GET /web/info.json`) and the model in use, looked up in the upstream's own
 * `GET /v1/models` (so its display name shows, and a typed model it does not list is flagged).
 * The model picker's suggestions come from the same list.
 */

import { authHeaders } from './auth.js';

/**
 * @typedef {{ upstream: string, simulated: boolean, default_model: string }} RelayInfo
 * @typedef {{ id: string, display_name?: string }} ModelInfo
 */

/** @param {string} url @param {Record<string, string>} [headers] */
async function getJson(url, headers = {}) {
  const res = await fetch(url, { headers: { accept: 'application/json', ...headers } });
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res.json();
}

/**
 * @param {{ line: HTMLElement, model: HTMLInputElement, suggestions: HTMLDataListElement }} nodes
 * @returns {Promise<void>} settles once the line is filled (or says what could not be read)
 */
export async function showUpstreamInfo({ line, model, suggestions }) {
  /** @type {RelayInfo | undefined} */
  let info;
  /** @type {ModelInfo[] | undefined} */
  let models;
  const [infoResult, modelsResult] = await Promise.allSettled([
    getJson('/web/info.json'),
    // anthropic-version: the upstream's own list (display names); without it the relay answers
    // OpenAI's shape for OpenAI clients.
    getJson('/v1/models?limit=100', authHeaders({ 'anthropic-version': '2023-06-01' })),
  ]);
  if (infoResult.status === 'fulfilled') info = infoResult.value;
  if (modelsResult.status === 'fulfilled' && Array.isArray(modelsResult.value?.data)) {
    models = modelsResult.value.data;
    suggestions.replaceChildren(
      ...models.map((m) => {
        const option = document.createElement('option');
        option.value = m.id;
        if (m.display_name) option.label = m.display_name;
        return option;
      }),
    );
  }
  if (info !== undefined) {
    model.placeholder = `relay default: ${info.default_model}`;
    line.dataset.simulated = String(info.simulated);
  }

  const render = () => {
    const typed = model.value.trim();
    const id = typed !== '' ? typed : info?.default_model;
    const upstream =
      info === undefined
        ? 'upstream: unknown (GET /web/info.json failed)'
        : info.simulated
          ? 'upstream: simulated (the built-in offline Anthropic API; answers are made up)'
          : `upstream: ${info.upstream}`;
    let shown = 'model: unknown';
    if (id !== undefined) {
      // A directive suffix (claude-sim#tokens=3) is not part of the model's name.
      const listed = models?.find((m) => m.id === id.split('#')[0]);
      const source = typed !== '' ? 'typed' : 'relay default';
      shown =
        models === undefined
          ? `model: ${id} (${source}; GET /v1/models failed)`
          : listed === undefined
            ? `model: ${id} (${source}; not in the upstream's /v1/models)`
            : `model: ${id} — ${listed.display_name ?? id} (${source})`;
      line.dataset.model = id;
      line.dataset.listed = String(listed !== undefined);
    }
    line.textContent = `${upstream} · ${shown}`;
  };
  model.addEventListener('input', render);
  render();
}
