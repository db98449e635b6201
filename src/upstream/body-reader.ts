/**
 * An upstream response's body as chunks, read straight from the socket when node-fetch.ts kept
 * the Node stream aside, and released so that a finished body's keep-alive socket is reused.
 */
import { takeNodeBody } from './node-fetch.js';

export interface BodyReader {
  readonly chunks: AsyncIterable<Uint8Array>;
  /** The response's headers. */
  readonly headers: Headers;
  release(finished: boolean): void;
}

/**
 * The response body's chunks: the Node stream when node-fetch kept it aside, else the web body.
 * Only the body and the headers are kept; the Response wrapper is not needed once read.
 * `release(finished)`: after `message_stop` only the body's terminator is left, so the body is
 * drained and its keep-alive socket goes back to the pool; otherwise (a consumer that stopped
 * early, a failure) it is destroyed, which closes the upstream request at once.
 */
export function readBody(response: Response): BodyReader {
  const node = takeNodeBody(response);
  const headers = response.headers;
  if (node !== undefined) {
    return {
      headers,
      chunks: node.iterator({ destroyOnReturn: false }),
      release: (finished) => {
        if (node.readableEnded || node.destroyed) return;
        if (finished) node.resume();
        else node.destroy();
      },
    };
  }
  // Node's web ReadableStream is async-iterable; the DOM typings do not say so.
  return {
    headers,
    chunks: (response.body as AsyncIterable<Uint8Array> | null) ?? EMPTY_BODY,
    release: () => {},
  };
}

const EMPTY_BODY: AsyncIterable<Uint8Array> = {
  async *[Symbol.asyncIterator]() {},
};
