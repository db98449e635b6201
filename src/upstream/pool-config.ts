/**
 * The upstream pool's configuration: the list an operator writes (`RELAY_UPSTREAMS` or the file
 * named by `RELAY_UPSTREAMS_FILE`) and what the relay makes of it. Keys are resolved here, once;
 * everything downstream names an upstream by its `name` only.
 */
import { z } from 'zod';
import { DEFAULT_BASE_URL } from './target.js';

/** One entry as written. */
export const upstreamEntrySchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'use 1-64 letters, digits, "_", "." or "-"'),
    base_url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).default(DEFAULT_BASE_URL),
    api_key: z.string().min(1).optional(),
    api_key_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
      .optional(),
    priority: z.number().int().min(0).default(0),
    weight: z.number().positive().max(1_000_000).default(1),
    models: z.array(z.string().min(1)).min(1).optional(),
    max_concurrent: z.number().int().min(1).optional(),
  })
  .superRefine((entry, ctx) => {
    if ((entry.api_key === undefined) === (entry.api_key_env === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'give exactly one of "api_key" and "api_key_env"',
        path: ['api_key'],
      });
    }
  });

export type UpstreamEntry = z.infer<typeof upstreamEntrySchema>;

/** One upstream as the relay uses it: its key resolved. */
export interface UpstreamSpec {
  /** Shown in events, logs, metrics and /ready: never the URL or the key. */
  readonly name: string;
  readonly baseUrl: string;
  /** '' = no credential (a keyless compatible API; only from ANTHROPIC_BASE_URL alone). */
  readonly apiKey: string;
  /** Tiers are tried by ascending priority (0 first). */
  readonly priority: number;
  /** Share of new streams within its tier. */
  readonly weight: number;
  /** Models it serves; absent = every model. */
  readonly models?: readonly string[];
  /** Most attempts in flight at once; absent = no limit. */
  readonly maxConcurrent?: number;
}

/**
 * Resolves written entries: keys from `api_key` or the environment variable `api_key_env` names,
 * names unique. Returns the list, or the problems, each naming the entry and field at fault.
 */
export function resolveUpstreams(
  entries: readonly UpstreamEntry[],
  env: Readonly<Record<string, string | undefined>>,
): { ok: true; specs: UpstreamSpec[] } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const seen = new Set<string>();
  const specs: UpstreamSpec[] = [];
  entries.forEach((entry, i) => {
    if (seen.has(entry.name)) problems.push(`upstreams.${i}.name: "${entry.name}" is used twice`);
    seen.add(entry.name);
    const apiKey = entry.api_key ?? env[entry.api_key_env ?? ''] ?? '';
    if (apiKey === '') {
      problems.push(`upstreams.${i}.api_key_env: the variable ${entry.api_key_env ?? ''} is not set`);
    }
    specs.push({
      name: entry.name,
      baseUrl: entry.base_url,
      apiKey,
      priority: entry.priority,
      weight: entry.weight,
      ...(entry.models === undefined ? {} : { models: entry.models }),
      ...(entry.max_concurrent === undefined ? {} : { maxConcurrent: entry.max_concurrent }),
    });
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, specs };
}

/** The pool of one that a bare key and base URL make. */
export function singleUpstream(apiKey: string, baseURL = ''): UpstreamSpec[] {
  return [{ name: 'anthropic', baseUrl: baseURL || DEFAULT_BASE_URL, apiKey, priority: 0, weight: 1 }];
}
