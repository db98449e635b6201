/**
 * One WebSocket connection: client frames in, any number of streams out. Each stream on the
 * connection is a core cursor with its own sink; all sinks share the socket, its backpressure and
 * its lifetime. When the socket goes, every cursor is detached and each stream follows its own
 * `on_disconnect` policy (the core does that).
 */
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket } from 'ws';
import { RelayError, toRelayError } from '../core/errors.js';
import { assertNever } from '../core/events.js';
import type { Principal } from '../core/principal.js';
import type { StreamHandle } from '../core/stream-handle.js';
import type { Cursor, CursorSink, LogEntry } from '../core/stream-log.js';
import type { StreamRegistry } from '../core/streams.js';
import type { Logger } from '../logger.js';
import { type RequestBudget, tooLarge } from './request-budget.js';
import { wsBatchMessage, wsMessage } from './wire.js';
import { FloodGuard } from './ws-flood-guard.js';
import { type WsEnvelope, wsBatchFrame, wsEnvelope, wsEventFrames } from './ws-frames.js';
import {
  type CancelFrame,
  type ErrorContext,
  errorMessage,
  type FrameMode,
  parseClientFrame,
  pongMessage,
  type ResumeFrame,
  type StartFrame,
  WS_CLOSE,
} from './ws-protocol.js';

export interface WsConnectionOptions {
  readonly registry: StreamRegistry;
  /** The principal authenticated at upgrade time; it owns the streams started here. */
  readonly principal: Principal;
  /** How events are framed: one message each, or one JSON array per cursor flush (`?frames=batch`). */
  readonly frames: FrameMode;
  /** Cursors pause while the socket holds more than this. */
  readonly highWaterBytes: number;
  /** A write that leaves more than this in the socket's buffer closes the connection (4008). */
  readonly hardLimitBytes: number;
  readonly maxMessagesPerSecond: number;
  /** Most streams started here and still running; more `start`s are refused (limit_exceeded). */
  readonly maxStreamsPerConnection: number;
  /** The client's address key: streams started here count against it (see the registry). */
  readonly address?: string | undefined;
  /** A bigger frame gets `payload_too_large` (with its `ref` when one is found) and is not parsed. */
  readonly maxFrameBytes: number;
  readonly requestBudget?: RequestBudget;
  readonly logger?: Logger | undefined;
  /** Told when the relay closes the connection (the close code; 1006 for a terminate). */
  readonly onServerClose: (code: number) => void;
  /** Told once when the socket has closed and every cursor is detached. */
  readonly onClose: (connection: WsConnection) => void;
}

/** One stream on this connection; `cursor` is unset while `stream.attach` is still replaying. */
interface Attachment {
  cursor: Cursor | undefined;
}

export class WsConnection {
  private readonly ws: WebSocket;
  private readonly socket: Duplex;
  private readonly options: WsConnectionOptions;
  private readonly attached = new Map<string, Attachment>();
  private readonly drainWaiters = new Set<() => void>();
  /** Whether a pong came since the last heartbeat ping. */
  private alive = true;
  /** Consecutive heartbeats that found the socket backed up and its buffer not shrinking. */
  private stuckTicks = 0;
  /** The buffer at the previous heartbeat, and whether it drained since: did the client read? */
  private bufferedAtTick = 0;
  private drainedSinceTick = false;
  /** Set when the server started closing, or the socket closed: no more frames are served. */
  private closing = false;
  private frameQueue: Promise<void> = Promise.resolve();
  /** Set by a drain: the connection closes with 1001 as soon as it carries no stream. */
  private draining = false;
  private readonly flood: FloodGuard;
  /** Streams started on this connection, until they are seen to have ended. */
  private readonly started = new Set<StreamHandle>();
  /** `start`s being created right now (the registry is async): they count too. */
  private starting = 0;
  /** Set while reading is paused by the flood limit; resumes reading when it fires. */
  private floodPause: NodeJS.Timeout | undefined;

  /** `socket` is the raw socket `ws` was upgraded on: each batch's frames are written to it at once, and it is watched for 'drain'. */
  constructor(ws: WebSocket, socket: Duplex, options: WsConnectionOptions) {
    this.ws = ws;
    this.socket = socket;
    this.options = options;
    this.flood = new FloodGuard({ perSecond: options.maxMessagesPerSecond });
    ws.on('message', this.onMessage);
    ws.on('pong', this.onPong);
    ws.on('error', this.onError);
    ws.once('close', this.onClose);
    socket.on('drain', this.onDrain);
  }

