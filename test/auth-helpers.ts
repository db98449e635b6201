/** Shared pieces of the auth suites: a keys file on disk and requests as a given key. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashKey } from '../src/auth/keys-file.js';

export interface TestKey {
  id: string;
  secret: string;
  limits?: Record<string, unknown>;
}

export function keysFileText(
  keys: readonly TestKey[],
  extra: readonly Record<string, unknown>[] = [],
): string {
  return JSON.stringify(
    {
      keys: [
        ...keys.map((k) => ({
          id: k.id,
          key_sha256: hashKey(k.secret),
          ...(k.limits ? { limits: k.limits } : {}),
        })),
        ...extra,
      ],
    },
    null,
    2,
  );
}

export function writeKeysFile(
  keys: readonly TestKey[],
  extra: readonly Record<string, unknown>[] = [],
): string {
  const dir = mkdtempSync(join(tmpdir(), 'relay-keys-'));
  const file = join(dir, 'keys.json');
  writeFileSync(file, keysFileText(keys, extra));
  return file;
}

export function jsonHeaders(secret?: string): Record<string, string> {
  return { 'content-type': 'application/json', ...(secret === undefined ? {} : { 'x-api-key': secret }) };
}

/** POST /v1/streams with Accept: application/json (detached start). */
export async function startDetached(
  base: string,
  secret: string,
  body: Record<string, unknown>,
): Promise<Response> {
  return fetch(`${base}/v1/streams`, {
    method: 'POST',
    headers: { ...jsonHeaders(secret), accept: 'application/json' },
    body: JSON.stringify(body),
  });
}

/** A raw HTTP request, for headers fetch will not set (Host, Origin). */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: options.method ?? 'GET', headers: options.headers ?? {} },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    const timer = setTimeout(() => req.destroy(new Error('raw request timed out')), 10_000);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    req.end(options.body);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it is true, at most `timeoutMs`. */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await sleep(25);
  }
}
