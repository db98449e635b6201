/**
 * Where streams are kept so that handles can find them: in this process (memory-stream-store.ts,
 * the default) or shared by several instances. The registry (streams.ts) creates generations and
 * hands each to the store once; any instance then opens a handle by id.
 */
import type { StreamGeneration } from './stream-generation.js';
import type { StreamHandle } from './stream-handle.js';

export interface StreamStore {
  /**
   * Makes a new generation readable, before its upstream loop runs, and returns this instance's
   * handle on it. The store keeps the stream for its retention period after it ends.
   */
  add(generation: StreamGeneration): Promise<StreamHandle>;
  /** A handle on the stream, wherever it is generated; undefined when unknown or expired. */
  open(id: string): Promise<StreamHandle | undefined>;
  /** Streams this instance holds (running and retained). */
  readonly size: number;
  /** Forgets one finished stream nobody reads here, to make room; false when there is none. */
  evictIdle(): boolean;
  /** Detaches every cursor and releases every timer; the store serves nothing afterwards. */
  close(): Promise<void>;
}
