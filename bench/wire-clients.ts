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
    readSse(res, anthropic, { opened: h.opened, event: h.event, closed });
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

/**
 * A WebSocket to `/v1/ws` that sends `first` once open. One connection per stream: the fair twin
 * of one SSE response per stream.
 */
export function relayWs(target: TargetSpec, first: object, h: Handlers): Conn {
  const url = new URL('/v1/ws', target.url.replace(/^http/, 'ws'));
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
    const text = isBinary ? '' : data.toString();
    const type = WS_TYPE.exec(text)?.[1] ?? 'unknown';
    const seqMatch = WS_SEQ.exec(text)?.[1];
    if (!opened && type !== 'error') {
      opened = true;
      h.opened(WS_STREAM_ID.exec(text)?.[1]);
    }
    h.event(type, seqMatch === undefined ? undefined : Number(seqMatch), text, now);
  });
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
