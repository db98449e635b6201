/**
 * Prometheus metrics (prom-client). Everything is counted when a stream ends or when /metrics is
 * scraped, never per event, so the hot path pays nothing for it.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { StreamRegistry } from './core/streams.js';
import type { UpstreamPool } from './upstream/pool.js';

/** What a transport reports about its connections at scrape time. */
export interface ConnectionStats {
  readonly connections: number;
  readonly streams: number;
  readonly bufferedBytes: number;
}

export interface Metrics {
  readonly registry: Registry;
  /** Reports the WebSocket endpoint's connections on every scrape. */
  observeWebSocket(stats: () => ConnectionStats): void;
  /** Stops listening to the stream registry. */
  close(): void;
}

export function createMetrics(streams: StreamRegistry): Metrics {
  const registry = new Registry();
  // prom-client's names already start with process_/nodejs_: one prefix, relay_process_cpu_…
  collectDefaultMetrics({ register: registry, prefix: 'relay_' });

  new Gauge({
    name: 'relay_streams_running',
    help: 'Streams whose upstream is still generating.',
    registers: [registry],
    collect() {
      this.set(streams.running);
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
  const ended = new Counter({
    name: 'relay_streams_ended_total',
    help: 'Streams ended, by terminal event and error code or cancel reason.',
    labelNames: ['outcome', 'detail'],
    registers: [registry],
  });
  const events = new Counter({
    name: 'relay_stream_events_total',
    help: 'Relay events logged by ended streams.',
    registers: [registry],
  });
  const tokens = new Counter({
    name: 'relay_tokens_total',
    help: 'Tokens of ended streams, by direction (estimated where the upstream never counted).',
    labelNames: ['direction'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'relay_stream_duration_seconds',
    help: 'Stream lifetime from creation to its terminal event.',
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  const ttft = new Histogram({
    name: 'relay_time_to_first_token_seconds',
    help: 'From stream creation to the first content event.',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [registry],
  });

  const stop = streams.onEnd((stream) => {
    const terminal = stream.terminal;
    if (terminal === undefined) return;
    const detail =
      terminal.type === 'error' ? terminal.code : terminal.type === 'cancelled' ? terminal.reason : '';
    ended.inc({ outcome: terminal.type, detail });
    events.inc(stream.lastSeq);
    const usage = stream.usage;
    tokens.inc({ direction: 'input' }, usage.input_tokens);
    tokens.inc({ direction: 'output' }, usage.output_tokens);
    const now = performance.now();
    duration.observe((now - stream.startedAt) / 1000);
    if (stream.firstContentAt !== undefined) ttft.observe((stream.firstContentAt - stream.startedAt) / 1000);
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

  return {
    registry,
    observeWebSocket(stats) {
      wsStats = stats;
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
