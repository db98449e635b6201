/**
 * The relay keys file: `{"keys": [{"id", "key_sha256", "limits"}]}`. Only the SHA-256 of each key
 * is stored, never the key. An entry with id `jwt` (its hash optional) holds the limits of every
 * JWT principal. Errors name the line, so an operator can fix the file without guessing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Limits } from '../core/principal.js';
import { describeIssues } from '../core/request.js';

/** The id of the entry whose limits JWT principals get. */
export const JWT_ENTRY_ID = 'jwt';

const count = z.number().int().min(0);

const limitsSchema = z.strictObject({
  concurrent_streams: count.optional(),
  requests_per_minute: count.optional(),
  tokens_per_minute: count.optional(),
  max_tokens: z.number().int().min(1).optional(),
  models: z.array(z.string().min(1).max(256)).min(1).optional(),
});

type LimitsJson = z.infer<typeof limitsSchema>;

const entrySchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'use 1-64 letters, digits, ".", "_" or "-"'),
  key_sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'the lowercase hex SHA-256 of the key (64 characters)')
    .optional(),
  limits: limitsSchema.optional(),
});

const fileSchema = z.strictObject({ keys: z.array(entrySchema) });

export interface KeyEntry {
  readonly id: string;
  /** Absent only on the `jwt` entry. */
  readonly keySha256?: string;
  readonly limits: Limits;
}

export function hashKey(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** A new relay key: `rk_` and 32 random bytes, URL-safe (usable in a WebSocket subprotocol). */
export function newKey(): string {
  return `rk_${randomBytes(32).toString('base64url')}`;
}

/** Parses the file's text; throws an Error naming the file, the line and what is wrong. */
export function parseKeysFile(text: string, path: string): KeyEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const at = /position (\d+)/.exec(message);
    const line = at ? lineAt(text, Number(at[1])) : lineFromMessage(message);
    throw new Error(`keys file ${path}${line === undefined ? '' : ` line ${line}`}: not JSON (${message})`);
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const index = issue?.path[0] === 'keys' && typeof issue.path[1] === 'number' ? issue.path[1] : undefined;
    const line = index === undefined ? undefined : entryLine(text, index);
    throw new Error(
      `keys file ${path}${line === undefined ? '' : ` line ${line}`}: ${describeIssues(parsed.error)}`,
    );
  }
  const seen = new Map<string, number>();
  const entries: KeyEntry[] = [];
  parsed.data.keys.forEach((entry, index) => {
    const line = entryLine(text, index);
    const where = `keys file ${path}${line === undefined ? '' : ` line ${line}`}`;
    if (seen.has(entry.id)) throw new Error(`${where}: the id "${entry.id}" appears twice`);
    seen.set(entry.id, index);
    if (entry.key_sha256 === undefined && entry.id !== JWT_ENTRY_ID) {
      throw new Error(`${where}: key "${entry.id}" has no key_sha256`);
    }
    entries.push({
      id: entry.id,
      ...(entry.key_sha256 === undefined ? {} : { keySha256: entry.key_sha256 }),
      limits: fromJson(entry.limits ?? {}),
    });
  });
  return entries;
}

/** The file's text for `entries` (what `relay keys` writes). */
export function formatKeysFile(entries: readonly KeyEntry[]): string {
  const keys = entries.map((e) => ({
    id: e.id,
    ...(e.keySha256 === undefined ? {} : { key_sha256: e.keySha256 }),
    limits: toJson(e.limits),
  }));
  return `${JSON.stringify({ keys }, null, 2)}\n`;
}

/** Limits as the keys file spells them (snake_case), for `relay keys list` too. */
export function toJson(limits: Limits): LimitsJson {
  const out: LimitsJson = {};
  if (limits.concurrentStreams !== undefined) out.concurrent_streams = limits.concurrentStreams;
  if (limits.requestsPerMinute !== undefined) out.requests_per_minute = limits.requestsPerMinute;
  if (limits.tokensPerMinute !== undefined) out.tokens_per_minute = limits.tokensPerMinute;
  if (limits.maxTokens !== undefined) out.max_tokens = limits.maxTokens;
  if (limits.models !== undefined) out.models = [...limits.models];
  return out;
}

function fromJson(json: LimitsJson): Limits {
  return {
    ...(json.concurrent_streams === undefined ? {} : { concurrentStreams: json.concurrent_streams }),
    ...(json.requests_per_minute === undefined ? {} : { requestsPerMinute: json.requests_per_minute }),
    ...(json.tokens_per_minute === undefined ? {} : { tokensPerMinute: json.tokens_per_minute }),
    ...(json.max_tokens === undefined ? {} : { maxTokens: json.max_tokens }),
    ...(json.models === undefined ? {} : { models: json.models }),
  };
}

function lineAt(text: string, position: number): number {
  let line = 1;
  for (let i = 0; i < position && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function lineFromMessage(message: string): number | undefined {
  const m = /line (\d+)/.exec(message);
  return m ? Number(m[1]) : undefined;
}

/** The line where the `index`-th object of the `keys` array opens (a scan that respects strings). */
function entryLine(text: string, index: number): number | undefined {
  const keysAt = text.indexOf('"keys"');
  if (keysAt === -1) return undefined;
  let depth = 0;
  let inString = false;
  let seen = -1;
  let line = lineAt(text, keysAt);
  for (let i = keysAt + 6; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\n') line++;
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '[' || ch === '{') {
      depth++;
      if (ch === '{' && depth === 2 && ++seen === index) return line;
    } else if (ch === ']' || ch === '}') {
      depth--;
      if (depth === 0) return undefined;
    }
  }
  return undefined;
}