  /** Bytes queued on the socket and not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /** Streams this connection is writing. */
  get streams(): number {
    return this.attached.size;
  }

  /**
   * One heartbeat. While the socket is backed up (the kernel refused our last write) our ping would
   * sit behind our own buffer, so a missing pong proves nothing; what does is a buffer that neither
   * shrank nor drained: two such heartbeats in a row close the connection with 4008 (the client
   * stopped reading). Otherwise a peer that did not pong since the previous heartbeat is
   * terminated, and the others are pinged.
   */
  heartbeat(): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const buffered = this.ws.bufferedAmount;
    const progressed = this.drainedSinceTick || buffered < this.bufferedAtTick;
    this.bufferedAtTick = buffered;
    this.drainedSinceTick = false;
    if (this.socket.writableNeedDrain && buffered > 0) {
      this.stuckTicks = progressed ? 0 : this.stuckTicks + 1;
      if (this.stuckTicks >= 2) this.closeSlow('the client stopped reading');
      return;
    }
    this.stuckTicks = 0;
    if (!this.alive) {
      this.terminate();
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  /** Starts the closing handshake with `code`; cursors are detached at once so streams do not wait on it. */
  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.detachAll();
    this.options.onServerClose(code);
    this.ws.close(code, reason);
  }

  /**
   * The relay is draining: close with 1001 (going away) once this connection carries no stream —
   * now if `now` and it is idle, else after its last stream's terminal event or the next frame
   * that leaves it without a stream (a connection opened during the drain may still resume).
   */
  drain(now: boolean): void {
    this.draining = true;
    if (now) this.closeIfDrained();
  }

  private closeIfDrained(): void {
    if (this.draining && this.attached.size === 0) {
      this.close(WS_CLOSE.shutdown, 'going away: the relay is restarting; reconnect to another instance');
    }
  }

  /** Drops the socket without a handshake (dead peer, shutdown straggler). */
  terminate(): void {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.closing = true;
    this.detachAll();
    this.options.onServerClose(1006);
    this.ws.terminate();
  }

  private readonly onMessage = (data: RawData, isBinary: boolean): void => {
    if (this.closing || this.flooded()) return;
    const bytes = toBuffer(data);
    if (bytes.length > this.options.maxFrameBytes) {
      // Only this frame is refused: the socket's other streams go on.
      this.sendError(tooLarge('the frame', this.options.maxFrameBytes), refOf(bytes));
      return;
    }
    // The frame is already in memory, but parsing it doubles that: count it while it is parsed.
    const budget = this.options.requestBudget;
    try {
      budget?.reserve(bytes.length);
    } catch (err) {
      this.sendError(this.reportable(err), refOf(bytes));
      return;
    }
    let parsed: ReturnType<typeof parseClientFrame>;
    try {
      parsed = parseClientFrame(bytes, isBinary);
    } finally {
      budget?.release(bytes.length);
    }
    if (!parsed.ok) {
      this.sendError(parsed.error, parsed.context);
      return;
    }
    const frame = parsed.frame;
    // During a drain, a frame that leaves the connection without a stream closes it (1001).
    const afterFrame = (): void => this.closeIfDrained();
    switch (frame.type) {
      case 'start':
        this.start(frame).catch(this.onInternalError).finally(afterFrame);
        break;
      case 'cancel':
        this.inOrder(() => this.cancel(frame), afterFrame);
        break;
      case 'resume':
        this.inOrder(() => this.resume(frame), afterFrame);
        break;
      case 'ping':
        this.sendText(pongMessage(frame.t));
        afterFrame();
        break;
      default:
        assertNever(frame, 'client frame');
    }
  };

  private async start(frame: StartFrame): Promise<void> {
    const context: ErrorContext = frame.ref === undefined ? {} : { ref: frame.ref };
    for (const handle of this.started) if (handle.state !== 'running') this.started.delete(handle);
    const max = this.options.maxStreamsPerConnection;
    if (this.started.size + this.starting >= max) {
      const error = new RelayError(
        'limit_exceeded',
        `this connection already has ${max} streams running; wait for one to end, cancel one, or open another connection`,
      );
      this.sendError(error, context);
      return;
    }
    let stream: StreamHandle;
    this.starting++;
    try {
      stream = await this.options.registry.create(frame.request, {
        owner: this.options.principal.id,
        limits: this.options.principal.limits,
        ...(frame.anthropic_beta === undefined ? {} : { betas: frame.anthropic_beta }),
        ...(this.options.address === undefined ? {} : { address: this.options.address }),
        transport: 'ws',
      });
    } catch (err) {
      const error = this.reportable(err);
      // One line per refused start, like the HTTP routes: its code, never the request.
      this.options.logger?.info(
        { transport: 'ws', code: error.code, principal: this.options.principal.id },
        'request refused',
      );
      this.sendError(error, context);
      return;
    } finally {
      this.starting--;
    }
    this.started.add(stream);
    // The socket went while the stream was being created: nobody ever learned its id to resume it.
    if (this.closing) {
      await stream.cancel('disconnect');
      return;
    }
    this.attach(stream, 0, frame.ref);
  }

