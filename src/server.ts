/**
 * The composition root: builds the upstream (the real API, or the built-in simulated one when no
 * key is set), the registry and the app, and listens. Used by `relay serve` and by the tests, so
 * tests run exactly what users run.
 */

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { createApp } from './app.js';
import { createRelayAuth } from './auth/relay-auth.js';
import {
  authSettings,
  type Config,
  conversationSettings,
  redisSettings,
  simulatorSettings,
  streamsSettings,
  tracingSettings,
  upstreamSettings,
  webSocketSettings,
} from './config.js';
import { connectionCap } from './connection-cap.js';
import type { ApiPassthrough } from './core/api-passthrough.js';
import { Conversations } from './core/conversations.js';
import type { Limiter } from './core/limiter.js';
import { MemoryConversationStore } from './core/memory-conversation-store.js';
import { MemoryLimiter } from './core/memory-limiter.js';
import { PassthroughCalls } from './core/passthrough-calls.js';
import { sleep } from './core/signals.js';
import { StreamRegistry } from './core/streams.js';
import type { Upstream } from './core/upstream.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, observeUpstreamPool } from './metrics.js';
import { Readiness } from './readiness.js';
import { logStreams } from './stream-logs.js';
import { traceStreams } from './tracing/stream-spans.js';
import type { Authenticate } from './transports/authenticate.js';
import { RequestBudget } from './transports/request-budget.js';
import { attachWebSocket, WS_PATH } from './transports/ws.js';
import { AnthropicUpstream } from './upstream/anthropic.js';
import { SdkPassthrough } from './upstream/passthrough.js';
import { UpstreamPool } from './upstream/pool.js';
import { type SimulatedUpstream, startSimulatedUpstream } from './upstream/simulated/index.js';
import { describeTarget, upstreamTarget } from './upstream/target.js';

/** How long a shutdown waits for the last spans to be exported (the drain's exit bound is 2 s past it). */
const TRACE_FLUSH_MS = 1000;

export interface RelayServer {
  /** `http://host:port` */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  readonly registry: StreamRegistry;
  /** The in-process simulated upstream, when the relay runs without an API key. */
  readonly simulated: SimulatedUpstream | undefined;
  readonly upstream: Upstream;
  /** What GET /ready checks; other parts (Redis, the upstream pool) add their own checks here. */
  readonly readiness: Readiness;
  /** The upstreams in use by name ("simulated" offline, "injected" for a test's); never a URL or key. */
  readonly upstreamName: string;
  /**
   * Graceful drain: at once /ready answers 503 and new streams are refused with `shutting_down`
   * (resume, state and cancel still work); running streams and `/v1/messages` calls go on until
   * they end or `drainMs` passes (or `signal` aborts: a second signal), then `close()`.
   */
  drain(drainMs: number, signal?: AbortSignal): Promise<void>;
  /** Cancels every stream (reason `shutdown`), closes connections and the simulated upstream. */
  close(): Promise<void>;
}

export interface StartOptions {
  readonly logger?: Logger;
  /** Replace the upstream (tests at the seam); default: the SDK adapter. */
  readonly upstream?: Upstream;
  /** Replace client authentication (tests at the seam); default: built from the config's auth settings. */
  readonly authenticate?: Authenticate;
  /** Replace the `/v1/messages` passthrough (tests at the seam); default: the SDK's. */
  readonly passthrough?: ApiPassthrough;
  /** Replace the per-principal limiter (a shared store); default: in memory. */
  readonly limiter?: Limiter;
  /** How often the keys file is checked for changes (default 1 s; tests go faster). */
  readonly keysPollMs?: number;
}

