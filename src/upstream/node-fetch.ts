/**
 * A `fetch` for the SDK built on `node:http(s)` with a keep-alive agent. The SDK still builds,
 * authenticates and classifies every request; this only changes how bytes travel. Why: undici's
 * fetch hands the body over as a web ReadableStream, and on a relay that forwards one small chunk
 * per token that hop (plus the SDK's own line/SSE generators on top) is most of the per-token CPU.
 *
 * A response keeps its Node stream aside: `takeNodeBody(response)` gives the adapter the
 * IncomingMessage to read directly. Anyone else reading `response.body` (error bodies, JSON
 * replies) gets a web stream that is only created, lazily, when first read.
 *
 * Per request it does as little as it can (a burst of stream starts queues on one core): the
 * request URL is parsed once per distinct URL, the SDK's `Headers` are read without a copy, and
 * a successful answer is a `NodeResponse` (node-response.ts) rather than a platform `Response`.
 * A caller that will only ever take the Node body says so with `NODE_BODY_ONLY` in its fetch
 * options, and its success then has no web body at all.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { urlToHttpOptions } from 'node:url';
import { NodeResponse, type WebBody } from './node-response.js';

const nodeBodies = new WeakMap<object, IncomingMessage>();

const nodeBodyOnly = Symbol('relay.nodeBodyOnly');

/**
 * Fetch options (the SDK's `fetchOptions`, which it spreads into its `fetch` call) for a caller
 * that reads a success's body with `takeNodeBody` and nothing else: that response's `body` is
 * null. Why: the SDK reads `response.body` of every answer, only to register it with a
 * FinalizationRegistry, and a lazy web body made for that costs each stream start ~4.5 KB and,
 * on Node 20, ~30 µs (the web stream's constructor) for a stream nobody reads. With no body the
 * SDK registers the response itself, which is all it needs.
 */
export const NODE_BODY_ONLY = Object.freeze({ [nodeBodyOnly]: true }) as unknown as Readonly<
  // A marker under a symbol: RequestInit has no field for it, and the SDK's fetch options
  // may not set these four (it sets them itself).
  Omit<RequestInit, 'body' | 'headers' | 'method' | 'signal'>
>;

/**
 * The response's body as a Node stream, for the one reader that asked first. Undefined when the
 * response did not come from a NodeFetch, or when the web body was already read.
 */
export function takeNodeBody(response: Response): IncomingMessage | undefined {
  const body = nodeBodies.get(response);
  nodeBodies.delete(response);
  return body;
}

export interface NodeFetch {
  readonly fetch: typeof fetch;
  /** Closes pooled keep-alive sockets. */
  close(): void;
}

type Protocol = 'http:' | 'https:';

/** Where one URL string goes, parsed once: the node:http options it stands for. */
interface Target {
  readonly protocol: Protocol;
  readonly options: http.RequestOptions;
  /** The `host` header http.request adds itself when its headers are an object (not an array). */
  readonly host: string;
  /** Likewise the basic authorization of a URL's credentials. */
  readonly authorization: string | undefined;
}

/** Distinct URLs remembered; the SDK sends a handful (messages, with or without `?beta=true`). */
const MAX_TARGETS = 64;

