/** The settings every part of a stream reads: its generation, its handles and the registry. */
import type { BatchLimits, LogLimits } from './stream-log.js';

export interface StreamsConfig {
  readonly defaultModel: string;
  readonly defaultMaxTokens: number;
  readonly log: LogLimits;
  /** A cursor blocked on its socket may lag this many events before it is cut (`slow_consumer`). */
  readonly maxLagEvents: number;
  /** Most events and bytes one cursor write carries; a replay goes batch by batch, on drain. */
  readonly cursorBatch: BatchLimits;
  /** With `on_disconnect: grace`, how long a stream with no subscriber keeps generating. */
  readonly graceMs: number;
  /** How long a finished stream stays resumable. */
  readonly retentionMs: number;
  /** Most streams held at once (running and retained). */
  readonly maxStreams: number;
  /** Most streams running at once per creator address, grace periods included. 0 = no limit. */
  readonly maxStreamsPerAddress: number;
  /** A stream still running after this long is cancelled with reason `timeout`. 0 = no limit. */
  readonly maxDurationMs: number;
}
