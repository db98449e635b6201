/**
 * The embedded StreamStore: every stream lives in this process. A handle reads the generation's
 * own log and talks to the generation directly; a finished stream is forgotten after its
 * retention period (or earlier, when room is needed for a new one).
 */
import type { CancelReason, Usage } from './events.js';
import type { AssembledMessage } from './message.js';
import type { StreamGeneration } from './stream-generation.js';
import { LogHandle, type ReaderExit, type StreamControl, type StreamHandle } from './stream-handle.js';
import type { CursorLimits } from './stream-log.js';
import type { StreamStore } from './stream-store.js';

interface Held {
  readonly handle: LogHandle;
  retention: NodeJS.Timeout | undefined;
}

export class MemoryStreamStore implements StreamStore {
  private readonly streams = new Map<string, Held>();
  private readonly options: { retentionMs: number; cursor: CursorLimits };
  private closed = false;

  constructor(options: { retentionMs: number; cursor: CursorLimits }) {
    this.options = options;
  }

  get size(): number {
    return this.streams.size;
  }

  async add(generation: StreamGeneration): Promise<StreamHandle> {
    const id = generation.id;
    const control = new LiveControl(generation);
    const handle = new LogHandle(
      {
        id,
        owner: generation.owner,
        model: generation.model,
        createdAt: generation.createdAt.toISOString(),
      },
      generation.log,
      control,
      this.options.cursor,
    );
    const held: Held = { handle, retention: undefined };
    this.streams.set(id, held);
    generation.onEnded(() => {
      control.ended();
      if (this.closed || this.streams.get(id) !== held) return;
      // Cursors still writing the tail keep their own reference to the log and finish normally.
      held.retention = setTimeout(() => {
        if (this.streams.get(id) === held) this.streams.delete(id);
      }, this.options.retentionMs);
      held.retention.unref();
    });
    return handle;
  }

  async open(id: string): Promise<StreamHandle | undefined> {
    return this.streams.get(id)?.handle;
  }

  evictIdle(): boolean {
    for (const [id, held] of this.streams) {
      if (held.handle.state !== 'running' && held.handle.readerCount === 0) {
        this.forget(id, held);
        return true;
      }
    }
    return false;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const [id, held] of this.streams) this.forget(id, held);
  }

  private forget(id: string, held: Held): void {
    if (held.retention !== undefined) clearTimeout(held.retention);
    held.retention = undefined;
    held.handle.detachAll();
    this.streams.delete(id);
  }
}

/**
 * The handle's way to its generation, only while it runs: a retained stream keeps its handle and
 * log, not the generation (its request, upstream state and timers), which after the end has
 * nothing left to do. A class, not five closures per stream.
 */
class LiveControl implements StreamControl {
  private live: StreamGeneration | undefined;
  private usageAtEnd: Usage | undefined;
  /** Kept only when the log's bounds dropped events: otherwise the handle folds the whole log. */
  private messageAtEnd: AssembledMessage | undefined;

  constructor(generation: StreamGeneration) {
    this.live = generation;
  }

  /** The terminal event is in the log: keep what the handle still needs, let the generation go. */
  ended(): void {
    const live = this.live;
    if (live === undefined) return;
    this.usageAtEnd = live.usage;
    if (live.log.firstSeq > 1) this.messageAtEnd = live.message();
    this.live = undefined;
  }

  // Resolves once the terminal event is in the log (a conversation turn is kept first).
  cancel(reason: CancelReason): Promise<void> | undefined {
    const running = this.live;
    if (running === undefined) return undefined;
    running.cancel(reason);
    return running.ended;
  }

  usage(): Usage {
    return this.live?.usage ?? this.usageAtEnd!;
  }

  message(): AssembledMessage | undefined {
    return this.live?.message() ?? this.messageAtEnd;
  }

  readers(count: number, exit?: ReaderExit): void {
    this.live?.readers(count, exit);
  }
}
