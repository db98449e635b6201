/**
 * An upstream response's body, pushed chunk by chunk to one reader straight from the socket when
 * node-fetch.ts kept the Node stream aside, and released so that a finished body's keep-alive
 * socket is reused.
 */
import type { IncomingMessage } from 'node:http';
import { takeNodeBody } from './node-fetch.js';

/** Takes one chunk synchronously; returns false to stop reading. May throw: reading stops, read() rejects. */
export type ChunkReader = (chunk: Uint8Array) => boolean;

export interface BodyReader {
  /** The response's headers. */
  readonly headers: Headers;
  /**
   * Hands every chunk to `onChunk` as it arrives, until the body ends, `onChunk` returns false,
   * or the body fails (rejects with its error, or with what `onChunk` threw). Call once.
   */
  read(onChunk: ChunkReader): Promise<void>;
  release(finished: boolean): void;
}

/**
 * The response body: the Node stream when node-fetch kept it aside, else the web body. Only the
 * body and the headers are kept; the Response wrapper is not needed once read.
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
      read: (onChunk) => readNode(node, onChunk),
      release: (finished) => {
        if (node.readableEnded || node.destroyed) return;
        if (finished) node.resume();
        else node.destroy();
      },
    };
  }
  // Node's web ReadableStream is async-iterable; the DOM typings do not say so.
  const body = response.body as AsyncIterable<Uint8Array> | null;
  return {
    headers,
    read: async (onChunk) => {
      if (body === null) return;
      for await (const chunk of body) if (!onChunk(chunk)) return;
    },
    release: () => {},
  };
}

/**
 * Flowing mode with plain listeners: each body chunk reaches `onChunk` in the same tick, where
 * an async iterator over the stream costs a 'readable' tick, a read() and a promise per chunk.
 * Every listener is removed however reading ends.
 */
function readNode(node: IncomingMessage, onChunk: ChunkReader): Promise<void> {
  if (node.readableEnded) return Promise.resolve();
  if (node.destroyed) return node.errored ? Promise.reject(node.errored) : Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const stop = (error?: unknown): void => {
      node.off('data', onData);
      node.off('end', onEnd);
      node.off('error', onError);
      node.off('close', onEnd);
      // What is left unread stays in the stream for release() to drain or drop.
      node.pause();
      if (error === undefined) resolve();
      else reject(error);
    };
    const onData = (chunk: Buffer): void => {
      let more: boolean;
      try {
        more = onChunk(chunk);
      } catch (err) {
        stop(err);
        return;
      }
      if (!more) stop();
    };
    const onEnd = (): void => stop();
    const onError = (err: Error): void => stop(err);
    // `on`, not `once`: stop() removes all four on the first that fires, and a `once` wraps its
    // listener in a function and a state object of its own (~150 B each per open stream).
    node.on('data', onData);
    node.on('end', onEnd);
    node.on('error', onError);
    // Destroyed without an error (an abort): no 'end' will come.
    node.on('close', onEnd);
  });
}
