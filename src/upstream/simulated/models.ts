/** `GET /v1/models` and `GET /v1/models/:id`: a realistic, fixed catalogue. */
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

export function listModels(ex: Exchange, query: URLSearchParams): void {
  const limit = Math.min(1000, Math.max(1, Number(query.get('limit') ?? 20) || 20));
  const data = MODELS.slice(0, limit);
  sendJson(ex, 200, {
    data,
    has_more: data.length < MODELS.length,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
  });
  finish(ex, 'completed');
}

export function getModel(ex: Exchange, id: string): void {
  const model = MODELS.find((m) => m.id === id);
  if (model === undefined) {
    sendError(ex, 404, `model: ${id}`);
    return;
  }
  sendJson(ex, 200, model);
  finish(ex, 'completed');
}
