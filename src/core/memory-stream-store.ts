/**
 * The embedded StreamStore: every stream lives in this process. A handle reads the generation's
 * own log and talks to the generation directly; a finished stream is forgotten after its
 * retention period (or earlier, when room is needed for a new one).
 */
import type { StreamGeneration } from './stream-generation.js';
import { LogHandle, type StreamHandle } from './stream-handle.js';
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
    const handle = new LogHandle(
      {
        id: generation.id,
        owner: generation.owner,
        model: generation.model,
        createdAt: generation.createdAt.toISOString(),
      },
      generation.log,
      {
        // Resolves once the terminal event is in the log (a conversation turn is kept first).
        cancel: (reason) => {
          generation.cancel(reason);
          return generation.ended;
        },
        usage: () => generation.usage,
        message: () => generation.message(),
        readers: (count, exit) => generation.readers(count, exit),
      },
      this.options.cursor,
    );
    const held: Held = { handle, retention: undefined };
    this.streams.set(generation.id, held);
    void generation.ended.then(() => {
      if (this.closed || this.streams.get(generation.id) !== held) return;
      // Cursors still writing the tail keep their own reference to the log and finish normally.
      held.retention = setTimeout(() => {
        if (this.streams.get(generation.id) === held) this.streams.delete(generation.id);
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
