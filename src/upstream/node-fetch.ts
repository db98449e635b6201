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
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { urlToHttpOptions } from 'node:url';
import { NodeResponse, type WebBody } from './node-response.js';

const nodeBodies = new WeakMap<object, IncomingMessage>();

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
      if (auth !== undefined) options.auth = auth;
      target = { protocol: url.protocol, options };
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
    const headers = nodeHeaders(init.headers);
    if (typeof body === 'string') headers['content-length'] = String(Buffer.byteLength(body));
    const transport = target.protocol === 'https:' ? https : http;
    const signal = init.signal ?? undefined;
    const method = init.method ?? 'GET';

    return new Promise<Response>((resolve, reject) => {
      const options: http.RequestOptions = {
        ...target.options,
        method,
        headers,
        agent: agents[target.protocol],
      };
      if (signal) options.signal = signal;
      const req = transport.request(options);
      req.once('error', reject);
      req.once('response', (res) => {
        req.off('error', reject);
        // Errors after the headers surface on the body, to whoever reads it. A shared no-op, not
        // an arrow made here: that would keep this call's scope (the request body, its headers and
        // options) alive for as long as the stream runs.
        req.on('error', ignoreError);
        resolve(toResponse(res, method === 'HEAD'));
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

/**
 * The request's headers as node:http takes them. The SDK hands over a `Headers` (names already
 * lower-case and validated), read as it is; other shapes go through `Headers` to be normalised.
 */
function nodeHeaders(source: HeadersInit | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  const copy = (value: string, key: string): void => {
    headers[key] = value;
  };
  if (source instanceof Headers) source.forEach(copy);
  else new Headers(source).forEach(copy);
  // Identity bodies only: an SSE stream must not wait on a compressor, and nothing decodes here.
  delete headers['accept-encoding'];
  return headers;
}

function toResponse(res: IncomingMessage, head: boolean): Response {
  // A reader sees failures through its own iteration; with none attached (a body left unread,
  // or one that ended before an abort) an 'error' must not take the process down.
  res.on('error', ignoreError);
  const status = res.statusCode ?? 502;
  const empty = head || status === 204 || status === 304;
  if (empty) res.resume();
  if (status >= 200 && status < 300 && !empty) {
    // The common case, once per stream start: no platform Response, Headers or web stream until
    // somebody asks for them (the SDK reads status and headers; body-reader takes the Node body).
    const response: NodeResponse = new NodeResponse(res, () => webBody(res, response));
    nodeBodies.set(response, res);
    return response as unknown as Response;
  }
  const headers = new Headers();
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const response = new Response(empty ? null : webBody(res, () => response), {
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
function webBody(res: IncomingMessage, owner: object | (() => object)): WebBody {
  let web: WebBody | undefined;
  return new ReadableStream(
    {
      async pull(controller) {
        const response = typeof owner === 'function' ? owner() : owner;
        if (nodeBodies.get(response) === res) nodeBodies.delete(response);
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
