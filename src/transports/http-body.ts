/**
 * Reads a JSON request body straight from Node's IncomingMessage, with a size limit, without the
 * web-streams hop that `Request.json()` would add on the hot path.
 */
import type { IncomingMessage } from 'node:http';
import { RelayError } from '../core/errors.js';
import { MAX_JSON_DEPTH, nestsDeeperThan, tooDeepMessage } from '../core/json-depth.js';

export async function readJsonBody(incoming: IncomingMessage, limitBytes: number): Promise<unknown> {
  requireJsonContentType(incoming.headers['content-type']);
  const declared = Number(incoming.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) throw tooLarge(limitBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of incoming as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) throw tooLarge(limitBytes);
    chunks.push(chunk);
  }
  const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '')
    throw new RelayError('invalid_request', 'the request body is empty; send a JSON object');
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    throw new RelayError('invalid_request', `the request body is not valid JSON (${(err as Error).message})`);
  }
  // Before anything serialises it again (the SDK's JSON.stringify overflows the stack far down).
  if (nestsDeeperThan(value, MAX_JSON_DEPTH)) {
    throw new RelayError('invalid_request', tooDeepMessage('the request body'));
  }
  return value;
}

function tooLarge(limit: number): RelayError {
  return new RelayError('payload_too_large', `the request body is over the ${limit}-byte limit`);
}

/**
 * A JSON body must say so. Beyond clarity this closes a hole: `text/plain` is a CORS "simple"
 * request, which any web page can send cross-site without a preflight.
 */
function requireJsonContentType(contentType: string | undefined): void {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  if (type === 'application/json' || (type?.startsWith('application/') === true && type.endsWith('+json')))
    return;
  throw new RelayError(
    'unsupported_media_type',
    `send the JSON body with Content-Type: application/json (got ${contentType === undefined ? 'none' : `"${contentType.slice(0, 100)}"`})`,
  );
}
