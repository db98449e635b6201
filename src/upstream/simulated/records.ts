/**
 * Per-request introspection: what each request asked for and how far its answer got, so tests
 * and benchmarks can see the upstream side of a relay (was the request aborted? how many tokens
 * were written before the client left?).
 *
 * Timing units: every `…At` field is wall-clock epoch milliseconds (`Date.now()`); every `…AtNs`
 * field is `process.hrtime.bigint()` as a decimal string (nanoseconds on the host's monotonic
 * clock, comparable across processes on one machine, the clock benchmark stamps use).
 */

export type RequestOutcome =
  | 'pending'
  | 'completed'
  | 'client_closed'
  | 'error_status'
  | 'error_event'
  | 'truncated'
  | 'reset'
  | 'stalled';

/**
 * One request as the simulator saw it. Records are live: the simulator updates the object as the
 * request progresses (copy it for a snapshot).
 */
export interface RequestRecord {
  /** Also sent as the `request-id` response header, e.g. `req_sim_…`. */
  readonly id: string;
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  /** The model string as sent, directive suffix included. */
  readonly model: string | null;
  /**
   * Text of the last user message as sent (directive blocks included), for tests to find their
   * request; its first PROMPT_LIMIT characters.
   */
  readonly prompt: string | null;
  /** Body size in bytes as received (0 before it is read). */
  readonly bodyBytes: number;
  /** SHA-256 of the body as received, hex (null before it is read). */
  readonly bodySha256: string | null;
  /** `max_tokens` and `stream` (false when absent) of a valid Messages body; null otherwise. */
  readonly maxTokens: number | null;
  readonly stream: boolean | null;
  /**
   * The parsed JSON body, only while `keepBodies(true)` is on (a test asks for it): records are
   * kept for the last 10,000 requests, and whole bodies (images, documents) would hold hundreds of
   * megabytes. Absent otherwise.
   */
  readonly body?: unknown;
  readonly auth: 'x-api-key' | 'bearer' | 'none';
  /** The `anthropic-beta` header as received (null without one), to check a relay forwards it. */
  readonly anthropicBeta: string | null;
  /** Epoch ms when the request arrived. */
  readonly receivedAt: number;
  /** hrtime ns (decimal string) when the request arrived. */
  readonly receivedAtNs: string;
  /** Epoch ms when the status line and headers were sent. */
  readonly headersSentAt: number | null;
  /** Tokens (output-carrying content deltas) written so far. */
  readonly tokensSent: number;
  /** hrtime ns (decimal string) of the last token write. */
  readonly lastTokenAtNs: string | null;
  /** Epoch ms when the client closed or aborted before the simulator finished. */
  readonly clientClosedAt: number | null;
  readonly clientClosedAtNs: string | null;
  /**
   * Epoch ms when the simulator ended its side by itself: message_stop or an error body/event
   * written, a truncation ended, or the socket reset.
   */
  readonly completedAt: number | null;
  /** HTTP status sent (0 until headers are sent, or for a request that never got any). */
  readonly status: number;
  /**
   * How the request ended (`pending` while it runs). A stall stays `stalled`; whether the client
   * then gave up shows in `clientClosedAt`.
   */
  readonly outcome: RequestOutcome;
}

export interface RequestRecords {
  all(): readonly RequestRecord[];
  get(id: string): RequestRecord | undefined;
  find(predicate: (r: RequestRecord) => boolean): RequestRecord | undefined;
  /** Resolves with the first record (existing or future) matching the predicate; rejects after timeoutMs (default 5000). */
  waitFor(predicate: (r: RequestRecord) => boolean, timeoutMs?: number): Promise<RequestRecord>;
  /** Resolves when that record's request has ended (completed, client closed, reset, ...). */
  waitForEnd(id: string, timeoutMs?: number): Promise<RequestRecord>;
  clear(): void;
  /** Keep whole parsed bodies on the records of requests from now on (off by default). */
  keepBodies(keep?: boolean): void;
}

/** Characters of the prompt a record keeps: enough to find a request by its marker or directive. */
export const PROMPT_LIMIT = 1024;

