/**
 * The relay's own secrets (its upstream API key, and any other credential it is configured with)
 * must never reach a client, even when an upstream echoes them back ("invalid x-api-key: sk-…", as
 * some compatible gateways answer). Everything taken from an upstream and forwarded — messages,
 * header values, whole bodies — goes through here first.
 */

/** What a secret is replaced with. */
export const REDACTED = '[redacted]';

/** Shorter strings are not treated as secrets: they would redact ordinary text. */
const MIN_SECRET_LENGTH = 8;

/**
 * A body scrubber holds back at most this much while it waits for a line end (secrets never span
 * lines, so an SSE frame, which ends with a blank line, is never held).
 */
const MAX_HELD_BYTES = 64 * 1024;

export class SecretScrubber {
  private readonly secrets: readonly string[];
  private readonly needles: readonly Buffer[];
  private readonly replacement = Buffer.from(REDACTED);

  constructor(secrets: readonly (string | undefined)[]) {
    const usable = new Set<string>();
    for (const secret of secrets) {
      // A secret cannot contain a line break (it travels in a header), which the body scrubber relies on.
      if (secret !== undefined && secret.length >= MIN_SECRET_LENGTH && !/[\r\n]/.test(secret)) {
        usable.add(secret);
      }
    }
    // Longest first, so a secret that contains another is replaced whole.
    this.secrets = [...usable].sort((a, b) => b.length - a.length);
    this.needles = this.secrets.map((s) => Buffer.from(s));
  }

  /** Whether there is anything to scrub (no secrets configured: every call is a no-op). */
  get active(): boolean {
    return this.secrets.length > 0;
  }

  /** `text` with every secret replaced by `[redacted]`. */
  scrub(text: string): string {
    let out = text;
    for (const secret of this.secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    return out;
  }

  /** A scrubber for one body that arrives in chunks (a secret may be split between two of them). */
  body(): BodyScrubber {
    return new BodyScrubber(this);
  }

  /** @internal `bytes` with every secret replaced; the same buffer when there was none. */
  scrubBytes(bytes: Buffer): Buffer {
    let out = bytes;
    for (const needle of this.needles) {
      let at = out.indexOf(needle);
      if (at === -1) continue;
      const parts: Buffer[] = [];
      let from = 0;
      while (at !== -1) {
        parts.push(out.subarray(from, at), this.replacement);
        from = at + needle.length;
        at = out.indexOf(needle, from);
      }
      parts.push(out.subarray(from));
      out = Buffer.concat(parts);
    }
    return out;
  }

  /** @internal The longest secret's length in bytes. */
  get longest(): number {
    return this.needles[0]?.length ?? 0;
  }
}

/**
 * Scrubs a body chunk by chunk. Each `push` returns what can be sent now: everything up to the last
 * line end (a secret never spans one), or, on a long line, all but a secret's length less one.
 */
export class BodyScrubber {
  private held: Buffer = Buffer.alloc(0);
  private readonly scrubber: SecretScrubber;

  constructor(scrubber: SecretScrubber) {
    this.scrubber = scrubber;
  }

  push(chunk: Uint8Array): Buffer {
    const input = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (!this.scrubber.active) return input;
    const all = this.scrubber.scrubBytes(this.held.length === 0 ? input : Buffer.concat([this.held, input]));
    let cut = all.lastIndexOf(0x0a) + 1;
    if (all.length - cut > MAX_HELD_BYTES) cut = all.length - (this.scrubber.longest - 1);
    // Copy what is held: the caller may reuse the chunk's memory.
    this.held = Buffer.from(all.subarray(cut));
    return all.subarray(0, cut);
  }

  /** The rest, at the end of the body. */
  end(): Buffer {
    const rest = this.held;
    this.held = Buffer.alloc(0);
    return rest;
  }
}
