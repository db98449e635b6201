/**
 * The relay's two Redis connections (commands, and a subscriber for pub/sub) and whether Redis is
 * usable right now. Commands fail at once while disconnected (no offline queue: a cursor must not
 * wait behind a dead socket) and every awaited call has a deadline, so a hung Redis becomes a
 * `store_unavailable` answer, never a hung request. Reconnects forever, with capped backoff.
 */
import { createClient, type RedisClientType } from 'redis';
import { RelayError } from '../core/errors.js';

/** A raw RESP2 reply as node-redis hands it over (parsed by each caller with a schema). */
export type Reply = unknown;

export interface RedisConnectionOptions {
  readonly url: string;
  /** Deadline for one awaited command. */
  readonly commandTimeoutMs?: number;
  /** Called on connection trouble (for the log); never throws. */
  readonly onError?: (err: unknown) => void;
}

export class RedisConnection {
  readonly commands: RedisClientType;
  readonly subscriber: RedisClientType;
  private readonly timeoutMs: number;
  private readonly readyListeners = new Set<() => void>();

  constructor(options: RedisConnectionOptions) {
    this.timeoutMs = options.commandTimeoutMs ?? 2000;
    const onError = options.onError ?? (() => {});
    const client = createClient({
      url: options.url,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: 2000,
        // Forever, at most 1 s apart: the relay must come back on its own when Redis does.
        reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 5), 1000),
      },
    }) as RedisClientType;
    this.commands = client;
    this.subscriber = client.duplicate() as RedisClientType;
    for (const c of [this.commands, this.subscriber]) {
      c.on('error', onError);
      c.on('ready', () => {
        for (const listener of this.readyListeners) listener();
      });
    }
  }

  /**
   * Connects both clients, waiting at most `waitMs`: when Redis is down the relay starts anyway
   * (not ready) and the clients keep retrying in the background (node-redis's first connect only
   * settles once it succeeds).
   */
  async connect(waitMs = 2000): Promise<void> {
    const connecting = Promise.allSettled([this.commands.connect(), this.subscriber.connect()]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      connecting,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, waitMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /** True while both connections are up. */
  get isReady(): boolean {
    return this.commands.isReady && this.subscriber.isReady;
  }

  /** Calls `listener` whenever a connection (re)connects. */
  onReady(listener: () => void): () => void {
    this.readyListeners.add(listener);
    return () => {
      this.readyListeners.delete(listener);
    };
  }

  /** One command, with a deadline; any failure is `store_unavailable`. */
  async call(args: readonly string[], timeoutMs = this.timeoutMs): Promise<Reply> {
    if (!this.commands.isReady) throw unavailable('not connected');
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.commands.sendCommand([...args]),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(unavailable(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (err) {
      if (err instanceof RelayError) throw err;
      // A script error is a bug of ours, not an outage: keep it distinguishable for the caller.
      if (err instanceof Error && /NOSCRIPT/.test(err.message)) throw err;
      throw unavailable(err instanceof Error ? err.message : 'command failed', err);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs a script by its sha, loading it once when Redis does not know it (after a restart). */
  async script(
    script: { source: string; sha: string },
    keys: readonly string[],
    args: readonly string[],
  ): Promise<Reply> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await this.call(['EVALSHA', script.sha, ...tail]);
    } catch (err) {
      if (err instanceof Error && /NOSCRIPT/.test(err.message))
        return this.call(['EVAL', script.source, ...tail]);
      throw err;
    }
  }

  async close(): Promise<void> {
    this.readyListeners.clear();
    await Promise.allSettled(
      [this.commands, this.subscriber].map(async (c) => {
        if (c.isOpen) await c.close();
        else c.destroy();
      }),
    );
  }
}

function unavailable(detail: string, cause?: unknown): RelayError {
  return new RelayError('store_unavailable', `the stream store (Redis) is unavailable: ${detail}`, {
    cause,
  });
}
