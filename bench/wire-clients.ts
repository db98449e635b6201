/**
 * The load client's three ways of talking to a target, on raw `node:http` and `ws` so the client's
 * own cost stays small: Anthropic's `/v1/messages` SSE, the relay's `/v1/streams` SSE (and its
 * resume and cancel routes), the relay's `/v1/ws`. Each hands the stream runner one call per event.
 */
import http from 'node:http';
import WebSocket from 'ws';
import type { TargetSpec } from './protocol.js';

/** What a connection reports to its stream. `type` is normalised: `text`, `done`, `error`, `cancelled`, … */
export interface Handlers {
  /** The relay's stream id (SSE `X-Stream-Id`, WebSocket `start`). */
  opened(streamId: string | undefined): void;
  /** One event; `seq` is the relay's event seq (SSE `id:`, WebSocket `seq`), undefined for Anthropic SSE. */
  event(type: string, seq: number | undefined, body: string, now: bigint): void;
  /** The transport ended; `error` when it ended abnormally (status, reset, close code). */
  closed(error: string | undefined): void;
  /** The connection is up and the request is going out (TTFT without connection setup starts here). */
  sent?(now: bigint): void;
  /** Bytes received for this stream: SSE body chunks, WebSocket message payloads. */
  bytes?(n: number): void;
}

export interface Conn {
  /** Drops the connection abruptly (no goodbye), as a lost network would. */
  drop(): void;
  /** WebSocket only: sends a client frame. */
  send?(frame: object): void;
}

/** Anthropic SSE event names → the relay's names where they mean the same. */
const ANTHROPIC_TYPES: Readonly<Record<string, string>> = {
  content_block_delta: 'text',
  message_stop: 'done',
  error: 'error',
};

function hostOf(url: URL): { host: string; port: number } {
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 80) };
}

/**
 * Reads an SSE body frame by frame. Every frame completed by one chunk gets that chunk's arrival
 * time: the moment the client could have shown it.
 */
function readSse(res: http.IncomingMessage, anthropic: boolean, h: Handlers): void {
  let buf = '';
  res.on('data', (chunk: Buffer) => {
    const now = process.hrtime.bigint();
    h.bytes?.(chunk.length);
    let text = chunk.toString('latin1');
    if (text.includes('\r')) text = text.replace(/\r\n?/g, '\n');
    buf += text;
    let start = 0;
    for (let end = buf.indexOf('\n\n', start); end >= 0; end = buf.indexOf('\n\n', start)) {
      frame(buf.slice(start, end), now);
      start = end + 2;
    }
    if (start > 0) buf = buf.slice(start);
  });
  const frame = (raw: string, now: bigint): void => {
    let type = 'message';
    let seq: number | undefined;
    let data = '';
    let any = false;
    for (const line of raw.split('\n')) {
      if (line.startsWith('data:')) {
        data += line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
        any = true;
      } else if (line.startsWith('event:')) {
        type = line.slice(6).trim();
        any = true;
      } else if (line.startsWith('id:')) {
        seq = Number(line.slice(3).trim());
      }
    }
    if (!any) return; // a comment (`:ok`, `: ping`)
    h.event(anthropic ? (ANTHROPIC_TYPES[type] ?? type) : type, seq, data, now);
  };
  res.on('error', () => {});
  res.on('close', () => h.closed(res.complete ? undefined : 'connection closed mid-response'));
}

function request(
  target: TargetSpec,
  method: 'GET' | 'POST',
  path: string,
  body: string | undefined,
  headers: Record<string, string>,
  anthropic: boolean,
  h: Handlers,
): Conn {
  const url = new URL(target.url);
  const req = http.request({
    ...hostOf(url),
    method,
    path: `${url.pathname.replace(/\/$/, '')}${path}`,
    // A fresh connection per stream, like a fresh user: no pool to hide connection setup.
    agent: false,
    headers: {
      accept: 'text/event-stream',
      ...(body === undefined
        ? {}
        : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }),
      ...headers,
      ...target.headers,
    },
  });
  let done = false;
  const closed = (error: string | undefined): void => {
    if (done) return;
    done = true;
    h.closed(error);
  };
  req.on('response', (res) => {
    if (res.statusCode !== 200) {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (text.length < 500) text += c;
      });
      res.on('error', () => {});
      res.on('close', () => closed(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
      return;
    }
    const id = res.headers['x-stream-id'];
    h.opened(typeof id === 'string' ? id : undefined);
    readSse(res, anthropic, { ...h, closed });
  });
  req.on('error', (err) => closed(err.message));
  req.once('socket', (socket) => socket.once('connect', () => h.sent?.(process.hrtime.bigint())));
  req.end(body);
  return { drop: () => req.destroy() };
}

