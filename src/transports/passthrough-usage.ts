/**
 * Reads the token usage out of an Anthropic answer passing through untouched (SSE events or a JSON
 * body), so a `/v1/messages` call settles its quota reservation to what it really used. It scans
 * the bytes for `input_tokens` / `output_tokens` (cumulative in Anthropic's events, so the largest
 * wins) and counts content deltas as a floor for an answer cut short.
 */

/** Enough to hold a field split across two chunks. */
const CARRY = 64;

export class PassthroughUsage {
  private readonly decoder = new TextDecoder();
  private carry = '';
  private input = 0;
  private output = 0;
  private deltas = 0;

  observe(chunk: Uint8Array): void {
    const text = this.carry + this.decoder.decode(chunk, { stream: true });
    for (const m of text.matchAll(/"input_tokens"\s*:\s*(\d+)/g))
      this.input = Math.max(this.input, Number(m[1]));
    for (const m of text.matchAll(/"output_tokens"\s*:\s*(\d+)/g))
      this.output = Math.max(this.output, Number(m[1]));
    // Count deltas only in the new text (the carried tail was counted with its own chunk).
    const fresh = text.slice(this.carry.length);
    for (const _ of fresh.matchAll(/"type"\s*:\s*"content_block_delta"/g)) this.deltas++;
    this.carry = text.slice(-CARRY);
  }

  /** Input + output tokens seen so far (output at least one per content delta). */
  get total(): number {
    return this.input + Math.max(this.output, this.deltas);
  }
}
