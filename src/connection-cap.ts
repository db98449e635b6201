/**
 * How many client connections the server accepts at once. Every relayed stream needs a second
 * descriptor for its upstream socket (plus files, DNS, the log), so by default clients may use at
 * most half of what is left of the process's open-file limit after a reserve; a configured value
 * is used as it is. Past the cap Node closes new connections at once.
 */
import { readFileSync } from 'node:fs';

/** Descriptors kept for everything that is not a client or its upstream socket. */
const RESERVE = 128;

/** `configured` when > 0; else derived from the open-file limit; undefined when that is unknown. */
export function connectionCap(
  configured: number,
  readLimit: () => number | undefined = readOpenFileLimit,
): number | undefined {
  if (configured > 0) return configured;
  const openFileLimit = readLimit();
  if (openFileLimit === undefined) return undefined;
  return Math.max(16, Math.floor((openFileLimit - RESERVE) / 2));
}

/** The soft limit on open files (Linux: /proc/self/limits), undefined elsewhere or when unlimited. */
export function readOpenFileLimit(): number | undefined {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const match = /^Max open files\s+(\d+)/m.exec(limits);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}