  /**
   * Runs resume and cancel frames one after the other, in the order they came: finding a stream
   * may wait on the store, and a `resume` then `cancel` must not be answered the other way round.
   */
  private inOrder(task: () => Promise<void>, after: () => void): void {
    this.frameQueue = this.frameQueue.then(task).catch(this.onInternalError).finally(after);
  }

  private async cancel(frame: CancelFrame): Promise<void> {
    const stream = await this.find(frame.stream_id);
    if (stream === undefined) return;
    // Idempotent: a finished stream stays as it is; its terminal event was or will be delivered.
    const wasRunning = stream.state === 'running';
    await stream.cancel('client');
    // A socket that is not reading the stream (it may run on another instance) still gets its answer.
    const terminal = stream.terminal;
    if (wasRunning && terminal !== undefined && !this.attached.has(stream.id)) {
      const entry = { seq: terminal.seq, event: terminal, json: JSON.stringify(terminal) };
      const idJson = JSON.stringify(stream.id);
      this.sendText(
        this.options.frames === 'batch' ? wsBatchMessage([entry], idJson) : wsMessage(entry, idJson),
      );
    }
  }

  private async resume(frame: ResumeFrame): Promise<void> {
    const stream = await this.find(frame.stream_id);
    if (stream === undefined || this.closing) return;
    const { after, stream_id } = frame;
    let follow: boolean;
    try {
      follow = await stream.resumeFrom(after);
    } catch (err) {
      this.sendError(this.reportable(err), { stream_id });
      return;
    }
    // Everything up to the terminal event was delivered: nothing to send, and no cursor to keep.
    if (follow) this.attach(stream, after);
  }

  /** The stream if this client owns it; otherwise answers not_found (foreign ids look unknown). */
  private async find(id: string): Promise<StreamHandle | undefined> {
    try {
      return await this.options.registry.open(id, this.options.principal.id);
    } catch (err) {
      this.sendError(this.reportable(err), { stream_id: id });
      return undefined;
    }
  }

  /**
   * Subscribes this connection to `stream` from after `after`. A cursor this connection already has
   * on the stream is replaced, and detached only after the new one is attached, so the stream never
   * sees zero subscribers (which would start its disconnect policy).
   */
  private attach(stream: StreamHandle, after: number, ref?: string): void {
    const envelope = wsEnvelope(
      JSON.stringify(stream.id),
      ref === undefined ? undefined : JSON.stringify(ref),
    );
    const previous = this.attached.get(stream.id);
    const attachment: Attachment = { cursor: undefined };
    const sink: CursorSink = {
      ready: () => this.accepting(),
      write: (entries) => this.send(entries, envelope),
      waitDrain: (onDrain) => this.waitDrain(onDrain),
      end: (outcome) => {
        if (this.attached.get(stream.id) === attachment) this.attached.delete(stream.id);
        // A cut is a notice about this connection's cursor (no seq): the stream itself goes on.
        if (outcome.kind === 'cut') this.sendError(outcome.error, { stream_id: stream.id });
        // After the terminal event went out: `ws` sends the close frame behind it.
        this.closeIfDrained();
      },
    };
    this.attached.set(stream.id, attachment);
    attachment.cursor = stream.attach(sink, after, this.options.registry.reader('ws'));
    previous?.cursor?.detach();
  }

