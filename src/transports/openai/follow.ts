/**
 * Reads a stream through a cursor of its own until the caller has seen what it waits for: the
 * first event that decides how a streamed answer opens, or the terminal event a whole answer
 * needs. The client leaving first detaches the cursor, so a stream that aborts on disconnect
 * stops its upstream at once.
 */
import type { ServerResponse } from 'node:http';
import type { RelayError } from '../../core/errors.js';
import type { RelayEvent } from '../../core/events.js';
import type { StreamHandle } from '../../core/stream-handle.js';
import type { Cursor, CursorSink } from '../../core/stream-log.js';

export type Followed =
  /** `until` said yes to `event`; the cursor stays attached until `release()`. */
  | { readonly kind: 'reached'; readonly event: RelayEvent; readonly release: () => void }
  /** The cursor was cut before (the log no longer held what it needed). */
  | { readonly kind: 'cut'; readonly error: RelayError }
  /** The client closed the connection first. */
  | { readonly kind: 'gone' };

export function follow(
  stream: StreamHandle,
  res: ServerResponse,
  until: (event: RelayEvent) => boolean,
): Promise<Followed> {
  return new Promise((resolve) => {
    let cursor: Cursor | undefined;
    let settled = false;
    const settle = (outcome: Followed): void => {
      if (settled) return;
      settled = true;
      res.off('close', onClose);
      resolve(outcome);
    };
    const onClose = (): void => {
      cursor?.detach();
      settle({ kind: 'gone' });
    };
    // `cursor` is assigned once attach() returns; the replay inside it may already reach the event.
    const release = (): void => cursor?.detach();
    // It only reads events into memory the log already holds: never busy, never waits for a drain.
    const sink: CursorSink = {
      ready: () => true,
      write(entries) {
        if (settled) return true;
        for (const { event } of entries) {
          if (until(event)) {
            settle({ kind: 'reached', event, release });
            break;
          }
        }
        return true;
      },
      waitDrain: () => () => {},
      end(outcome) {
        if (outcome.kind === 'cut') settle({ kind: 'cut', error: outcome.error });
      },
    };
    res.once('close', onClose);
    cursor = stream.attach(sink);
  });
}