/** The prompt as a record keeps it (bounded). */
export function recordedPrompt(text: string): string {
  return text.length <= PROMPT_LIMIT ? text : text.slice(0, PROMPT_LIMIT);
}

export type MutableRecord = { -readonly [K in keyof RequestRecord]: RequestRecord[K] };

/** True once nothing more will happen to the request. */
export function isEnded(r: RequestRecord): boolean {
  return r.completedAt !== null || r.clientClosedAt !== null;
}

/** Epoch ms and hrtime ns taken together. */
export function clock(): { ms: number; ns: string } {
  return { ms: Date.now(), ns: process.hrtime.bigint().toString() };
}

interface Waiter {
  readonly predicate: (r: RequestRecord) => boolean;
  readonly resolve: (r: RequestRecord) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

const DEFAULT_WAIT_MS = 5000;

/** The bounded store behind `SimulatedUpstream.records`. */
export class RecordStore implements RequestRecords {
  readonly #records = new Map<string, MutableRecord>();
  readonly #waiters = new Set<Waiter>();
  readonly #limit: number;
  #keepBodies = false;

  /** Keeps the last `limit` records, so a long benchmark cannot grow memory without bound. */
  constructor(limit = 10_000) {
    this.#limit = limit;
  }

  keepBodies(keep = true): void {
    this.#keepBodies = keep;
  }

  /** Whether requests read from now on keep their whole body. */
  get keepsBodies(): boolean {
    return this.#keepBodies;
  }

  create(init: Pick<RequestRecord, 'id' | 'method' | 'path' | 'auth' | 'anthropicBeta'>): MutableRecord {
    const at = clock();
    const record: MutableRecord = {
      ...init,
      model: null,
      prompt: null,
      bodyBytes: 0,
      bodySha256: null,
      maxTokens: null,
      stream: null,
      receivedAt: at.ms,
      receivedAtNs: at.ns,
      headersSentAt: null,
      tokensSent: 0,
      lastTokenAtNs: null,
      clientClosedAt: null,
      clientClosedAtNs: null,
      completedAt: null,
      status: 0,
      outcome: 'pending',
    };
    this.#records.set(record.id, record);
    // Map iteration is insertion order, so the first key is the oldest.
    while (this.#records.size > this.#limit) {
      const oldest = this.#records.keys().next().value;
      if (oldest === undefined) break;
      this.#records.delete(oldest);
    }
    this.#notify(record);
    return record;
  }

  /** Applies a change and wakes the waiters whose predicate it may satisfy. */
  update(record: MutableRecord, patch: Partial<MutableRecord>): void {
    Object.assign(record, patch);
    this.#notify(record);
  }

  all(): readonly RequestRecord[] {
    return [...this.#records.values()];
  }

  get(id: string): RequestRecord | undefined {
    return this.#records.get(id);
  }

  find(predicate: (r: RequestRecord) => boolean): RequestRecord | undefined {
    for (const r of this.#records.values()) if (predicate(r)) return r;
    return undefined;
  }

  waitFor(predicate: (r: RequestRecord) => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<RequestRecord> {
    try {
      const existing = this.find(predicate);
      if (existing !== undefined) return Promise.resolve(existing);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<RequestRecord>((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(new Error(`no matching request record within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  waitForEnd(id: string, timeoutMs = DEFAULT_WAIT_MS): Promise<RequestRecord> {
    return this.waitFor((r) => r.id === id && isEnded(r), timeoutMs);
  }

  clear(): void {
    this.#records.clear();
  }

  /** Rejects every pending wait and releases its timer (server close). */
  dispose(): void {
    for (const w of this.#waiters) {
      clearTimeout(w.timer);
      w.reject(new Error('simulated upstream closed'));
    }
    this.#waiters.clear();
  }

  #notify(record: RequestRecord): void {
    for (const w of this.#waiters) {
      let matched: boolean;
      try {
        matched = w.predicate(record);
      } catch (err) {
        matched = false;
        this.#settle(w);
        w.reject(err instanceof Error ? err : new Error(String(err)));
      }
      if (matched) {
        this.#settle(w);
        w.resolve(record);
      }
    }
  }

  #settle(w: Waiter): void {
    clearTimeout(w.timer);
    this.#waiters.delete(w);
  }
}
