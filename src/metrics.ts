/**
 * Prometheus metrics (prom-client), named `relay_*`. Labels are bounded: transport, outcome, code,
 * model and principal (each capped at a number of distinct values, the rest counted as "other"),
 * never a stream id. Most figures are counted when a stream ends or at scrape time; the one
 * per-event cost is the inter-token gap histogram (one observation per content event, tallied
 * without prom-client: see tallied-histogram.ts). The figures counted per stream start and end are
 * tallied likewise (tallied-counter.ts, tallied-histogram.ts). Reader
 * figures (resumes, replays, relay-added first-token time, slow-consumer cuts) are counted once
 * per cursor, by the transport that reads.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { StreamRegistry } from './core/streams.js';
import { TalliedCounter } from './tallied-counter.js';
import { TalliedHistogram } from './tallied-histogram.js';
import type { UpstreamPool } from './upstream/pool.js';

/** What a transport reports about its connections at scrape time. */
export interface ConnectionStats {
  readonly connections: number;
  readonly streams: number;
  readonly bufferedBytes: number;
}

/** Drain state and `/v1/messages` calls in flight, read at scrape time. */
export interface DrainStats {
  readonly draining: boolean;
  readonly passthroughCalls: number;
}

export interface Metrics {
  readonly registry: Registry;
  /** Reports the WebSocket endpoint's connections on every scrape. */
  observeWebSocket(stats: () => ConnectionStats): void;
  /** Reports the drain state on every scrape. */
  observeDrain(stats: () => DrainStats): void;
  /** Stops listening to the stream registry. */
  close(): void;
}

/** Most distinct values kept for a label fed by clients (model names, principals). */
const MAX_MODELS = 50;
const MAX_PRINCIPALS = 500;