export async function startRelay(config: Config, options: StartOptions = {}): Promise<RelayServer> {
  const logger = options.logger ?? createLogger(config.logLevel);
  // Loaded only with REDIS_URL: the redis client's modules take ~100 ms to load at start-up and
  // hold memory that a relay without Redis never uses.
  const redisModules = config.redisUrl === '' ? undefined : await loadRedisModules();
  // Made, not connected: tickets are checked through it, and nothing runs before the auth check.
  const sharedRedis = redisModules?.redisConnection(config.redisUrl, logger);
  // First, so a bad keys file or an unsafe anonymous setup refuses to start before anything runs.
  const auth = createRelayAuth(authSettings(config), {
    wsPath: WS_PATH,
    logger,
    ...(options.keysPollMs === undefined ? {} : { keysPollMs: options.keysPollMs }),
    ...(sharedRedis && redisModules ? { sharedTickets: redisModules.redisTickets(sharedRedis) } : {}),
  });
  let simulated: SimulatedUpstream | undefined;
  let upstream = options.upstream;
  let passthrough: ApiPassthrough | undefined = options.passthrough;
  let adapter: AnthropicUpstream | undefined;
  const target = upstreamTarget(config);
  let pool: UpstreamPool | undefined;
  if (upstream === undefined) {
    let upstreams = config.upstreamPool;
    if (upstreams.length === 0) {
      simulated = await startSimulatedUpstream(simulatorSettings(config));
      upstreams = [{ name: 'simulated', baseUrl: simulated.url, apiKey: 'sim-key', priority: 0, weight: 1 }];
    }
    // One pool for streams and passthrough calls alike: an upstream's health is one thing.
    pool = new UpstreamPool(upstreams, {
      cooldownMs: config.upstreamCooldownMs,
      affinityLimit: config.maxConversations,
      // Names only: an upstream's URL and key never reach a log line.
      onChange: ({ upstream: name, state, reason, message }) => {
        const line = { upstream: name, state, reason };
        if (state === 'healthy' && reason.startsWith('cooldown over')) logger.info(line, message);
        else logger.warn(line, message);
      },
    });
    passthrough ??= new SdkPassthrough({ upstreams, pool });
    adapter = new AnthropicUpstream({ upstreams, pool, ...upstreamSettings(config) });
    upstream = adapter;
  }

  /**
   * Where generations go, for the start line: the pool's names when RELAY_UPSTREAMS gives them,
   * else the one target's base URL origin or "simulated"; never a key.
   */
  const listed = config.upstreams !== undefined || config.upstreamsFile !== '';
  const upstreamName = options.upstream
    ? 'injected'
    : listed && pool
      ? pool.names.join(', ')
      : describeTarget(target);

  // With REDIS_URL, streams and conversations are kept in Redis and any instance serves any of them.
  const redis =
    sharedRedis && redisModules
      ? await redisModules.startRedisStore(
          sharedRedis,
          redisSettings(config),
          streamsSettings(config),
          logger,
        )
      : undefined;
  // With Redis, per-key limits hold across every instance.
  const limiter = options.limiter ?? redis?.limiter ?? new MemoryLimiter();
  const conversations = new Conversations({
    store:
      redis && redisModules
        ? new redisModules.RedisConversationStore({
            connection: redis.connection,
            ttlMs: config.conversationTtlMs,
          })
        : new MemoryConversationStore({ ttlMs: config.conversationTtlMs }),
    limits: conversationSettings(config),
    onError: (err, id) =>
      logger.error({ err, conversation_id: id }, 'could not keep a conversation exchange'),
  });
  const registry = new StreamRegistry({
    ...(redis ? { store: redis.store } : {}),
    upstream,
    conversations,
    config: streamsSettings(config),
    limiter,
  });
  const calls = new PassthroughCalls();
  const metrics = createMetrics(registry);
  const stopPoolMetrics = pool ? observeUpstreamPool(metrics.registry, pool) : undefined;
  // A stream that ended with internal_error met a bug: its stack goes to the log, never to the client.
  registry.onEnd((generation) => {
    if (generation.internalError !== undefined) {
      logger.error(
        { err: generation.internalError, stream_id: generation.id },
        'stream ended with internal_error',
      );
    }
  });
  const stopLogs = logStreams(registry, logger);
  // Off unless an OTLP endpoint is set: then one span per stream and one per upstream attempt.
  // The SDK is loaded only then.
  const traces = tracingSettings(config);
  const tracing =
    traces === undefined ? undefined : (await import('./tracing/otlp.js')).startTracing(traces, logger);
  const streamTracing = tracing ? traceStreams(registry, tracing.tracer) : undefined;
  const readiness = new Readiness();
  readiness.add('draining', () =>
    registry.draining ? { ok: false, detail: 'the relay is shutting down' } : { ok: true },
  );
  const upstreamPool = pool;
  readiness.add('upstream', () =>
    upstreamPool ? upstreamPool.readiness() : { ok: true, detail: upstreamName },
  );
  if (redis) readiness.add('store', () => redis.check());
  readiness.add('stream_cap', () => {
    const running = registry.running;
    const detail = `${running} of ${config.maxStreams} streams running`;
    return running < config.maxStreams ? { ok: true, detail } : { ok: false, detail };
  });
  // One authentication for HTTP and the WebSocket upgrade.
  const authenticate = options.authenticate ?? auth.authenticate;
  // One budget for request bytes held at once, HTTP bodies and WebSocket frames alike.
  const requestBudget = new RequestBudget(config.maxRequestBytesInFlight);
  const app = createApp({
    authenticate,
    origins: auth.origins,
    issueTicket: auth.issueTicket,
    limiter,
    requestBudget,
    config,
    registry,
    logger,
    conversations,
    metrics,
    readiness,
    calls,
    pageInfo: {
      upstream: upstreamName,
      simulated: simulated !== undefined,
      defaultModel: config.defaultModel,
    },
    // Every upstream key of the pool, and the relay's own tokens.
    secrets: [config.anthropicApiKey, config.metricsToken, ...config.upstreamPool.map((u) => u.apiKey)],
    ...(passthrough ? { passthrough } : {}),
  });
  const server = createAdaptorServer({
    fetch: app.fetch,
    autoCleanupIncoming: false,
    // Node's requestTimeout bounds *receiving* a request (headers and body: its clock stops once
    // the request is complete), not the response, so SSE answers and WebSockets may run for
    // minutes while a client trickling its body is cut (408). The check runs on an interval:
    // a quarter of the timeout keeps the cut within 25 % of the bound.
    serverOptions: {
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: Math.min(config.headersTimeoutMs, config.requestTimeoutMs || Number.MAX_SAFE_INTEGER),
      connectionsCheckingInterval: Math.max(
        100,
        Math.min(
          30_000,
          Math.floor(Math.min(config.headersTimeoutMs, config.requestTimeoutMs || 30_000) / 4),
        ),
      ),
    },
  }) as Server;
  server.keepAliveTimeout = 5_000;
  // Below the descriptor limit, so a relayed stream can always open its upstream socket.
  const maxConnections = connectionCap(config.maxConnections);
  if (maxConnections !== undefined) server.maxConnections = maxConnections;

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    // Nothing listens, but the simulator, the upstream pool and the timers started above would
    // keep the process alive (a taken port used to hang `npm start`): release them, then report.
    await registry.shutdown();
    metrics.close();
    auth.close();
    streamTracing?.close();
    await tracing?.shutdown(TRACE_FLUSH_MS);
    await conversations.close();
    await redis?.close();
    adapter?.close();
    await simulated?.close();
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  const ws = attachWebSocket(server, {
    registry,
    authenticate,
    requestBudget,
    ...webSocketSettings(config),
    logger,
  });
  metrics.observeWebSocket(() => ws.stats());
  metrics.observeDrain(() => ({ draining: registry.draining, passthroughCalls: calls.size }));

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      // /v1/messages streams end at their next event boundary with Anthropic's `error` event.
      calls.stopAll();
      await registry.shutdown();
      // After the shutdown, so each WebSocket stream's `cancelled` event is sent before its 1001 close.
      await ws.close();
      metrics.close();
      stopPoolMetrics?.();
      auth.close();
      stopLogs();
      await conversations.close();
      await redis?.close();
      // Responses that just got their terminal event may still be flushing: let them finish, and
      // only cut what is left after a second.
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), 1000);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      adapter?.close();
      await simulated?.close();
      // Last, so the spans of streams the shutdown ended go too; bounded, so a collector that
      // does not answer cannot hold the exit.
      await streamTracing?.idle(500);
      streamTracing?.close();
      await tracing?.shutdown(TRACE_FLUSH_MS);
    })();
    return closing;
  };

  let draining: Promise<void> | undefined;
  const drain = (drainMs: number, signal?: AbortSignal): Promise<void> => {
    draining ??= (async () => {
      registry.beginDrain();
      calls.beginDrain();
      ws.beginDrain();
      logger.info({ drain_ms: drainMs, streams: registry.running, passthrough: calls.size }, 'draining');
      const quiet = new AbortController();
      const stop = (): void => quiet.abort();
      signal?.addEventListener('abort', stop, { once: true });
      void Promise.all([registry.idle(), calls.idle()]).then(stop);
      const timedOut = await sleep(drainMs, quiet.signal);
      signal?.removeEventListener('abort', stop);
      if (timedOut || signal?.aborted) {
        logger.info(
          { streams: registry.running, passthrough: calls.size, reason: timedOut ? 'deadline' : 'signal' },
          'drain cut short: cancelling what is left',
        );
      }
      await close();
    })();
    return draining;
  };

  // The upstream in use: its base URL origin or "simulated", never a key.
  logger.info(
    {
      url,
      upstream: upstreamName,
      drain_ms: config.drainMs,
      // Where spans go: the origin only (a path or query might carry a token).
      ...(traces === undefined ? {} : { traces: new URL(traces.tracesUrl).origin }),
    },
    'relay listening',
  );
  return { url, port, server, registry, simulated, upstream, readiness, upstreamName, drain, close };
}

/** The Redis backend's modules (and with them the `redis` client), imported when configured. */
async function loadRedisModules() {
  const [backend, conversations] = await Promise.all([
    import('./redis/redis-backend.js'),
    import('./redis/redis-conversation-store.js'),
  ]);
  return {
    redisConnection: backend.redisConnection,
    redisTickets: backend.redisTickets,
    startRedisStore: backend.startRedisStore,
    RedisConversationStore: conversations.RedisConversationStore,
  };
}
