/**
 * `relay chat --transport ws`: one WebSocket to `/v1/ws` for the whole session; each answer is a
 * `start` frame (tagged with a `ref`), cancel is a `cancel` frame for its stream id.
 */
import WebSocket from 'ws';
import { isTerminal, type RelayEventBody, type TerminalEvent } from '../../core/events.js';
import { ChatError, type ChatRequest, type ChatTransport, unreachable } from './transport.js';

/** What the relay sends: relay events with `stream_id` (and `ref` on `start`), or protocol errors. */
type ServerMessage = RelayEventBody & { stream_id?: string; ref?: string; seq?: number; code?: string };

export class WsChatClient implements ChatTransport {
  private readonly url: string;
  private socket: Promise<WebSocket> | undefined;
  private streamId: string | undefined;
  private refs = 0;

  /** Sent as x-api-key on the upgrade when the relay requires a key. */
  private readonly key: string | undefined;

  constructor(url: string, key?: string) {
    this.url = url;
    this.key = key;
  }

  async ask(
    request: ChatRequest,
    onEvent: (event: RelayEventBody) => void,
    signal: AbortSignal,
  ): Promise<TerminalEvent> {
    const ws = await this.connect();
    if (ws.readyState !== WebSocket.OPEN) {
      throw new ChatError('connection_lost', 'the WebSocket to the relay is closed; send again to reconnect');
    }
    const ref = `chat-${++this.refs}`;
    return new Promise<TerminalEvent>((resolve, reject) => {
      let settled = false;
      const cleanup = (): void => {
        settled = true;
        ws.off('message', onMessage);
        ws.off('close', onClose);
        signal.removeEventListener('abort', onAbort);
        this.streamId = undefined;
      };
      const fail = (err: ChatError): void => {
        cleanup();
        reject(err);
      };
      /** One relay event or protocol message; after it settled the answer, the rest is not ours. */
      const onOne = (msg: ServerMessage): void => {
        // A refused start is an error message naming our ref, outside any stream (no seq).
        if (msg.type === 'error' && msg.seq === undefined) {
          if (msg.ref === ref || (msg.ref === undefined && msg.stream_id === undefined)) {
            fail(new ChatError(msg.code, msg.message));
          }
          return;
        }
        if (msg.type === 'start' && msg.ref === ref) this.streamId = msg.stream_id;
        if (this.streamId === undefined || msg.stream_id !== this.streamId) return;
        onEvent(msg);
        if (isTerminal(msg)) {
          cleanup();
          resolve(msg);
        }
      };
      const onMessage = (data: WebSocket.RawData): void => {
        let parsed: ServerMessage | ServerMessage[];
        try {
          parsed = JSON.parse(data.toString()) as ServerMessage | ServerMessage[];
        } catch {
          fail(new ChatError('protocol', 'the relay sent a frame that is not JSON'));
          return;
        }
        // `?frames=batch`: a flush of events is one array; pongs and notices are single objects.
        if (!Array.isArray(parsed)) {
          onOne(parsed);
          return;
        }
        for (const msg of parsed) {
          if (settled) return;
          onOne(msg);
        }
      };
      const onClose = (code: number, reason: Buffer): void => {
        this.socket = undefined;
        fail(
          new ChatError('connection_lost', `the relay closed the WebSocket (${code} ${reason.toString()})`),
        );
      };
      const onAbort = (): void => fail(new ChatError('quit', 'quit'));
      ws.on('message', onMessage);
      ws.on('close', onClose);
      signal.addEventListener('abort', onAbort, { once: true });
      ws.send(JSON.stringify({ type: 'start', ref, request }));
    });
  }

  async cancel(): Promise<void> {
    const ws = await this.socket;
    if (ws === undefined || this.streamId === undefined) return;
    ws.send(JSON.stringify({ type: 'cancel', stream_id: this.streamId }));
  }

  async close(): Promise<void> {
    const ws = await this.socket?.catch(() => undefined);
    this.socket = undefined;
    if (ws === undefined || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.close(1000);
      // A relay that never answers the close handshake must not hold the process open.
      setTimeout(() => {
        ws.terminate();
        resolve();
      }, 1000).unref();
    });
  }

  private connect(): Promise<WebSocket> {
    if (this.socket !== undefined) return this.socket;
    const connecting = new Promise<WebSocket>((resolve, reject) => {
      // Batched frames: one message per flush of events instead of one per event.
      const wsUrl = `${this.url.replace(/^http/, 'ws')}/v1/ws?frames=batch`;
      const ws = new WebSocket(wsUrl, this.key === undefined ? {} : { headers: { 'x-api-key': this.key } });
      const onError = (err: Error): void => {
        this.socket = undefined;
        reject(unreachable(this.url, err));
      };
      ws.once('error', onError);
      ws.once('open', () => {
        ws.off('error', onError);
        // A socket the relay closed between answers is replaced on the next message.
        ws.once('close', () => {
          if (this.socket === connecting) this.socket = undefined;
        });
        // Later socket errors end in 'close', which the answer in flight reports.
        ws.on('error', () => {});
        resolve(ws);
      });
      // An HTTP answer instead of an upgrade (a proxy, or not a relay) is not a connection failure.
      ws.once('unexpected-response', (_req, res) => {
        this.socket = undefined;
        ws.off('error', onError);
        ws.on('error', () => {});
        ws.terminate();
        reject(
          new ChatError(
            `http_${res.statusCode}`,
            `${wsUrl} answered ${res.statusCode} instead of a WebSocket`,
          ),
        );
      });
    });
    this.socket = connecting;
    return connecting;
  }
}