/** Streaming spans milliseconds to minutes. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const GAP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const DURATION_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];
const SMALL_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

export function createMetrics(streams: StreamRegistry): Metrics {
  const registry = new Registry();
  // prom-client's names already start with process_/nodejs_: one prefix, relay_process_cpu_…
  collectDefaultMetrics({ register: registry, prefix: 'relay_' });
  const model = boundedLabel(MAX_MODELS);
  const principal = boundedLabel(MAX_PRINCIPALS);

  new Gauge({
    name: 'relay_streams_running',
    help: 'Streams whose upstream is still generating.',
    registers: [registry],
    collect() {
      this.set(streams.running);
    },
  });
  new Gauge({
    name: 'relay_streams_active',
    help: 'Streams whose upstream is still generating, by the transport that started them.',
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [transport, n] of streams.runningByTransport()) this.set({ transport }, n);
    },
  });
  new Gauge({
    name: 'relay_streams_held',
    help: 'Streams held in memory (running and retained for resume).',
    registers: [registry],
    collect() {
      this.set(streams.size);
    },
  });
  // Counted per stream start or end: tallied by the relay, read by prom-client at scrape time.
  // Label names in the order each series prints them.
  const started = new TalliedCounter({
    name: 'relay_streams_started_total',
    help: 'Streams started, by transport, model and principal.',
    labelNames: ['transport', 'model', 'principal'],
    registers: [registry],
  });
  const ended = new TalliedCounter({
    name: 'relay_streams_ended_total',
    help: 'Streams ended, by terminal event (outcome) and error code or cancel reason (code).',
    labelNames: ['transport', 'model', 'principal', 'outcome', 'code'],
    registers: [registry],
  });
  const events = new Counter({
    name: 'relay_stream_events_total',
    help: 'Relay events logged by ended streams.',
    registers: [registry],
  });
  const tokens = new TalliedCounter({
    name: 'relay_tokens_total',
    help: 'Tokens of ended streams by direction (input, output, cache_read, cache_creation), principal and model; estimated where the upstream never counted.',
    labelNames: ['principal', 'model', 'direction'],
    registers: [registry],
  });
  const duration = new TalliedHistogram({
    name: 'relay_stream_duration_seconds',
    help: 'Stream lifetime from creation to its terminal event.',
    labelNames: ['transport', 'outcome'],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const ttft = new TalliedHistogram({
    name: 'relay_time_to_first_token_seconds',
    help: 'From stream creation to the first content event.',
    labelName: 'transport',
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  // Observed per content event: tallied by the relay, read by prom-client at scrape time.
  const gap = new TalliedHistogram({
    name: 'relay_inter_token_gap_seconds',
    help: 'Time between two content events of one stream.',
    labelName: 'transport',
    buckets: GAP_BUCKETS,
    registers: [registry],
  });
  const attempts = new TalliedCounter({
    name: 'relay_stream_attempts_total',
    help: 'Upstream attempts of streams by how they ended (done, failed, aborted); per upstream: relay_upstream_attempts_total.',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const retries = new TalliedCounter({
    name: 'relay_upstream_retries_total',
    help: 'Upstream attempts retried before content, by the failure code.',
    labelNames: ['code'],
    registers: [registry],
  });
  const upstreamErrors = new Counter({
    name: 'relay_upstream_errors_total',
    help: 'Failed upstream attempts by HTTP status ("" for none: connection, timeout, stream error) and code.',
    labelNames: ['status', 'code'],
    registers: [registry],
  });
  // Observed once per reader, tallied as the other per-stream figures.
  const relayTtft = new TalliedHistogram({
    name: 'relay_added_time_to_first_token_seconds',
    help: 'What the relay added to the first token: from the first content event read from the upstream to its write to a client socket, by the transport that reads (readers already following only).',
    labelName: 'transport',
    buckets: SMALL_BUCKETS,
    registers: [registry],
  });
  const resumes = new Counter({
    name: 'relay_resumes_total',
    help: 'Readers that attached with a resume point (Last-Event-ID, ?after, a WebSocket resume frame past 0), by transport.',
    labelNames: ['transport'],
    registers: [registry],
  });
  const replayed = new Counter({
    name: 'relay_replayed_events_total',
    help: 'Events sent from the log rather than live: already held when their reader attached (resumes and late readers), by transport.',
    labelNames: ['transport'],
    registers: [registry],
  });
  const slowCuts = new Counter({
    name: 'relay_slow_consumer_cuts_total',
    help: 'Readers cut with slow_consumer for falling behind (a cursor past its lag limit, a WebSocket past its hard buffer limit), by transport.',
    labelNames: ['transport'],
    registers: [registry],
  });
  const cancelClose = new Histogram({
    name: 'relay_cancel_upstream_closed_seconds',
    help: 'From a cancel to the upstream request closed.',
    buckets: SMALL_BUCKETS,
    registers: [registry],
  });

  const stop = streams.observe({
    started(g) {
      started.inc([g.transport, model(g.model), principal(g.owner)]);
    },
    contentGap(g, ms) {
      gap.observe(g.transport, ms / 1000);
    },
    attempt(_g, record) {
      attempts.inc([record.outcome]);
      if (record.outcome !== 'failed') return;
      upstreamErrors.inc({
        status: record.status === undefined ? '' : String(record.status),
        code: record.code ?? '',
      });
    },
    upstreamClosed(_g, ms) {
      cancelClose.observe(ms / 1000);
    },
    attached(transport, after, events) {
      if (after > 0) resumes.inc({ transport });
      // Every new reader gets the start event from the log: that is not a replay.
      const fromLog = after === 0 ? events - 1 : events;
      if (fromLog > 0) replayed.inc({ transport }, fromLog);
    },
    firstContent(transport, ms) {
      relayTtft.observe(transport, ms / 1000);
    },
    cut(transport, code) {
      if (code === 'slow_consumer') slowCuts.inc({ transport });
    },
    ended(g) {
      const terminal = g.terminal;
      if (terminal === undefined) return;
      const code =
        terminal.type === 'error' ? terminal.code : terminal.type === 'cancelled' ? terminal.reason : '';
      const m = model(g.model);
      const p = principal(g.owner);
      ended.inc([g.transport, m, p, terminal.type, code]);
      events.inc(g.lastSeq);
      const usage = g.usage;
      tokens.inc([p, m, 'input'], usage.input_tokens);
      tokens.inc([p, m, 'output'], usage.output_tokens);
      tokens.inc([p, m, 'cache_read'], usage.cache_read_input_tokens ?? 0);
      tokens.inc([p, m, 'cache_creation'], usage.cache_creation_input_tokens ?? 0);
      for (const a of g.attempts) {
        // Every failed attempt but a terminal one was retried.
        if (a.outcome === 'failed' && a.attempt <= g.retries) retries.inc([a.code ?? '']);
      }
      duration.observeLabels(
        [g.transport, terminal.type],
        ((g.endedAt ?? performance.now()) - g.startedAt) / 1000,
      );
      if (g.firstContentAt !== undefined) {
        ttft.observe(g.transport, (g.firstContentAt - g.startedAt) / 1000);
      }
    },
  });

  let wsStats: (() => ConnectionStats) | undefined;
  const wsGauge = (name: string, help: string, pick: (s: ConnectionStats) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        if (wsStats) this.set(pick(wsStats()));
      },
    });
  };
  wsGauge('relay_ws_connections', 'Open WebSocket connections.', (s) => s.connections);
  wsGauge('relay_ws_streams', 'Streams being written to WebSocket clients.', (s) => s.streams);
  wsGauge('relay_ws_buffered_bytes', 'Bytes queued for WebSocket clients.', (s) => s.bufferedBytes);

  let drainStats: (() => DrainStats) | undefined;
  new Gauge({
    name: 'relay_draining',
    help: '1 while the relay drains (refusing new streams), else 0.',
    registers: [registry],
    collect() {
      this.set(drainStats?.().draining === true ? 1 : 0);
    },
  });
  new Gauge({
    name: 'relay_passthrough_calls',
    help: '/v1/messages calls in flight.',
    registers: [registry],
    collect() {
      this.set(drainStats?.().passthroughCalls ?? 0);
    },
  });

  return {
    registry,
    observeWebSocket(stats) {
      wsStats = stats;
    },
    observeDrain(stats) {
      drainStats = stats;
    },
    close: stop,
  };
}

/**
 * The upstream pool's metrics, by upstream name (never a URL or key): state, attempts, failures,
 * attempts in flight (read at scrape time) and the time to first content of each successful
 * attempt. Returns the unsubscribe.
 */