export function createNodeFetch(): NodeFetch {
  const agents = {
    'http:': new http.Agent({ keepAlive: true, scheduling: 'lifo' }),
    'https:': new https.Agent({ keepAlive: true, scheduling: 'lifo' }),
  };
  const targets = new Map<string, Target | null>();

  /** The parsed target of `href`, or null when this fetch does not speak its protocol. */
  const targetOf = (href: string): Target | null => {
    let target = targets.get(href);
    if (target !== undefined) return target;
    const url = new URL(href);
    if (url.protocol === 'http:' || url.protocol === 'https:') {
      // What http.request(url) would derive itself (host, port, path, credentials), once.
      const { hostname, port, path, auth } = urlToHttpOptions(url);
      const options: http.RequestOptions = { protocol: url.protocol, hostname, path };
      if (port !== undefined && port !== '') options.port = port;
      // URL.host is http.request's own Host value: IPv6 in brackets, the default port left out.
      const authorization =
        typeof auth === 'string' ? `Basic ${Buffer.from(auth).toString('base64')}` : undefined;
      target = { protocol: url.protocol, options, host: url.host, authorization };
    } else {
      target = null;
    }
    if (targets.size >= MAX_TARGETS) targets.clear();
    targets.set(href, target);
    return target;
  };

  const nodeFetch = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const href = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const body = init.body;
    const target = targetOf(href);
    // The SDK sends JSON strings; anything else (uploads, streams) takes the platform's fetch.
    if ((body !== undefined && body !== null && typeof body !== 'string') || target === null) {
      return fetch(input, init);
    }
    const headers = nodeHeaders(init.headers, target, typeof body === 'string' ? body : undefined);
    const transport = target.protocol === 'https:' ? https : http;
    const signal = init.signal ?? undefined;
    const method = init.method ?? 'GET';
    const webBodyWanted = (init as { [nodeBodyOnly]?: true })[nodeBodyOnly] !== true;
    if (signal?.aborted) return Promise.reject(abortError(signal));

    return new Promise<Response>((resolve, reject) => {
      const req = transport.request({
        ...target.options,
        method,
        headers,
        agent: agents[target.protocol],
      });
      // The head is kept for the request's life as a rope of ~60 pieces (one concatenation per
      // header line, 2 KB per open stream); a regular-expression test flattens it in place.
      const head = (req as unknown as { _header?: unknown })._header;
      if (typeof head === 'string') {
        REQUEST_LINE.test(head);
        // Written into the head; but the agent keeps a copy of these options, this array
        // included, in its listeners for the socket's life (~0.9 KB per open stream).
        headers.length = 0;
      }
      // The signal reaches the request until its answer's headers, not through `options.signal`:
      // that ties the signal to the request with listeners kept for the request's life (~1.3 KB
      // per open stream). After the headers, the body's reader owns aborting it (see toResponse).
      const onAbort = signal === undefined ? undefined : abortRequest.bind(null, req, signal);
      if (signal !== undefined && onAbort !== undefined) {
        signal.addEventListener('abort', onAbort, { once: true });
      }
      const onError = (err: Error): void => {
        if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
        reject(err);
      };
      req.once('error', onError);
      req.once('response', (res) => {
        if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
        // Errors after the headers surface on the body, to whoever reads it. A shared no-op, not
        // an arrow made here: that would keep this call's scope (the request body, its headers and
        // options) alive for as long as the stream runs.
        req.off('error', onError);
        req.on('error', ignoreError);
        resolve(toResponse(res, method === 'HEAD', signal, webBodyWanted));
      });
      req.end(body ?? undefined);
    });
  };

  return {
    fetch: nodeFetch as typeof fetch,
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}

/** For 'error' listeners that only keep an unhandled error from taking the process down. */
function ignoreError(): void {}

/** Anchored: the match itself costs nothing once the subject is flat. */
const REQUEST_LINE = /^[A-Z]/;

/** What a fetch rejects with, or a body fails with, when its signal aborts (as node:http's own). */
function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), {
    name: 'AbortError',
    code: 'ABORT_ERR',
  });
}

function abortRequest(req: http.ClientRequest, signal: AbortSignal): void {
  req.destroy(abortError(signal));
}

/** Destroys `res` if `signal` aborts while it is open; the listener goes when `res` closes. */
function abortBodyWith(res: IncomingMessage, signal: AbortSignal): void {
  if (signal.aborted) {
    res.destroy(abortError(signal));
    return;
  }
  const onAbort = (): void => {
    res.destroy(abortError(signal));
  };
  signal.addEventListener('abort', onAbort, { once: true });
  res.once('close', () => signal.removeEventListener('abort', onAbort));
}

