/**
 * An incremental Server-Sent Events decoder for upstream bodies: bytes in, `{event, data}` messages
 * out, per the WHATWG rules the relay needs (LF, CRLF or CR line ends split anywhere, `:` comments,
 * one optional space after the colon, multi-line data, multi-byte characters split across chunks).
 * It replaces the SDK's line and SSE decoders on the hot path: one string decode per chunk and no
 * async generator per layer.
 */

import { StringDecoder } from 'node:string_decoder';

export interface SseMessage {
  /** The `event:` field, or null when the message had none. */
  readonly event: string | null;
  readonly data: string;
}

export class SseDecoder {
  // StringDecoder keeps a split multi-byte character for the next chunk, and is far lighter per
  // stream than a TextDecoder.
  private readonly utf8 = new StringDecoder('utf8');
  /** Text after the last complete line. */
  private rest = '';
  /** The previous chunk ended in CR: a LF at the start of the next one belongs to it. */
  private pendingCr = false;
  private event: string | null = null;
  private data: string[] = [];

  /**
   * True between messages, with nothing held back: no partial line, no field of an unfinished
   * message, no CR or split character waiting. A chunk that arrives now stands on its own.
   */
  get idle(): boolean {
    return (
      this.rest === '' &&
      !this.pendingCr &&
      !this.utf8Pending &&
      this.event === null &&
      this.data.length === 0
    );
  }

  /** The last chunk ended inside a multi-byte character (its last byte was not ASCII). */
  private utf8Pending = false;

  /** Decodes one chunk; returns the messages it completed (often exactly one). */
  push(chunk: Uint8Array): SseMessage[] {
    let text = this.utf8.write(chunk as Buffer);
    this.utf8Pending = chunk.length > 0 && chunk[chunk.length - 1]! >= 0x80;
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = text.endsWith('\r');
    return this.lines(this.rest + text);
  }

  /** Flushes at end of body: a message without its blank line is dropped, as the spec says. */
  end(): SseMessage[] {
    const tail = this.utf8.end();
    const out = tail === '' ? [] : this.lines(`${this.rest}${tail}`);
    this.rest = '';
    return out;
  }

  private lines(text: string): SseMessage[] {
    const out: SseMessage[] = [];
    // CR alone or CRLF become LF; the common case (LF only) skips the replace.
    const normal = text.includes('\r') ? text.replace(/\r\n?/g, '\n') : text;
    let start = 0;
    for (let nl = normal.indexOf('\n'); nl !== -1; nl = normal.indexOf('\n', start)) {
      const line = normal.slice(start, nl);
      start = nl + 1;
      if (line === '') {
        if (this.data.length > 0 || this.event !== null) {
          out.push({
            event: this.event,
            data: this.data.length === 1 ? this.data[0]! : this.data.join('\n'),
          });
        }
        this.event = null;
        this.data = [];
        continue;
      }
      if (line.charCodeAt(0) === 58 /* : */) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.charCodeAt(0) === 32 /* space */) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.event = value;
      // id and retry mean nothing to the relay's upstream reader; unknown fields are ignored.
    }
    this.rest = normal.slice(start);
    return out;
  }
}
