/**
 * Request bytes held at once, across every HTTP body being read and every WebSocket frame being
 * parsed. Messages requests may be 32 MB each (base64 images and PDFs), so the relay bounds their
 * sum instead of trusting each limit alone: past the cap a new request is refused with
 * `overloaded` (503, retryable) before its bytes are buffered, never an out-of-memory.
 */
import { RelayError } from '../core/errors.js';

export class RequestBudget {
  readonly capBytes: number;
  private held = 0;

  constructor(capBytes: number) {
    this.capBytes = capBytes;
  }

  get heldBytes(): number {
    return this.held;
  }

  /** Takes `bytes` from the budget, or throws `overloaded` (nothing taken). */
  reserve(bytes: number): void {
    if (this.held + bytes > this.capBytes) {
      throw new RelayError(
        'overloaded',
        `the relay is reading its maximum of ${this.capBytes} request bytes at once ` +
          '(RELAY_MAX_REQUEST_BYTES_IN_FLIGHT); retry shortly',
      );
    }
    this.held += bytes;
  }

  release(bytes: number): void {
    this.held = Math.max(0, this.held - bytes);
  }
}

/** The 413 every Messages route answers past its limit, naming the setting to raise. */
export function tooLarge(what: string, limitBytes: number): RelayError {
  return new RelayError(
    'payload_too_large',
    `${what} is over the ${limitBytes}-byte limit (RELAY_BODY_LIMIT_BYTES; Anthropic's own is 32 MB)`,
  );
}
