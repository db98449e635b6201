/** Request bodies: size-capped reading and JSON parsing, answering the API's errors itself. */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type Exchange, sendError } from './exchange.js';

/** Bodies above this are answered with 413 request_too_large (the API's own limit is 32 MB). */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;

/**
 * Reads the body up to `cap` bytes. Past the cap it drains the rest (so the client finishes
 * sending and can read the 413) up to a hard limit, then drops the connection.
 */
export async function readBody(req: IncomingMessage, cap: number): Promise<Buffer | 'too_large' | 'aborted'> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size <= cap) chunks.push(chunk);
      else if (size > cap * 8) {
        req.destroy();
        return 'aborted';
      }
    }
  } catch {
    return 'aborted';
  }
  return size > cap ? 'too_large' : Buffer.concat(chunks);
}

/**
 * The parsed JSON body; or undefined after answering 413 / 400 (or when the client left
 * mid-body). The record gets the body's size and hash, and the body itself only when the records
 * keep bodies (a test asked).
 */
export async function readJsonBody(ex: Exchange, cap = MAX_BODY_BYTES): Promise<unknown> {
  const bytes = await readBody(ex.req, cap);
  if (bytes === 'aborted') return undefined;
  if (bytes === 'too_large') {
    sendError(ex, 413, `Request exceeds the maximum allowed number of bytes (${cap}).`, {
      headers: { connection: 'close' },
    });
    return undefined;
  }
  ex.records.update(ex.record, {
    bodyBytes: bytes.length,
    bodySha256: createHash('sha256').update(bytes).digest('hex'),
  });
  try {
    const json: unknown = JSON.parse(bytes.toString('utf8'));
    if (ex.records.keepsBodies) ex.records.update(ex.record, { body: json });
    return json;
  } catch (err) {
    const detail = err instanceof Error ? err.message : 'parse error';
    sendError(ex, 400, `There was an error parsing the body of your request: ${detail}`);
    return undefined;
  }
}
