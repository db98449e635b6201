/**
 * What the orchestrator (bench/run.ts) and the load clients (bench/client.ts) say to each other
 * over the IPC channel, and the shapes both sides share.
 */

/** How a client speaks to a target. */
export type Protocol =
  /** Anthropic's `POST /v1/messages` SSE: the simulator itself (`direct`), `pipe`, any `--target URL`. */
  | 'anthropic'
  /** The relay's `POST /v1/streams` SSE. */
  | 'relay-sse'
  /** The relay's `/v1/ws` WebSocket, one connection per stream (as one browser tab per user). */
  | 'relay-ws'
  /**
   * The relay's `/v1/ws`, every stream of a job on one shared connection (as the demo page and
   * `relay chat` multiplex): starts tagged by `ref`, events routed by `stream_id`.
   */
  | 'relay-ws-mux'
  /** The relay's `/v1/ws?frames=batch`, one connection per stream: each flush of events is one array frame. */
  | 'relay-ws-batch';

export interface TargetSpec {
  readonly name: string;
  readonly protocol: Protocol;
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Extra request headers (auth for a foreign gateway). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** The simulator's pacing and length for a stream, sent inside the prompt. */
export interface Pace {
  readonly tokens: number;
  readonly ttftMs: number;
  /** Tokens per second; 0 = no delay. */
  readonly tps: number;
}

export type CancelHow = 'ws-cancel' | 'sse-cancel' | 'disconnect';

/** What each stream of a job does besides reading. */
export type Action =
  | { readonly kind: 'complete' }
  /** After `afterTokens` tokens: cancel (or drop the connection), then expect the stream to end. */
  | { readonly kind: 'cancel'; readonly afterTokens: number; readonly how: CancelHow }
  /** After `afterTokens` tokens: drop the connection, wait `pauseMs`, resume on a new one. */
  | { readonly kind: 'resume'; readonly afterTokens: number; readonly pauseMs: number }
  /** Keep every stream open after its first token until the orchestrator sends `release`. */
  | { readonly kind: 'hold' };

export interface Job {
  readonly type: 'job';
  readonly jobId: number;
  readonly target: TargetSpec;
  /** Streams to run in this job. */
  readonly streams: number;
  /** At most this many at once; each slot runs its streams one after another. */
  readonly concurrency: number;
  /** The first `concurrency` streams start spread evenly over this many ms (0 = all at once). */
  readonly startSpreadMs: number;
  readonly pace: Pace;
  readonly action: Action;
  /** Unique per job; every prompt carries `bench <tag>-<index>.` so simulator records can be matched. */
  readonly tag: string;
  /** `on_disconnect` for relay requests (omitted: the relay's default). */
  readonly onDisconnect?: 'abort' | 'grace';
  /** The job gives up (every unfinished stream fails with `timeout`) after this long. */
  readonly timeoutMs: number;
}

export interface Release {
  readonly type: 'release';
  readonly jobId: number;
}

export type ToClient = Job | Release;

/** A stream that broke the completeness rules, or failed. */
export interface Failure {
  readonly index: number;
  readonly reason: string;
}

/** Per-stream facts the orchestrator joins with the simulator's records (cancel scenario). */
export interface CancelTrace {
  readonly index: number;
  /** Client hrtime (ns, decimal) right before it sent the cancel or dropped the socket. */
  readonly cancelAtNs: string;
  /** Highest token seq the client had received when it cancelled. */
  readonly seenTokens: number;
  /** Client hrtime when the stream's terminal event (or the socket's close) arrived. */
  readonly endedAtNs: string;
}

export interface JobResult {
  readonly type: 'result';
  readonly jobId: number;
  /** Client hrtime (ns, decimal) when the first stream started and when the last ended. */
  readonly startedNs: string;
  readonly endedNs: string;
  readonly streams: number;
  readonly ok: number;
  /** Failures, at most 50 listed; `failed` counts them all. */
  readonly failures: readonly Failure[];
  readonly failed: number;
  /** Tokens received in order (duplicates excluded). */
  readonly tokens: number;
  /** Bytes of response body (SSE) or message payload (WebSocket) the job's streams received. */
  readonly bytes: number;
  /** Token gaps and duplicates seen (each also fails its stream). */
  readonly gaps: number;
  readonly duplicates: number;
  /** HDR histograms (µs), compressed base64: time to first token, per-token latency, jitter, resume. */
  readonly ttftUs: string;
  /** TTFT from the request leaving on an established connection (WebSocket: the `start` frame). */
  readonly ttftSentUs: string;
  readonly tokenLatencyUs: string;
  readonly jitterUs: string;
  readonly replayUs: string;
  readonly cancels: readonly CancelTrace[];
  /** The client process's own CPU over the job, µs. */
  readonly clientCpuUs: number;
}

export interface Holding {
  readonly type: 'holding';
  readonly jobId: number;
  /** Streams open and past their first token. */
  readonly open: number;
}

export type FromClient = JobResult | Holding;

/**
 * The prompt of stream `index`: the simulator's directive block, then a tag unique to the stream
 * (`.` ends it, so `x-1.` never matches `x-12.`).
 */
export function benchPrompt(pace: Pace, tag: string, index: number): string {
  return `[[sim tokens=${pace.tokens} ttft=${pace.ttftMs} tps=${pace.tps} bench=1]] bench ${tag}-${index}.`;
}

/** Reads the stream index back from a prompt built by benchPrompt. */
export function promptIndex(prompt: string, tag: string): number | undefined {
  const at = prompt.indexOf(` ${tag}-`);
  if (at < 0) return undefined;
  const m = /^(\d+)\./.exec(prompt.slice(at + tag.length + 2));
  return m?.[1] === undefined ? undefined : Number(m[1]);
}