/** `POST /v1/messages` with `stream: true`. */
export function anthropicStream(target: TargetSpec, prompt: string, maxTokens: number, h: Handlers): Conn {
  const body = JSON.stringify({
    model: 'claude-sonnet-4-5',
    max_tokens: maxTokens,
    stream: true,
    messages: [{ role: 'user', content: prompt }],
  });
  return request(
    target,
    'POST',
    '/v1/messages',
    body,
    { 'x-api-key': 'bench-key', 'anthropic-version': '2023-06-01' },
    true,
    h,
  );
}

/** The relay's stream request (DESIGN.md): `message` shorthand, `max_tokens`, `on_disconnect`. */
export function relayRequest(
  prompt: string,
  maxTokens: number,
  onDisconnect: 'abort' | 'grace' | undefined,
): Record<string, unknown> {
  return {
    message: prompt,
    max_tokens: maxTokens,
    ...(onDisconnect === undefined ? {} : { on_disconnect: onDisconnect }),
  };
}

/** `POST /v1/streams`: the SSE answer starts at once; `X-Stream-Id` names the stream. */
export function relaySseStream(target: TargetSpec, body: Record<string, unknown>, h: Handlers): Conn {
  return request(target, 'POST', '/v1/streams', JSON.stringify(body), {}, false, h);
}

/** `GET /v1/streams/:id/events` with `Last-Event-ID`: replay after `after`, then live. */
export function relaySseResume(target: TargetSpec, streamId: string, after: number, h: Handlers): Conn {
  return request(
    target,
    'GET',
    `/v1/streams/${encodeURIComponent(streamId)}/events`,
    undefined,
    { 'last-event-id': String(after) },
    false,
    h,
  );
}

/** Cancel requests ride a warm keep-alive connection, as a page's fetch would. */
const cancelAgent = new http.Agent({ keepAlive: true });

/** `POST /v1/streams/:id/cancel`; resolves with the status (the stream's end arrives on its SSE). */
export function relaySseCancel(target: TargetSpec, streamId: string): Promise<number> {
  const url = new URL(target.url);
  return new Promise((resolve) => {
    const req = http.request(
      {
        ...hostOf(url),
        method: 'POST',
        path: `${url.pathname.replace(/\/$/, '')}/v1/streams/${encodeURIComponent(streamId)}/cancel`,
        agent: cancelAgent,
        headers: { 'content-length': '0', ...target.headers },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      },
    );
    req.on('error', () => resolve(0));
    req.end();
  });
}

const WS_TYPE = /"type":"([a-z_]+)"/;
const WS_SEQ = /"seq":(\d+)/;
const WS_STREAM_ID = /"stream_id":"([^"]+)"/;

/** What starts every element of a batched frame but a stream's first (its `start`). */
const BATCH_SEPARATOR = '},{"stream_id":';

/**
 * The events of a batched frame (`?frames=batch`), as the texts single frames would have been.
 * Outside a JSON string `{"stream_id":` after `},` only starts an element (inside one its quotes
 * are escaped); only a verbatim block holding such an object could fool it, which the bench's
 * simulated answers never have.
 */
function batchElements(text: string): string[] {
  const out: string[] = [];
  const end = text.length - 1;
  let start = 1;
  for (
    let i = text.indexOf(BATCH_SEPARATOR, start);
    i !== -1 && i < end;
    i = text.indexOf(BATCH_SEPARATOR, start)
  ) {
    out.push(text.slice(start, i + 1));
    start = i + 2;
  }
  out.push(text.slice(start, end));
  return out;
}

/**
 * A WebSocket to `/v1/ws` that sends `first` once open. One connection per stream: the fair twin
 * of one SSE response per stream. `batch`: the socket asks for batched frames (`?frames=batch`).
 */
export function relayWs(target: TargetSpec, first: object, h: Handlers, batch = false): Conn {
  const url = new URL(batch ? '/v1/ws?frames=batch' : '/v1/ws', target.url.replace(/^http/, 'ws'));
  const ws = new WebSocket(url, { headers: { ...target.headers } });
  let done = false;
  let opened = false;
  const closed = (error: string | undefined): void => {
    if (done) return;
    done = true;
    h.closed(error);
  };
  ws.on('open', () => {
    h.sent?.(process.hrtime.bigint());
    ws.send(JSON.stringify(first));
  });
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const now = process.hrtime.bigint();
    h.bytes?.(data.length);
    const text = isBinary ? '' : data.toString();
    if (batch && text.charCodeAt(0) === 0x5b) {
      for (const element of batchElements(text)) onText(element, now);
    } else {
      onText(text, now);
    }
  });
  const onText = (text: string, now: bigint): void => {
    const type = WS_TYPE.exec(text)?.[1] ?? 'unknown';
    const seqMatch = WS_SEQ.exec(text)?.[1];
    if (!opened && type !== 'error') {
      opened = true;
      h.opened(WS_STREAM_ID.exec(text)?.[1]);
    }
    h.event(type, seqMatch === undefined ? undefined : Number(seqMatch), text, now);
  };
  ws.on('error', (err) => closed(err.message));
  ws.on('close', (code, reason) =>
    closed(code === 1000 || code === 1005 ? undefined : `websocket closed ${code} ${reason.toString()}`),
  );
  return {
    drop: () => ws.terminate(),
    send: (frame) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
    },
  };
}

