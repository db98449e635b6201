/**
 * A `fetch` for the SDK built on `node:http(s)` with a keep-alive agent. The SDK still builds,
 * authenticates and classifies every request; this only changes how bytes travel. Why: undici's
 * fetch hands the body over as a web ReadableStream, and on a relay that forwards one small chunk
 * per token that hop (plus the SDK's own line/SSE generators on top) is most of the per-token CPU.
 *
 * A response keeps its Node stream aside: `takeNodeBody(response)` gives the adapter the
 * IncomingMessage to read directly. Anyone else reading `response.body` (error bodies, JSON
 * replies) gets a web stream that is only created, lazily, when first read.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

const nodeBodies = new WeakMap<Response, IncomingMessage>();

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

export function createNodeFetch(): NodeFetch {
  const agents = {
    'http:': new http.Agent({ keepAlive: true, scheduling: 'lifo' }),
    'https:': new https.Agent({ keepAlive: true, scheduling: 'lifo' }),
  };

  const nodeFetch = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const body = init.body;
    // The SDK sends JSON strings; anything else (uploads, streams) takes the platform's fetch.
    if ((body !== undefined && body !== null && typeof body !== 'string') || !(url.protocol in agents)) {
      return fetch(input, init);
    }
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, key) => {
      headers[key] = value;
    });
    // Identity bodies only: an SSE stream must not wait on a compressor, and nothing decodes here.
    delete headers['accept-encoding'];
    if (typeof body === 'string') headers['content-length'] = String(Buffer.byteLength(body));
    const protocol = url.protocol as keyof typeof agents;
    const transport = protocol === 'https:' ? https : http;
    const signal = init.signal ?? undefined;

    return new Promise<Response>((resolve, reject) => {
      const req = transport.request(url, {
        method: init.method ?? 'GET',
        headers,
        agent: agents[protocol],
        ...(signal ? { signal } : {}),
      });
      req.once('error', reject);
      req.once('response', (res) => {
        req.off('error', reject);
        // Errors after the headers surface on the body, to whoever reads it.
        req.on('error', () => {});
        resolve(toResponse(res, init.method === 'HEAD'));
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

function toResponse(res: IncomingMessage, head: boolean): Response {
  const headers = new Headers();
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  // A reader sees failures through its own iteration; with none attached (a body left unread,
  // or one that ended before an abort) an 'error' must not take the process down.
  res.on('error', () => {});
  const status = res.statusCode ?? 502;
  const empty = head || status === 204 || status === 304;
  if (empty) res.resume();
  // highWaterMark 0: nothing is pulled from the socket until somebody reads the web body.
  let web: ReadableStream<Uint8Array> | undefined;
  const lazy = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (nodeBodies.get(response) === res) nodeBodies.delete(response);
        web ??= Readable.toWeb(res) as ReadableStream<Uint8Array>;
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
  const response = new Response(empty ? null : lazy, {
    status,
    statusText: res.statusMessage ?? '',
    headers,
  });
  if (!empty) nodeBodies.set(response, res);
  return response;
}
