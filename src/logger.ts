/**
 * Structured logs (pino: JSON lines, cheap when a level is off), on stderr so stdout stays for the
 * one "listening on" line that scripts wait for.
 */
import { type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ level, base: null, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
}