const TERMINAL: ReadonlySet<string> = new Set(['done', 'error', 'cancelled']);
const WS_REF = /^\{"ref":"([^"]*)"/;

/**
 * One WebSocket to `/v1/ws` carrying many streams, as the demo page and `relay chat` use it. Streams
 * start with a `ref`; the `start` event echoes it with the stream's id, and every later message is
 * routed by `stream_id`. The socket closes when its last stream lets go of it.
 */
class MuxSocket {
  private readonly ws: WebSocket;
  private open = false;
  private readonly queued: string[] = [];
  private readonly sentHooks: Handlers[] = [];
  private readonly byRef = new Map<string, Handlers>();
  private readonly byId = new Map<string, Handlers>();
  private users = 0;

  constructor(
    target: TargetSpec,
    private readonly onEmpty: () => void,
  ) {
    this.ws = new WebSocket(new URL('/v1/ws', target.url.replace(/^http/, 'ws')), {
      headers: { ...target.headers },
    });
    this.ws.on('open', () => {
      this.open = true;
      const now = process.hrtime.bigint();
      for (const h of this.sentHooks.splice(0)) h.sent?.(now);
      for (const frame of this.queued.splice(0)) this.ws.send(frame);
    });
    this.ws.on('message', (data: Buffer, isBinary: boolean) => this.message(data, isBinary));
    this.ws.on('error', () => {});
    this.ws.on('close', (code, reason) => {
      const error = `websocket closed ${code} ${reason.toString()}`;
      for (const h of new Set([...this.byRef.values(), ...this.byId.values()])) h.closed(error);
      this.byRef.clear();
      this.byId.clear();
      this.onEmpty();
    });
  }

  private message(data: Buffer, isBinary: boolean): void {
    const now = process.hrtime.bigint();
    const text = isBinary ? '' : data.toString();
    const type = WS_TYPE.exec(text)?.[1] ?? 'unknown';
    const id = WS_STREAM_ID.exec(text)?.[1];
    let h = id === undefined ? undefined : this.byId.get(id);
    if (h === undefined) {
      // The stream's `start` (or an error about its start frame) leads with the ref it was sent with.
      const ref = WS_REF.exec(text)?.[1];
      h = ref === undefined ? undefined : this.byRef.get(ref);
      if (h === undefined || ref === undefined) return;
      this.byRef.delete(ref);
      if (id !== undefined && type !== 'error') {
        this.byId.set(id, h);
        h.opened(id);
      }
    }
    h.bytes?.(data.length);
    const seq = WS_SEQ.exec(text)?.[1];
    // After its terminal event a stream has nothing left to cancel when it lets go.
    if (id !== undefined && seq !== undefined && TERMINAL.has(type)) this.byId.delete(id);
    h.event(type, seq === undefined ? undefined : Number(seq), text, now);
  }

  send(frame: object): void {
    const text = JSON.stringify(frame);
    if (this.open) this.ws.send(text);
    else this.queued.push(text);
  }

  /** Starts one stream on this socket; the returned Conn's `drop` cancels it and lets go of the socket. */
  start(ref: string, first: object, h: Handlers): Conn {
    this.users++;
    this.byRef.set(ref, h);
    if (this.open) h.sent?.(process.hrtime.bigint());
    else this.sentHooks.push(h);
    this.send(first);
    let dropped = false;
    return {
      // A shared socket cannot be dropped for one stream: the stream is cancelled and forgotten.
      drop: () => {
        if (dropped) return;
        dropped = true;
        this.byRef.delete(ref);
        for (const [id, owner] of this.byId) {
          if (owner !== h) continue;
          this.byId.delete(id);
          if (this.ws.readyState === WebSocket.OPEN) this.send({ type: 'cancel', stream_id: id });
        }
        if (--this.users === 0) {
          this.onEmpty(); // the job's next stream opens a new socket rather than this closing one
          this.ws.close(1000);
        }
      },
      send: (frame) => {
        if (this.ws.readyState === WebSocket.OPEN) this.send(frame);
      },
    };
  }
}

const muxSockets = new Map<string, MuxSocket>();

/** A stream on the shared WebSocket of `key` (the job's tag): opened by the job's first stream. */
export function relayWsMux(target: TargetSpec, key: string, ref: string, first: object, h: Handlers): Conn {
  let mux = muxSockets.get(key);
  if (mux === undefined) {
    const created = new MuxSocket(target, () => {
      if (muxSockets.get(key) === created) muxSockets.delete(key);
    });
    mux = created;
    muxSockets.set(key, mux);
  }
  return mux.start(ref, first, h);
}