export function observeUpstreamPool(registry: Registry, pool: UpstreamPool): () => void {
  const STATES = ['healthy', 'cooling', 'disabled'] as const;
  new Gauge({
    name: 'relay_upstream_state',
    help: 'Each upstream state: 1 for the one it is in (healthy, cooling, disabled), else 0.',
    labelNames: ['upstream', 'state'],
    registers: [registry],
    collect() {
      for (const s of pool.status())
        for (const state of STATES) this.set({ upstream: s.name, state }, s.state === state ? 1 : 0);
    },
  });
  new Gauge({
    name: 'relay_upstream_in_flight',
    help: 'Upstream attempts in flight (streams before their end, passthrough calls before their headers).',
    labelNames: ['upstream'],
    registers: [registry],
    collect() {
      for (const s of pool.status()) this.set({ upstream: s.name }, s.inFlight);
    },
  });
  const counted = (
    name: string,
    help: string,
    pick: (s: ReturnType<UpstreamPool['status']>[number]) => number,
  ) =>
    new Counter({
      name,
      help,
      labelNames: ['upstream'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of pool.status()) this.inc({ upstream: s.name }, pick(s));
      },
    });
  counted('relay_upstream_attempts_total', 'Attempts sent to each upstream.', (s) => s.attempts);
  counted(
    'relay_upstream_failures_total',
    'Attempts that failed on the upstream side (transient failures, refused keys).',
    (s) => s.failures,
  );
  const latency = new Histogram({
    name: 'relay_upstream_first_token_seconds',
    help: 'From an attempt start to its first content (passthrough: to the response headers), per upstream.',
    labelNames: ['upstream'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [registry],
  });
  return pool.observe((name, report) => {
    if (report.kind === 'ok' && report.latencyMs !== undefined)
      latency.observe({ upstream: name }, report.latencyMs / 1000);
  });
}

/** A label fed by clients: the first `max` distinct values as they are, every later one "other". */
function boundedLabel(max: number): (value: string) => string {
  const seen = new Set<string>();
  return (value) => {
    if (seen.has(value)) return value;
    if (seen.size >= max) return 'other';
    seen.add(value);
    return value;
  };
}