/**
 * The request's headers as node:http takes them, as a flat [name, value, …] array: given an
 * object, node:http copies every header into a per-request table (`kOutHeaders`, 1.8 KB per open
 * stream) that it keeps for the request's life; an array is written out as it is. So the headers
 * node:http would add to an object itself are added here: `host`, and basic authorization for a
 * URL's credentials. The SDK hands over a `Headers` (names already lower-case and validated), read
 * as it is; other shapes go through `Headers` to be normalised. Node still checks every name and
 * value before anything is sent.
 */
function nodeHeaders(source: HeadersInit | undefined, target: Target, body: string | undefined): string[] {
  const headers: string[] = [];
  let host = false;
  let authorization = false;
  const copy = (value: string, key: string): void => {
    // Identity bodies only: an SSE stream must not wait on a compressor, and nothing decodes here.
    if (key === 'accept-encoding' || (key === 'content-length' && body !== undefined)) return;
    if (key === 'host') host = true;
    else if (key === 'authorization') authorization = true;
    headers.push(key, value);
  };
  if (source instanceof Headers) source.forEach(copy);
  else new Headers(source).forEach(copy);
  if (!host) headers.push('host', target.host);
  if (!authorization && target.authorization !== undefined) {
    headers.push('authorization', target.authorization);
  }
  if (body !== undefined) headers.push('content-length', String(Buffer.byteLength(body)));
  return headers;
}

function toResponse(
  res: IncomingMessage,
  head: boolean,
  signal: AbortSignal | undefined,
  webBodyWanted: boolean,
): Response {
  // A reader sees failures through its own iteration; with none attached (a body left unread,
  // or one that ended before an abort) an 'error' must not take the process down.
  res.on('error', ignoreError);
  const status = res.statusCode ?? 502;
  const empty = head || status === 204 || status === 304;
  if (empty) res.resume();
  if (status >= 200 && status < 300 && !empty) {
    // The common case, once per stream start: no platform Response, Headers or web stream until
    // somebody asks for them (the SDK reads status and headers; body-reader takes the Node body).
    // Its signal no longer reaches the body: the reader that takes the Node body aborts it
    // itself (attempt.ts); a web body, made only when read, ties the signal to it then.
    const response: NodeResponse = new NodeResponse(
      res,
      webBodyWanted ? () => webBody(res, response, signal) : null,
    );
    nodeBodies.set(response, res);
    return response as unknown as Response;
  }
  // An error answer is short-lived and read at once (by the SDK): the signal reaches its body.
  if (signal !== undefined) abortBodyWith(res, signal);
  const headers = new Headers();
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const response = new Response(empty ? null : webBody(res, () => response, undefined), {
    status,
    statusText: res.statusMessage ?? '',
    headers,
  });
  if (!empty) nodeBodies.set(response, res);
  return response;
}

/**
 * The body as a web stream. highWaterMark 0: nothing is pulled from the socket until somebody
 * reads it, and the first read makes the Node body unavailable to `takeNodeBody`.
 */
function webBody(
  res: IncomingMessage,
  owner: object | (() => object),
  signal: AbortSignal | undefined,
): WebBody {
  let web: WebBody | undefined;
  return new ReadableStream(
    {
      async pull(controller) {
        const response = typeof owner === 'function' ? owner() : owner;
        if (nodeBodies.get(response) === res) nodeBodies.delete(response);
        if (web === undefined && signal !== undefined) abortBodyWith(res, signal);
        web ??= Readable.toWeb(res) as WebBody;
        const reader = web.getReader();
        try {
          const { value, done } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        } finally {
          reader.releaseLock();
        }
      },
      cancel(reason) {
        res.destroy(reason instanceof Error ? reason : undefined);
      },
    },
    { highWaterMark: 0 },
  );
}
