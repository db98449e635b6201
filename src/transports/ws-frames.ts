/**
 * A cursor flush as WebSocket bytes: the frames of its events (RFC 6455 §5.2: server frames are
 * unmasked; FIN + text opcode, 7/16/64-bit payload length), headers and payloads in ONE buffer,
 * so the flush is one socket write. Going through `ws.send` costs, per event, two options objects,
 * a header buffer, a cork/uncork and two buffered writes gathered by `writev`; here it is one
 * byte count and one copy per event. The payloads are exactly `wsMessage` / `wsBatchMessage`
 * (wire.ts) of the same entries, written without building those strings: the envelope's prefix is
 * written, then the log's JSON right after it, and its leading `{` overwritten with `,`.
 *
 * Only for a socket without compression (the relay never negotiates it) whose `ws` sender has
 * nothing queued (it queues only while compressing or reading a Blob, neither of which the relay
 * does), so these bytes cannot overtake a frame `ws` still holds.
 */
import type { LogEntry } from '../core/stream-log.js';

/** A stream's WebSocket envelope on one connection: what goes in front of its events' JSON. */
export interface WsEnvelope {
  /** `{"stream_id":"str_…"` — in front of every event but `start`. */
  readonly idPrefix: string;
  readonly idPrefixBytes: number;
  /** `{"ref":"…"` in front of `start` (it carries its own stream_id), when the client sent a ref. */
  readonly refPrefix: string | undefined;
  readonly refPrefixBytes: number;
}

export function wsEnvelope(streamIdJson: string, refJson?: string): WsEnvelope {
  const idPrefix = `{"stream_id":${streamIdJson}`;
  const refPrefix = refJson === undefined ? undefined : `{"ref":${refJson}`;
  return {
    idPrefix,
    idPrefixBytes: Buffer.byteLength(idPrefix),
    refPrefix,
    refPrefixBytes: refPrefix === undefined ? 0 : Buffer.byteLength(refPrefix),
  };
}

const FIN_TEXT = 0x81;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** Payload bytes of each entry of the flush being framed; reused, so framing allocates only the buffer. */
let lengths = new Float64Array(64);

/** One text frame per entry: the same bytes `ws.send(wsMessage(entry, …))` puts on the wire. */
export function wsEventFrames(entries: readonly LogEntry[], envelope: WsEnvelope): Buffer {
  const n = entries.length;
  if (lengths.length < n) lengths = new Float64Array(Math.max(n, lengths.length * 2));
  let total = 0;
  for (let i = 0; i < n; i++) {
    const length = payloadBytes(entries[i]!, envelope);
    lengths[i] = length;
    total += headerBytes(length) + length;
  }
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (let i = 0; i < n; i++) {
    offset = writeHeader(out, offset, lengths[i]!);
    offset = writePayload(out, offset, entries[i]!, envelope);
  }
  return out;
}

/** One text frame holding every entry as a JSON array: the bytes of `ws.send(wsBatchMessage(…))`. */
export function wsBatchFrame(entries: readonly LogEntry[], envelope: WsEnvelope): Buffer {
  const n = entries.length;
  // `[`, `]` and a comma between elements.
  let length = n === 0 ? 2 : n + 1;
  for (let i = 0; i < n; i++) length += payloadBytes(entries[i]!, envelope);
  const out = Buffer.allocUnsafe(headerBytes(length) + length);
  let offset = writeHeader(out, 0, length);
  out[offset++] = OPEN_BRACKET;
  for (let i = 0; i < n; i++) {
    if (i > 0) out[offset++] = COMMA;
    offset = writePayload(out, offset, entries[i]!, envelope);
  }
  out[offset] = CLOSE_BRACKET;
  return out;
}

/** The prefix this entry gets, and its byte length; '' for a `start` without a ref. */
function prefixOf(entry: LogEntry, envelope: WsEnvelope): string {
  if ((entry.type ?? entry.event.type) !== 'start') return envelope.idPrefix;
  return envelope.refPrefix ?? '';
}

function payloadBytes(entry: LogEntry, envelope: WsEnvelope): number {
  const json = Buffer.byteLength(entry.json);
  if ((entry.type ?? entry.event.type) !== 'start') return envelope.idPrefixBytes + json;
  return envelope.refPrefixBytes + json;
}

/** Writes prefix + the JSON with its `{` turned into `,` (or the JSON alone without a prefix). */
function writePayload(out: Buffer, offset: number, entry: LogEntry, envelope: WsEnvelope): number {
  const prefix = prefixOf(entry, envelope);
  if (prefix.length === 0) return offset + out.write(entry.json, offset);
  const at = offset + out.write(prefix, offset);
  const end = at + out.write(entry.json, at);
  out[at] = COMMA;
  return end;
}

function headerBytes(payload: number): number {
  return payload < 126 ? 2 : payload < 65536 ? 4 : 10;
}

function writeHeader(out: Buffer, offset: number, payload: number): number {
  out[offset] = FIN_TEXT;
  if (payload < 126) {
    out[offset + 1] = payload;
    return offset + 2;
  }
  if (payload < 65536) {
    out[offset + 1] = 126;
    out.writeUInt16BE(payload, offset + 2);
    return offset + 4;
  }
  out[offset + 1] = 127;
  // A payload is far below 2^48 bytes: the top two bytes of the 64-bit length are zero.
  out[offset + 2] = 0;
  out[offset + 3] = 0;
  out.writeUIntBE(payload, offset + 4, 6);
  return offset + 10;
}
