/**
 * A successful node:http answer shaped as the `Response` the SDK expects from its `fetch`, built
 * without the platform's objects: the SDK reads `ok`, `status`, `headers` and touches `body` on
 * every request, and body-reader.ts takes the Node stream itself, so on a stream start the
 * platform `Response` (and, with @hono/node-server, its wrapper of it) would be built for
 * nothing. Anything that reads the body some other way (`text()`, `json()`, `clone()`, …) gets a
 * platform `Response` around the same web stream, made when first asked for.
 */
import type { IncomingMessage } from 'node:http';

/** The web body type the platform's Response has. */
export type WebBody = NonNullable<Response['body']>;

export class NodeResponse implements Response {
  readonly status: number;
  readonly statusText: string;
  readonly ok = true;
  readonly redirected = false;
  readonly type: ResponseType = 'default';
  /** As a Response built by a custom fetch has: the SDK falls back to the URL it requested. */
  readonly url = '';
  readonly headers: Headers;
  readonly #makeBody: (() => WebBody) | null;
  #body: WebBody | undefined;
  #full: Response | undefined;

  /**
   * `makeBody` builds the web body, once, when something first asks for it. Null: the body is
   * only ever taken as the Node stream (node-fetch.ts `NODE_BODY_ONLY`), so `body` is null and
   * the readers below see an empty body.
   */
  constructor(res: IncomingMessage, makeBody: (() => WebBody) | null) {
    this.status = res.statusCode ?? 200;
    this.statusText = res.statusMessage ?? '';
    this.headers = headersOf(res.rawHeaders);
    this.#makeBody = makeBody;
  }

  get body(): WebBody | null {
    if (this.#makeBody === null) return null;
    this.#body ??= this.#makeBody();
    return this.#body;
  }

  get bodyUsed(): boolean {
    return this.#body !== undefined && this.full().bodyUsed;
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.full().arrayBuffer();
  }

  blob(): Promise<Blob> {
    return this.full().blob();
  }

  bytes(): ReturnType<Response['bytes']> {
    return this.full().bytes();
  }

  formData(): Promise<FormData> {
    return this.full().formData();
  }

  json(): Promise<unknown> {
    return this.full().json();
  }

  text(): Promise<string> {
    return this.full().text();
  }

  clone(): Response {
    return this.full().clone();
  }

  /** The platform Response over the same body stream and headers, for the rarer readers. */
  private full(): Response {
    this.#full ??= new Response(this.body, {
      status: this.status,
      statusText: this.statusText,
      headers: this.headers,
    });
    return this.#full;
  }
}

function headersOf(raw: readonly string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return headers;
}