  /**
   * Sends a cursor flush in one socket write: each entry as its own text frame, or, with
   * `?frames=batch`, all of them as one JSON-array frame (framed here, not by `ws.send`: see
   * ws-frames.ts). Returns false once the buffer is over the high-water mark; the cursor then
   * waits for 'drain'.
   */
  private send(entries: readonly LogEntry[], envelope: WsEnvelope): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return true; // closing: the cursor is about to be detached
    this.socket.write(
      this.options.frames === 'batch' ? wsBatchFrame(entries, envelope) : wsEventFrames(entries, envelope),
    );
    if (this.overHardLimit()) return true; // closed: the cursor was detached
    return this.accepting();
  }

  /**
   * Whether a cursor may write now. 'drain' only fires after a write the socket refused, hence the
   * second condition: below the socket's own mark (a high-water setting under 16 KiB) we keep
   * writing rather than wait forever.
   */
  private accepting(): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return true;
    return this.ws.bufferedAmount <= this.options.highWaterBytes || !this.socket.writableNeedDrain;
  }

  /**
   * Checked after every write, whatever wrote it (cursors, pongs, notices): a buffer over the hard
   * limit closes the connection at once, so no mix of frames can grow it further.
   */
  private overHardLimit(): boolean {
    if (this.ws.bufferedAmount <= this.options.hardLimitBytes) return false;
    this.closeSlow(`its buffer went over ${this.options.hardLimitBytes} bytes`);
    return true;
  }

  private closeSlow(why: string): void {
    if (this.closing) return;
    // One cut for the connection: its cursors are detached by the close, not cut one by one.
    const reader = this.options.registry.reader('ws');
    reader.hooks.cut?.(reader.transport, 'slow_consumer');
    this.close(WS_CLOSE.slowConsumer, `slow_consumer: ${why}; resume each stream`);
  }

  private waitDrain(onDrain: () => void): () => void {
    this.drainWaiters.add(onDrain);
    return () => {
      this.drainWaiters.delete(onDrain);
    };
  }

  private readonly onDrain = (): void => {
    this.drainedSinceTick = true;
    const waiters = [...this.drainWaiters];
    this.drainWaiters.clear();
    // Each flush may fill the buffer again; the cursors behind it then wait for the next drain.
    for (const resume of waiters) resume();
  };

  /**
   * Counts a frame against the flood limit (ws-flood-guard.ts). Over it, reading pauses until the
   * bucket refills (the frame at hand and those already read are still served); only a flood —
   * far over in one go, or throttled for seconds on end — closes the connection (1008).
   */
  private flooded(): boolean {
    const verdict = this.flood.take();
    switch (verdict) {
      case 'ok':
        return false;
      case 'pause':
        if (this.floodPause === undefined) {
          this.ws.pause();
          this.floodPause = setTimeout(this.resumeReading, this.flood.resumeInMs());
        }
        return false;
      case 'close':
        this.close(WS_CLOSE.flood, `more than ${this.options.maxMessagesPerSecond} messages per second`);
        return true;
      default:
        return assertNever(verdict, 'flood verdict');
    }
  }

  private readonly resumeReading = (): void => {
    this.floodPause = undefined;
    if (!this.closing) this.ws.resume();
  };

  private sendError(error: RelayError, context: ErrorContext): void {
    this.sendText(errorMessage(error, context));
  }

  private sendText(text: string): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(text);
    this.overHardLimit();
  }

  /** A RelayError as is; anything else is a bug, logged here and answered without its internals. */
  private reportable(err: unknown): RelayError {
    if (!(err instanceof RelayError)) this.options.logger?.error({ err }, 'websocket frame failed');
    return toRelayError(err);
  }

  private readonly onInternalError = (err: unknown): void => {
    this.sendError(this.reportable(err), {});
  };

  private readonly onPong = (): void => {
    this.alive = true;
  };

  // `ws` reports bad frames (oversize, bad UTF-8, bad opcode) here and closes with the right code itself.
  private readonly onError = (err: Error): void => {
    this.options.logger?.debug({ err }, 'websocket error');
  };

  private readonly onClose = (): void => {
    this.closing = true;
    if (this.floodPause !== undefined) clearTimeout(this.floodPause);
    this.floodPause = undefined;
    this.detachAll();
    this.ws.off('message', this.onMessage);
    this.ws.off('pong', this.onPong);
    this.socket.off('drain', this.onDrain);
    // 'error' stays: `ws` may still report on a socket that is already closed.
    this.options.onClose(this);
  };

  private detachAll(): void {
    this.drainWaiters.clear();
    const attachments = [...this.attached.values()];
    this.attached.clear();
    for (const attachment of attachments) attachment.cursor?.detach();
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/**
 * The `ref` of a frame that is not parsed (too large): looked for in its first bytes only, where a
 * client that wants errors matched to its frames puts it.
 */
function refOf(bytes: Buffer): ErrorContext {
  const head = bytes.subarray(0, 4096).toString('utf8');
  const match = /"ref"\s*:\s*"([^"\\]{0,256})"/.exec(head);
  return match?.[1] === undefined ? {} : { ref: match[1] };
}
