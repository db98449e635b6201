/**
 * The relay streams' upstream deadlines, for a streaming `/v1/messages` passthrough whose bytes are
 * forwarded untouched: no content within `firstTokenTimeoutMs` of the call's start (slow headers
 * included), or no bytes at all for `idleTimeoutMs` once the answer streams, ends the call with
 * `upstream_timeout`. Content is recognised by Anthropic's `content_block_delta` event name, looked for
 * in the raw bytes (across chunk boundaries) only until the first one is seen.
 */
import { Deadline } from '../core/signals.js';

export type PassthroughTimeout = 'first_token' | 'idle';

export interface PassthroughDeadlineSettings {
  /** 0 = none. */
  readonly firstTokenTimeoutMs: number;
  /** 0 = none. */
  readonly idleTimeoutMs: number;
}

const CONTENT_MARK = Buffer.from('content_block_delta');

export class PassthroughDeadlines {
  /** Which deadline fired, once one has. */
  expired: PassthroughTimeout | undefined;
  private readonly settings: PassthroughDeadlineSettings;
  private readonly onExpire: (kind: PassthroughTimeout) => void;
  private readonly firstToken: Deadline;
  private readonly idle: Deadline;
  private sawContent = false;
  /** The previous chunk's last bytes, so a mark split between two chunks is still seen. */
  private tail: Buffer = Buffer.alloc(0);
  private lastByteAt = 0;

  constructor(settings: PassthroughDeadlineSettings, onExpire: (kind: PassthroughTimeout) => void) {
    this.settings = settings;
    this.onExpire = onExpire;
    this.firstToken = new Deadline(settings.firstTokenTimeoutMs, () => this.expire('first_token'));
    // Re-arming a timer per chunk costs more than the chunk: when it fires, it re-arms itself for
    // what is left since the last bytes (as the relay streams' idle deadline does).
    this.idle = new Deadline(settings.idleTimeoutMs, () => {
      const quiet = performance.now() - this.lastByteAt;
      if (quiet >= settings.idleTimeoutMs) this.expire('idle');
      else this.idle.reset(settings.idleTimeoutMs - quiet);
    });
    this.firstToken.reset();
  }

  /** The answer's headers arrived: the body is streaming from now on. */
  streaming(): void {
    this.lastByteAt = performance.now();
    this.idle.reset();
  }

  /** Bytes arrived. */
  chunk(bytes: Uint8Array): void {
    this.lastByteAt = performance.now();
    if (this.sawContent) return;
    const chunk = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const head = chunk.subarray(0, CONTENT_MARK.length - 1);
    if (Buffer.concat([this.tail, head]).includes(CONTENT_MARK) || chunk.includes(CONTENT_MARK)) {
      this.sawContent = true;
      this.firstToken.clear();
      return;
    }
    this.tail = Buffer.from(chunk.subarray(Math.max(0, chunk.length - (CONTENT_MARK.length - 1))));
  }

  /** Releases both timers. */
  dispose(): void {
    this.firstToken.clear();
    this.idle.clear();
  }

  private expire(kind: PassthroughTimeout): void {
    if (this.expired !== undefined) return;
    this.expired = kind;
    this.dispose();
    this.onExpire(kind);
  }

  /** The message a client gets. */
  describe(): string {
    return this.expired === 'idle'
      ? `the upstream sent nothing for ${this.settings.idleTimeoutMs} ms`
      : `the upstream sent no content within ${this.settings.firstTokenTimeoutMs} ms`;
  }
}
