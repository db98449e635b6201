/**
 * Configuration: one zod schema for environment variables (and the CLI flags that override them),
 * producing a frozen Config. Only main.ts reads the environment; everything else is handed a Config.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { AuthSettings } from './auth/relay-auth.js';
import type { ConversationLimits } from './core/conversations.js';
import { describeIssues } from './core/request.js';
import type { StreamsConfig } from './core/streams.js';
import type { TracingSettings } from './tracing/tracing-settings.js';
import type { WsDeps } from './transports/ws.js';
import type { AttemptDeadlines } from './upstream/attempt.js';
import {
  resolveUpstreams,
  singleUpstream,
  type UpstreamSpec,
  upstreamEntrySchema,
} from './upstream/pool-config.js';
import type { RetryOptions } from './upstream/retry-policy.js';
import type { SimulatedUpstreamOptions } from './upstream/simulated/index.js';
import { upstreamTarget } from './upstream/target.js';

const int = (min = 0) => z.coerce.number().int().min(min);

/** Every setting: its environment variable, default and meaning (printed by `relay serve --help`). */
export const SETTINGS = {
  host: { env: 'RELAY_HOST', default: '127.0.0.1', help: 'interface to listen on' },
  port: { env: 'RELAY_PORT', default: '8080', help: 'port to listen on (0 = a free port)' },
  anthropicApiKey: {
    env: 'ANTHROPIC_API_KEY',
    default: '',
    help: 'upstream API key; when it and ANTHROPIC_BASE_URL are both empty, the built-in simulated upstream is used',
  },
  anthropicBaseUrl: {
    env: 'ANTHROPIC_BASE_URL',
    default: '',
    help: 'upstream base URL (any Anthropic-compatible API; used without a key when none is set); default https://api.anthropic.com',
  },
  upstreams: {
    env: 'RELAY_UPSTREAMS',
    default: '',
    help: 'upstream pool as a JSON list of {name, base_url, api_key | api_key_env, priority, weight, models?, max_concurrent?}; replaces ANTHROPIC_API_KEY/BASE_URL',
  },
  upstreamsFile: {
    env: 'RELAY_UPSTREAMS_FILE',
    default: '',
    help: 'a JSON file holding the upstream pool (instead of RELAY_UPSTREAMS)',
  },
  upstreamCooldownMs: {
    env: 'RELAY_UPSTREAM_COOLDOWN_MS',
    default: '5000',
    help: 'how long a failing upstream rests (at least its retry-after) before it is tried again',
  },
  defaultModel: {
    env: 'RELAY_DEFAULT_MODEL',
    default: 'claude-sonnet-5-5',
    help: 'model when a request names none',
  },
  defaultMaxTokens: {
    env: 'RELAY_DEFAULT_MAX_TOKENS',
    default: '1024',
    help: 'max_tokens when a request gives none',
  },
  firstTokenTimeoutMs: {
    env: 'RELAY_FIRST_TOKEN_TIMEOUT_MS',
    default: '60000',
    help: 'upstream deadline for the first content event (0 = none)',
  },
  idleTimeoutMs: {
    env: 'RELAY_IDLE_TIMEOUT_MS',
    default: '30000',
    help: 'upstream idle timeout between events once streaming (0 = none)',
  },
  retryBudgetMs: {
    env: 'RELAY_RETRY_BUDGET_MS',
    default: '30000',
    help: 'total time spent retrying the upstream before the first content event',
  },
  retryMaxAttempts: {
    env: 'RELAY_RETRY_MAX_ATTEMPTS',
    default: '4',
    help: 'most upstream attempts per stream',
  },
  retryBaseDelayMs: {
    env: 'RELAY_RETRY_BASE_DELAY_MS',
    default: '500',
    help: 'first backoff delay (doubles, with jitter)',
  },
  retryMaxDelayMs: { env: 'RELAY_RETRY_MAX_DELAY_MS', default: '8000', help: 'largest single backoff delay' },
  logMaxEvents: { env: 'RELAY_LOG_MAX_EVENTS', default: '100000', help: 'events kept per stream log' },
  logMaxBytes: { env: 'RELAY_LOG_MAX_BYTES', default: '8388608', help: 'bytes kept per stream log' },
  maxLagEvents: {
    env: 'RELAY_MAX_LAG_EVENTS',
    default: '20000',
    help: 'events a blocked client may fall behind before it is cut with slow_consumer',
  },
  cursorBatchEvents: {
    env: 'RELAY_CURSOR_BATCH_EVENTS',
    default: '1024',
    help: 'most events one write to a client carries; a replay is sent batch by batch as the socket drains',
  },
  cursorBatchBytes: {
    env: 'RELAY_CURSOR_BATCH_BYTES',
    default: '65536',
    help: 'most bytes one write to a client carries (a single larger event still goes alone)',
  },
  graceMs: {
    env: 'RELAY_GRACE_MS',
    default: '30000',
    help: 'on_disconnect=grace: how long a stream with no client keeps generating awaiting a resume',
  },
  retentionMs: {
    env: 'RELAY_RETENTION_MS',
    default: '300000',
    help: 'how long a finished stream stays resumable',
  },
  maxStreams: { env: 'RELAY_MAX_STREAMS', default: '20000', help: 'most streams held at once' },
  maxStreamsPerAddress: {
    env: 'RELAY_MAX_STREAMS_PER_ADDRESS',
    default: '10000',
    help: 'most streams running at once per client address, grace periods included (0 = no limit; behind a proxy every client is one address)',
  },
  wsMaxStreamsPerConnection: {
    env: 'RELAY_WS_MAX_STREAMS_PER_CONNECTION',
    default: '1000',
    help: 'most streams a WebSocket connection may have started and still running',
  },
  maxDurationMs: {
    env: 'RELAY_MAX_DURATION_MS',
    default: '600000',
    help: 'a stream running longer is cancelled (reason timeout); 0 = no limit',
  },
  ssePingMs: {
    env: 'RELAY_SSE_PING_MS',
    default: '15000',
    help: 'idle SSE connections get a ": ping" comment this often',
  },
  headersTimeoutMs: {
    env: 'RELAY_HEADERS_TIMEOUT_MS',
    default: '15000',
    help: 'a client must send its request headers within this long (408 otherwise)',
  },
  requestTimeoutMs: {
    env: 'RELAY_REQUEST_TIMEOUT_MS',
    default: '60000',
    help: 'a client must send its whole request (headers and body) within this long (408); answers may stream longer; 0 = none',
  },
  maxConnections: {
    env: 'RELAY_MAX_CONNECTIONS',
    default: '0',
    help: 'client connections held at once (0 = half the open-file limit less 128, room for upstream sockets); more are closed at once',
  },
  bodyLimitBytes: {
    env: 'RELAY_BODY_LIMIT_BYTES',
    default: '33554432',
    help: "largest request body on a Messages route and largest WebSocket start frame (Anthropic's own: 32 MB)",
  },
  maxRequestBytesInFlight: {
    env: 'RELAY_MAX_REQUEST_BYTES_IN_FLIGHT',
    default: '268435456',
    help: 'request bytes being read at once, all routes and WebSocket frames; past it a request gets 503 overloaded',
  },
  wsHeartbeatMs: {
    env: 'RELAY_WS_HEARTBEAT_MS',
    default: '25000',
    help: 'WebSocket ping interval; a peer silent for two intervals is terminated',
  },
  wsMaxPayloadBytes: {
    env: 'RELAY_WS_MAX_PAYLOAD_BYTES',
    default: '67108864',
    help: 'largest WebSocket frame read at all; a bigger one closes the connection (1009). A start frame over RELAY_BODY_LIMIT_BYTES gets an error for that frame',
  },
  wsHighWaterBytes: {
    env: 'RELAY_WS_HIGH_WATER_BYTES',
    default: '1048576',
    help: 'a stream pauses writing while the socket buffer is above this',
  },
  wsHardLimitBytes: {
    env: 'RELAY_WS_HARD_LIMIT_BYTES',
    default: '8388608',
    help: 'a write that leaves more than this buffered on a connection closes it (4008); its streams stay resumable',
  },
  wsMaxMessagesPerSecond: {
    env: 'RELAY_WS_MAX_MESSAGES_PER_SECOND',
    default: '200',
    help: 'client frames per second; a client over it is read more slowly, one far over it or over it for 3 s is closed as a flood (1008)',
  },
  maxConversations: { env: 'RELAY_MAX_CONVERSATIONS', default: '10000', help: 'conversations kept at once' },
  maxTurns: { env: 'RELAY_MAX_TURNS', default: '200', help: 'messages kept per conversation' },
  conversationTtlMs: {
    env: 'RELAY_CONVERSATION_TTL_MS',
    default: '86400000',
    help: 'a conversation idle this long is forgotten',
  },
  simFirstTokenMs: {
    env: 'RELAY_SIM_FIRST_TOKEN_MS',
    default: '1000',
    help: 'simulated upstream: delay before the first token',
  },
  simTokensPerSecond: {
    env: 'RELAY_SIM_TPS',
    default: '60',
    help: 'simulated upstream: tokens per second (0 = no delay)',
  },
  drainMs: {
    env: 'RELAY_DRAIN_MS',
    default: '30000',
    help: 'on SIGTERM/SIGINT/SIGHUP, how long running streams may go on before they are cancelled (shutdown)',
  },
  metricsToken: {
    env: 'RELAY_METRICS_TOKEN',
    default: '',
    help: 'when set, GET /metrics requires "Authorization: Bearer <token>"',
  },
  auth: {
    env: 'RELAY_AUTH',
    default: 'auto',
    help: 'auto: keys/JWT when configured, else anonymous (loopback only); none: anonymous on any host (warns)',
  },
  keysFile: {
    env: 'RELAY_KEYS_FILE',
    default: '',
    help: 'JSON keys file ({"keys":[{id, key_sha256, limits}]}), reloaded on change; see `relay keys`',
  },
  apiKeys: {
    env: 'RELAY_API_KEYS',
    default: '',
    help: 'quick form of relay keys without limits: id:secret,id:secret',
  },
  jwtSecret: {
    env: 'RELAY_JWT_SECRET',
    default: '',
    help: "accept the application's HS256 JWTs signed with this secret (principal = sub; exp required)",
  },
  jwtPublicKey: {
    env: 'RELAY_JWT_PUBLIC_KEY',
    default: '',
    help: "accept the application's RS256/ES256/EdDSA JWTs: a PEM public key (text or file path)",
  },
  ticketTtlMs: {
    env: 'RELAY_TICKET_TTL_MS',
    default: '60000',
    help: 'lifetime of a browser ticket from POST /v1/tickets',
  },
  ticketSecret: {
    env: 'RELAY_TICKET_SECRET',
    default: '',
    help: 'HMAC secret signing tickets; set the same on every instance (default: random per process, or with REDIS_URL one shared through Redis)',
  },
  allowedOrigins: {
    env: 'RELAY_ALLOWED_ORIGINS',
    default: '',
    help: 'comma list of browser origins allowed cross-origin (CORS, WebSocket), * for any; default same-origin only',
  },
  allowedHosts: {
    env: 'RELAY_ALLOWED_HOSTS',
    default: '',
    help: 'comma list of extra Host names accepted in anonymous mode (DNS-rebinding guard)',
  },
  redisUrl: {
    env: 'REDIS_URL',
    default: '',
    help: 'Redis shared by several relay instances (redis://host:port); empty = streams kept in this process',
  },
  redisLeaseMs: {
    env: 'RELAY_REDIS_LEASE_MS',
    default: '5000',
    help: 'with Redis: an instance silent this long is taken for dead; a survivor ends its streams (instance_lost)',
  },
  otlpEndpoint: {
    env: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    default: '',
    help: 'traces: OTLP/HTTP base URL (spans go to <url>/v1/traces, JSON); empty = tracing off. OTEL_EXPORTER_OTLP_HEADERS and OTEL_EXPORTER_OTLP_TIMEOUT are read by the exporter',
  },
  otlpTracesEndpoint: {
    env: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    default: '',
    help: 'traces: the full OTLP/HTTP traces URL, used as it is (wins over OTEL_EXPORTER_OTLP_ENDPOINT)',
  },
  otelServiceName: {
    env: 'OTEL_SERVICE_NAME',
    default: 'relay',
    help: "traces: the service.name of the relay's spans",
  },
  logLevel: {
    env: 'RELAY_LOG_LEVEL',
    default: 'info',
    help: 'pino log level (silent, error, warn, info, debug)',
  },
} as const;

