/**
 * Request identity: a hash of the body without its `stream` flag (so a streaming and a
 * non-streaming call, and every SDK retry, count as the same request) and a seeded PRNG.
 */
import { createHash, randomBytes } from 'node:crypto';

/** sha256 hex of the body with `stream` removed; top-level key order is the client's. */
export function requestHash(body: Readonly<Record<string, unknown>>): string {
  const { stream: _stream, ...rest } = body;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex');
}

/** A small deterministic PRNG (mulberry32) returning floats in [0, 1). */
export type Random = () => number;

export function seededRandom(hashHex: string): Random {
  let state = Number.parseInt(hashHex.slice(0, 8), 16) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Integer in [min, max]. */
export function randomInt(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

export function pick<T>(random: Random, items: readonly [T, ...T[]]): T {
  return items[Math.floor(random() * items.length)] ?? items[0];
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Random base62 suffix for ids like the API's `msg_01…`, `toolu_01…`, `req_…`. */
export function randomId(prefix: string, length = 24): string {
  const bytes = randomBytes(length);
  let out = prefix;
  for (const b of bytes) out += BASE62[b % 62];
  return out;
}

/** A base62 id drawn from a seeded PRNG: the same request gets the same tool ids, streamed or not. */
export function seededId(random: Random, prefix: string, length = 24): string {
  let out = prefix;
  for (let i = 0; i < length; i++) out += BASE62[Math.floor(random() * 62)];
  return out;
}
