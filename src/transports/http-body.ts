/**
 * Reads a JSON request body straight from Node's IncomingMessage, with a size limit and a share
 * of the relay's request-byte budget, without the web-streams hop that `Request.json()` would add
 * on the hot path.
 */
import type { IncomingMessage } from 'node:http';
import { RelayError } from '../core/errors.js';
import { MAX_JSON_DEPTH, nestsDeeperThan, tooDeepMessage } from '../core/json-depth.js';
import { type RequestBudget, tooLarge } from './request-budget.js';

export async function readJsonBody(
  incoming: IncomingMessage,
  limitBytes: number,
  budget?: RequestBudget,
): Promise<unknown> {
  try {
    requireJsonContentType(incoming.headers['content-type']);
  } catch (err) {
    throw refuse(incoming, err);
  }
  const declared = Number(incoming.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes)
    throw refuse(incoming, tooLarge('the request body', limitBytes));
  // A declared length is reserved up front, so a refusal comes before any byte is buffered.
  let reserved = Number.isFinite(declared) ? declared : 0;
  try {
    if (budget !== undefined && reserved > 0) budget.reserve(reserved);
  } catch (err) {
    reserved = 0;
    throw refuse(incoming, err);
  }
  let value: unknown;
  try {
    const chunks = await readChunks(incoming, (size) => {
      if (size > limitBytes) throw tooLarge('the request body', limitBytes);
      if (budget !== undefined && size > reserved) {
        budget.reserve(size - reserved);
        reserved = size;
      }
    });
    const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '')
      throw new RelayError('invalid_request', 'the request body is empty; send a JSON object');
    try {
      value = JSON.parse(text) as unknown;
    } catch (err) {
      throw new RelayError(
        'invalid_request',
        `the request body is not valid JSON (${(err as Error).message})`,
      );
    }
  } catch (err) {
    throw refuse(incoming, err);
  } finally {
    budget?.release(reserved);
  }
  // Before anything serialises it again (the SDK's JSON.stringify overflows the stack far down).
  if (nestsDeeperThan(value, MAX_JSON_DEPTH)) {
    throw new RelayError('invalid_request', tooDeepMessage('the request body'));
  }
  return value;
}

/**
 * The body's chunks, read with plain listeners (an async iterator over the request costs a
 * generator, a finished() watcher and a promise per chunk on every stream start). `accept(size)`
 * sees the running total before each chunk is kept and may throw to stop reading: the rest is
 * then left for `refuse` to drain. A request that fails or closes before its end rejects.
 */
function readChunks(incoming: IncomingMessage, accept: (size: number) => void): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  if (incoming.readableEnded) return Promise.resolve(chunks);
  if (incoming.destroyed) return Promise.reject(incoming.errored ?? prematureClose());
  return new Promise<Buffer[]>((resolve, reject) => {
    let size = 0;
    const stop = (err?: unknown): void => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('close', onClose);
      if (err === undefined) resolve(chunks);
      else reject(err);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      try {
        accept(size);
      } catch (err) {
        stop(err);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => stop();
    const onError = (err: Error): void => stop(err);
    // 'close' without 'end': the client went away mid-body (after 'end' this listener is gone).
    const onClose = (): void => stop(incoming.errored ?? prematureClose());
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
    incoming.on('close', onClose);
  });
}

function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/**
 * A refused body is read to its end and discarded (not buffered), so the client, still sending,
 * gets the answer instead of a reset.
 */
function refuse(incoming: IncomingMessage, err: unknown): unknown {
  if (!incoming.readableEnded) incoming.resume();
  return err;
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