export type SettingName = keyof typeof SETTINGS;

/** A setting's value as a flag or a test gives it; a list setting also takes its parsed list. */
export type SettingValue = string | number | boolean | readonly unknown[];

/**
 * A list setting: JSON text in its variable (or the list itself from a test), each item checked
 * by `item`, so an error names the item and field at fault (`upstreams.1.base_url`). Empty text
 * leaves it unset; a list that is given must hold at least one item.
 */
export function jsonList<T extends z.ZodType>(item: T) {
  return z.preprocess((value, ctx) => {
    if (typeof value !== 'string') return value;
    if (value.trim() === '') return undefined;
    try {
      return JSON.parse(value) as unknown;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not JSON (${(err as Error).message})`, input: value });
      return z.NEVER;
    }
  }, z.array(item).min(1).optional());
}

/** A comma-separated list setting (or the list itself from a test); blanks dropped. */
const commaList = z.preprocess(
  (value) =>
    typeof value === 'string'
      ? value
          .split(',')
          .map((item) => item.trim())
          .filter((item) => item !== '')
      : value,
  z.array(z.string().min(1)),
);

const configSchema = z.strictObject({
  host: z.string().min(1),
  port: int().max(65535),
  anthropicApiKey: z.string(),
  anthropicBaseUrl: z.union([z.literal(''), z.url()]),
  upstreams: jsonList(upstreamEntrySchema),
  upstreamsFile: z.string(),
  upstreamCooldownMs: int(),
  defaultModel: z.string().min(1),
  defaultMaxTokens: int(1),
  firstTokenTimeoutMs: int(),
  idleTimeoutMs: int(),
  retryBudgetMs: int(),
  retryMaxAttempts: int(1),
  retryBaseDelayMs: int(),
  retryMaxDelayMs: int(),
  logMaxEvents: int(2),
  logMaxBytes: int(1024),
  maxLagEvents: int(1),
  cursorBatchEvents: int(1),
  cursorBatchBytes: int(1024),
  graceMs: int(),
  retentionMs: int(),
  maxStreams: int(1),
  maxStreamsPerAddress: int(),
  wsMaxStreamsPerConnection: int(1),
  maxDurationMs: int(),
  ssePingMs: int(1),
  headersTimeoutMs: int(1),
  requestTimeoutMs: int(),
  maxConnections: int(),
  bodyLimitBytes: int(1024),
  maxRequestBytesInFlight: int(1024),
  wsHeartbeatMs: int(1),
  wsMaxPayloadBytes: int(1024),
  wsHighWaterBytes: int(1024),
  wsHardLimitBytes: int(1024),
  wsMaxMessagesPerSecond: int(1),
  maxConversations: int(1),
  maxTurns: int(2),
  conversationTtlMs: int(1),
  simFirstTokenMs: int(),
  simTokensPerSecond: int(),
  drainMs: int(),
  metricsToken: z.string(),
  auth: z.enum(['auto', 'none']),
  keysFile: z.string(),
  apiKeys: commaList,
  jwtSecret: z.string(),
  jwtPublicKey: z.string(),
  ticketTtlMs: int(1000),
  ticketSecret: z.string(),
  allowedOrigins: commaList,
  allowedHosts: commaList,
  redisUrl: z.union([z.literal(''), z.url({ protocol: /^rediss?$/ })]),
  redisLeaseMs: int(500),
  otlpEndpoint: z.union([z.literal(''), z.url({ protocol: /^https?$/ })]),
  otlpTracesEndpoint: z.union([z.literal(''), z.url({ protocol: /^https?$/ })]),
  otelServiceName: z.string().min(1),
  logLevel: z.enum(['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace']),
});

export type Config = Readonly<
  z.infer<typeof configSchema> & {
    /** The upstreams in use, keys resolved (see upstreamPoolOf); empty = the simulated upstream. */
    readonly upstreamPool: readonly UpstreamSpec[];
  }
>;

/**
 * Builds the Config: defaults, then environment variables, then `overrides` (CLI flags or tests).
 * Throws with a message naming each bad setting and its variable.
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = {},
  overrides: Partial<Record<SettingName, SettingValue>> = {},
): Config {
  const raw: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(SETTINGS)) {
    const fromEnv = env[setting.env];
    raw[name] =
      overrides[name as SettingName] ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : setting.default);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success)
    throw new Error(`invalid configuration: ${nameSettings(describeIssues(parsed.error))}`);
  return Object.freeze({ ...parsed.data, upstreamPool: upstreamPoolOf(parsed.data, env) });
}

/** Adds each setting's variable after its name in a problem list (`port (RELAY_PORT): …`). */
function nameSettings(problems: string, env?: string): string {
  return problems.replace(/(^|; )(\w+)((?:\.[\w-]+)*):/g, (_m, sep: string, key: string, rest: string) => {
    const setting = Object.hasOwn(SETTINGS, key) ? SETTINGS[key as SettingName] : undefined;
    return `${sep}${key}${rest}${setting ? ` (${env ?? setting.env})` : ''}:`;
  });
}

/**
 * The upstream pool: RELAY_UPSTREAMS or RELAY_UPSTREAMS_FILE when given; else ANTHROPIC_API_KEY
 * (and ANTHROPIC_BASE_URL) make a pool of one called `anthropic`; else none (the relay starts its
 * simulated upstream).
 */
function upstreamPoolOf(
  config: z.infer<typeof configSchema>,
  env: Readonly<Record<string, string | undefined>>,
): UpstreamSpec[] {
  const fail = (problems: string): never => {
    throw new Error(`invalid configuration: ${problems}`);
  };
  let entries = config.upstreams;
  let source: string = SETTINGS.upstreams.env;
  if (config.upstreamsFile !== '') {
    source = SETTINGS.upstreamsFile.env;
    if (entries !== undefined) fail(`set ${SETTINGS.upstreams.env} or ${source}, not both`);
    let text = '';
    try {
      text = readFileSync(config.upstreamsFile, 'utf8');
    } catch (err) {
      fail(
        `upstreamsFile (${source}): cannot read ${config.upstreamsFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    const fromFile = z.object({ upstreams: jsonList(upstreamEntrySchema) }).safeParse({ upstreams: text });
    if (!fromFile.success) fail(nameSettings(describeIssues(fromFile.error), source));
    else entries = fromFile.data.upstreams ?? fail(`upstreamsFile (${source}): the file lists no upstream`);
  }
  if (entries === undefined) {
    // A base URL without a key is a keyless compatible API (see target.ts), not the simulator.
    const target = upstreamTarget(config);
    return target.kind === 'simulated' ? [] : singleUpstream(target.apiKey, target.baseURL);
  }
  const resolved = resolveUpstreams(entries, env);
  if (!resolved.ok) return fail(nameSettings(resolved.problems.join('; '), source));
  return resolved.specs;
}

/** A config for tests: a zero-delay simulated upstream, quick retries, everything else at its default. */
export function testConfig(overrides: Partial<Record<SettingName, SettingValue>> = {}): Config {
  return loadConfig(
    {},
    {
      port: 0,
      logLevel: 'silent',
      simFirstTokenMs: 0,
      simTokensPerSecond: 0,
      // Millisecond backoff, so a fault retried to exhaustion ends fast.
      retryBaseDelayMs: 5,
      retryMaxDelayMs: 50,
      ...overrides,
    },
  );
}

// The settings each consumer takes, picked once here: the composition root hands every consumer
// its group instead of copying fields one by one at each call site.

/** The SDK adapter's deadlines and retry policy. */
export function upstreamSettings(config: Config): AttemptDeadlines & { readonly retry: RetryOptions } {
  return {
    firstTokenTimeoutMs: config.firstTokenTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    retry: {
      budgetMs: config.retryBudgetMs,
      maxAttempts: config.retryMaxAttempts,
      baseDelayMs: config.retryBaseDelayMs,
      maxDelayMs: config.retryMaxDelayMs,
    },
  };
}

/** The stream registry's defaults and limits. */
export function streamsSettings(config: Config): StreamsConfig {
  return {
    defaultModel: config.defaultModel,
    defaultMaxTokens: config.defaultMaxTokens,
    log: { maxEvents: config.logMaxEvents, maxBytes: config.logMaxBytes },
    maxLagEvents: config.maxLagEvents,
    cursorBatch: { maxEvents: config.cursorBatchEvents, maxBytes: config.cursorBatchBytes },
    graceMs: config.graceMs,
    retentionMs: config.retentionMs,
    maxStreams: config.maxStreams,
    maxStreamsPerAddress: config.maxStreamsPerAddress,
    maxDurationMs: config.maxDurationMs,
  };
}

/** The shared Redis store: where it is and how fast a dead instance is noticed. */
export function redisSettings(config: Config): { readonly url: string; readonly leaseMs: number } {
  return { url: config.redisUrl, leaseMs: config.redisLeaseMs };
}

/** Server-kept conversations' limits. */
export function conversationSettings(config: Config): ConversationLimits {
  return {
    maxConversations: config.maxConversations,
    maxTurns: config.maxTurns,
    // A reply runs at most maxDurationMs (plus its grace): a lock older than that was lost.
    pendingTimeoutMs:
      config.maxDurationMs > 0 ? config.maxDurationMs + config.graceMs : config.conversationTtlMs,
  };
}

/** The WebSocket endpoint's bounds (its registry and logger come from the composition root). */
export function webSocketSettings(config: Config): Omit<WsDeps, 'registry' | 'logger'> {
  return {
    heartbeatMs: config.wsHeartbeatMs,
    maxPayloadBytes: config.wsMaxPayloadBytes,
    maxFrameBytes: config.bodyLimitBytes,
    highWaterBytes: config.wsHighWaterBytes,
    hardLimitBytes: config.wsHardLimitBytes,
    maxMessagesPerSecond: config.wsMaxMessagesPerSecond,
    maxStreamsPerConnection: config.wsMaxStreamsPerConnection,
  };
}

/**
 * Tracing, or undefined when it is off: the traces URL is OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it
 * is, else OTEL_EXPORTER_OTLP_ENDPOINT + `/v1/traces` (the OpenTelemetry specification's rule).
 */
export function tracingSettings(config: Config): TracingSettings | undefined {
  const serviceName = config.otelServiceName;
  if (config.otlpTracesEndpoint !== '') return { tracesUrl: config.otlpTracesEndpoint, serviceName };
  if (config.otlpEndpoint === '') return undefined;
  return { tracesUrl: `${config.otlpEndpoint.replace(/\/+$/, '')}/v1/traces`, serviceName };
}

/** Client authentication, origins and hosts (see src/auth/relay-auth.ts). */
export function authSettings(config: Config): AuthSettings {
  return {
    auth: config.auth,
    host: config.host,
    keysFile: config.keysFile,
    apiKeys: config.apiKeys,
    jwtSecret: config.jwtSecret,
    jwtPublicKey: config.jwtPublicKey,
    ticketTtlMs: config.ticketTtlMs,
    ticketSecret: config.ticketSecret,
    allowedOrigins: config.allowedOrigins,
    allowedHosts: config.allowedHosts,
  };
}

/** The in-process simulated upstream's pacing. */
export function simulatorSettings(config: Config): SimulatedUpstreamOptions {
  return {
    firstTokenMs: config.simFirstTokenMs,
    tokensPerSecond: config.simTokensPerSecond,
    // The simulator lists and accepts the relay's default model, whatever it is configured to.
    models: [config.defaultModel],
  };
}
