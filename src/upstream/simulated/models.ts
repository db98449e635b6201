/**
 * `GET /v1/models` and `GET /v1/models/:id`: a realistic, fixed catalogue, and which model names
 * a Messages request may use (an unknown one is answered 404 `not_found_error`, like the API).
 */
import { type Exchange, finish, sendError, sendJson } from './exchange.js';

export interface ModelInfo {
  readonly type: 'model';
  readonly id: string;
  readonly display_name: string;
  readonly created_at: string;
}

/** Newest first, as the API lists them. */
export const MODELS: readonly ModelInfo[] = [
  {
    // The relay's default model (RELAY_DEFAULT_MODEL), so a relay on the simulator lists what it uses.
    type: 'model',
    id: 'claude-sonnet-5-5',
    display_name: 'Claude Sonnet 5.5',
    created_at: '2026-06-01T00:00:00Z',
  },
  {
    type: 'model',
    id: 'claude-opus-4-5-20251101',
    display_name: 'Claude Opus 4.5',
    created_at: '2025-11-24T00:00:00Z',
  },
  {
    type: 'model',
    id: 'claude-haiku-4-5-20251001',
    display_name: 'Claude Haiku 4.5',
    created_at: '2025-10-15T00:00:00Z',
  },
  {
    type: 'model',
    id: 'claude-sonnet-4-5-20250929',
    display_name: 'Claude Sonnet 4.5',
    created_at: '2025-09-29T00:00:00Z',
  },
  {
    type: 'model',
    id: 'claude-opus-4-1-20250805',
    display_name: 'Claude Opus 4.1',
    created_at: '2025-08-05T00:00:00Z',
  },
  {
    type: 'model',
    id: 'claude-sonnet-4-20250514',
    display_name: 'Claude Sonnet 4',
    created_at: '2025-05-22T00:00:00Z',
  },
  {
    type: 'model',
    id: 'claude-3-5-haiku-20241022',
    display_name: 'Claude Haiku 3.5',
    created_at: '2024-10-22T00:00:00Z',
  },
  {
    type: 'model',
    id: 'claude-sim',
    display_name: 'Simulated Claude (relay)',
    created_at: '2025-01-01T00:00:00Z',
  },
];

/** The catalogue with `extra` models (e.g. a relay's configured default) first, without duplicates. */
export function catalogue(extra: readonly string[] = []): readonly ModelInfo[] {
  const added = extra
    .filter((id, i) => id !== '' && extra.indexOf(id) === i && !MODELS.some((m) => m.id === id))
    .map((id): ModelInfo => ({ type: 'model', id, display_name: id, created_at: '2026-01-01T00:00:00Z' }));
  return [...added, ...MODELS];
}

/**
 * Whether a Messages request may name this model: a catalogue id, or its alias without the date
 * (`claude-haiku-4-5` for `claude-haiku-4-5-20251001`), as the API accepts. A directive suffix
 * (`claude-sim#tokens=3`) is not part of the name.
 */
export function isKnownModel(model: string, models: readonly ModelInfo[]): boolean {
  const name = model.includes('#') ? model.slice(0, model.indexOf('#')) : model;
  return models.some((m) => m.id === name || m.id.replace(/-\d{8}$/, '') === name);
}

/** The API's answer to an unknown model: 404 not_found_error, `model: NAME`. */
export function sendUnknownModel(ex: Exchange, model: string): void {
  sendError(ex, 404, `model: ${model}`, { type: 'not_found_error' });
}

export function listModels(ex: Exchange, query: URLSearchParams, models: readonly ModelInfo[]): void {
  const limit = Math.min(1000, Math.max(1, Number(query.get('limit') ?? 20) || 20));
  const data = models.slice(0, limit);
  sendJson(ex, 200, {
    data,
    has_more: data.length < models.length,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
  });
  finish(ex, 'completed');
}

export function getModel(ex: Exchange, id: string, models: readonly ModelInfo[]): void {
  const model = models.find((m) => m.id === id);
  if (model === undefined) {
    sendUnknownModel(ex, id);
    return;
  }
  sendJson(ex, 200, model);
  finish(ex, 'completed');
}
