/**
 * Traces as an operator gets them: `relay serve` in a child process with OTEL_EXPORTER_OTLP_ENDPOINT
 * pointing at a small OTLP/HTTP receiver this test runs (node:http, OTLP JSON decoded as is). Streams
 * that succeed, are retried, fail and are cancelled each give one `chat {model}` span with a child
 * per upstream attempt, GenAI attribute names and the right status; the drain flushes them. An
 * endpoint nobody listens on costs one warning line and no stream.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, tracingSettings } from '../src/config.js';
import { type RelayProcess, spawnRelay } from './helpers/relay-process.js';
import { readSse, streamSse } from './helpers/sse.js';
import { until, WsClient, wsUrl } from './helpers/ws.js';

const MODEL = 'claude-sim';

/** OTLP JSON's AnyValue, as the exporter writes it. */
interface AnyValue {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: AnyValue[] };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: { key: string; value: AnyValue }[];
  status?: { code?: number; message?: string };
}
interface Received {
  span: OtlpSpan;
  attrs: Record<string, unknown>;
  resource: Record<string, unknown>;
}

const KIND = { INTERNAL: 1, CLIENT: 3 };
const STATUS = { UNSET: 0, ERROR: 2 };

function plain(v: AnyValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map(plain);
  return undefined;
}

function attrsOf(list: { key: string; value: AnyValue }[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, plain(a.value)]));
}

/** A tiny OTLP/HTTP traces receiver: remembers each request's headers and every span. */
async function startReceiver(): Promise<{
  url: string;
  spans: Received[];
  headers: IncomingHttpHeaders[];
  paths: string[];
  close(): Promise<void>;
}> {
  const spans: Received[] = [];
  const headers: IncomingHttpHeaders[] = [];
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      headers.push(req.headers);
      paths.push(req.url ?? '');
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans?: {
          resource?: { attributes?: { key: string; value: AnyValue }[] };
          scopeSpans?: { spans?: OtlpSpan[] }[];
        }[];
      };
      for (const rs of body.resourceSpans ?? []) {
        const resource = attrsOf(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? [])
          for (const span of ss.spans ?? []) spans.push({ span, attrs: attrsOf(span.attributes), resource });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    headers,
    paths,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function post(url: string, body: unknown): Promise<Response> {
  return fetch(`${url}/v1/streams`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('traces over OTLP/HTTP', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let relay: RelayProcess | undefined;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await relay?.kill();
    await receiver.close();
  });

  it('one span per stream with a child per upstream attempt, GenAI attributes, flushed by the drain', async () => {
    relay = await spawnRelay({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_SERVICE_NAME: 'relay-under-test',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-token=tok-123',
      RELAY_RETRY_BASE_DELAY_MS: '5',
      RELAY_RETRY_MAX_DELAY_MS: '50',
      RELAY_DRAIN_MS: '3000',
    });
    const url = relay.url;
    const ids: Record<string, string> = {};
    // Done at once; done after one retried 529; failed after content (terminal, not retried).
    for (const [key, message] of [
      ['ok', 'a [[sim tokens=3]]'],
      ['retried', 'b [[sim tokens=2 fail_first=1 status=529]]'],
      ['failed', 'c [[sim tokens=5 error_after=2]]'],
    ] as const) {
      const res = await post(url, { model: MODEL, message, temperature: 0.5 });
      ids[key] = res.headers.get('x-stream-id')!;
      await readSse(res);
    }
    // Cancelled by its client over WebSocket while it streams.
    const ws = await WsClient.open(wsUrl(url));
    const wsId = await ws.start({ model: MODEL, message: 'd [[sim tokens=100000 tps=50]]' });
    await ws.waitFor((m) => m.stream_id === wsId && m.type === 'text');
    ws.send({ type: 'cancel', stream_id: wsId });
    await ws.untilTerminal(wsId);
    await ws.close();
    ids.cancelled = wsId;
    // A running SSE stream the drain's deadline cuts (shutdown).
    const long = await post(url, { model: MODEL, message: 'e [[sim tokens=100000 tps=50]]' });
    ids.shutdown = long.headers.get('x-stream-id')!;
    let sawText = false;
    const reading = streamSse(long, (f) => {
      if (f.event === 'text') sawText = true;
      return undefined;
    });
    await until(() => sawText, 5000, 'first token of the long stream');

    relay.child.kill('SIGTERM');
    const exit = await relay.exited;
    await reading.catch(() => undefined);
    expect(exit.code).toBe(0);
    // Nothing waits for the scheduled batch: the drain flushed every span before the exit.
    const streamSpans = receiver.spans.filter((r) => r.span.name === `chat ${MODEL}`);
    expect(streamSpans).toHaveLength(5);
    expect(receiver.paths.every((p) => p === '/v1/traces')).toBe(true);
    expect(receiver.headers[0]?.['x-collector-token']).toBe('tok-123');
    for (const r of receiver.spans) expect(r.resource['service.name']).toBe('relay-under-test');

    const streamOf = (id: string): Received => {
      const found = streamSpans.filter((r) => r.attrs['relay.stream_id'] === id);
      expect(found).toHaveLength(1);
      return found[0]!;
    };
    const childrenOf = (parent: Received): Received[] =>
      receiver.spans
        .filter((r) => r.span.parentSpanId === parent.span.spanId)
        .sort((a, b) => Number(a.attrs['relay.attempt']) - Number(b.attrs['relay.attempt']));

    // Done: every GenAI attribute, one attempt child in the same trace.
    const ok = streamOf(ids.ok!);
    expect(ok.span.kind).toBe(KIND.CLIENT);
    expect(ok.span.status?.code ?? STATUS.UNSET).toBe(STATUS.UNSET);
    expect(ok.span.parentSpanId ?? '').toBe('');
    expect(ok.attrs).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.system': 'anthropic',
      'gen_ai.request.model': MODEL,
      'gen_ai.request.temperature': 0.5,
      'gen_ai.response.model': MODEL,
      'gen_ai.response.finish_reasons': ['end_turn'],
      'gen_ai.usage.output_tokens': 3,
      'gen_ai.usage.cache_read.input_tokens': 0,
      'gen_ai.usage.cache_creation.input_tokens': 0,
      'relay.transport': 'sse',
      'relay.outcome': 'done',
      'relay.retries': 0,
      'relay.attempts': 1,
      'relay.usage.estimated': false,
    });
    expect(ok.attrs['gen_ai.usage.input_tokens']).toEqual(expect.any(Number));
    expect(Number(ok.attrs['gen_ai.usage.input_tokens'])).toBeGreaterThan(0);
    expect(String(ok.attrs['gen_ai.response.id'])).toMatch(/^msg_/);
    expect(ok.attrs['error.type']).toBeUndefined();
    expect(BigInt(ok.span.endTimeUnixNano) >= BigInt(ok.span.startTimeUnixNano)).toBe(true);
    const [okAttempt, ...noMore] = childrenOf(ok);
    expect(noMore).toHaveLength(0);
    expect(okAttempt!.span.traceId).toBe(ok.span.traceId);
    expect(okAttempt!.span.name).toBe('upstream attempt');
    expect(okAttempt!.span.kind).toBe(KIND.INTERNAL);
    expect(okAttempt!.attrs).toMatchObject({
      'relay.attempt': 1,
      'relay.attempt.outcome': 'done',
      'relay.upstream': 'simulated',
      'relay.retried': false,
      'server.address': '127.0.0.1',
      'gen_ai.response.id': ok.attrs['gen_ai.response.id'],
    });

    // Retried: the 529 attempt is an error marked retried, the second one answered.
    const retried = streamOf(ids.retried!);
    expect(retried.attrs).toMatchObject({ 'relay.outcome': 'done', 'relay.retries': 1, 'relay.attempts': 2 });
    expect(retried.span.status?.code ?? STATUS.UNSET).toBe(STATUS.UNSET);
    const [first, second] = childrenOf(retried);
    expect(first!.attrs).toMatchObject({
      'relay.attempt': 1,
      'relay.attempt.outcome': 'failed',
      'relay.retried': true,
      'http.response.status_code': 529,
      'error.type': 'upstream_overloaded',
    });
    expect(first!.span.status?.code).toBe(STATUS.ERROR);
    expect(second!.attrs).toMatchObject({ 'relay.attempt': 2, 'relay.attempt.outcome': 'done' });
    expect(second!.span.status?.code ?? STATUS.UNSET).toBe(STATUS.UNSET);

    // Failed after content: the stream span is an error with error.type; its attempt was not retried.
    const failed = streamOf(ids.failed!);
    expect(failed.span.status?.code).toBe(STATUS.ERROR);
    expect(failed.attrs).toMatchObject({
      'relay.outcome': 'error',
      'error.type': 'upstream_overloaded',
      'relay.usage.estimated': true,
    });
    expect(failed.attrs['gen_ai.response.finish_reasons']).toBeUndefined();
    const failedAttempts = childrenOf(failed);
    expect(failedAttempts).toHaveLength(1);
    expect(failedAttempts[0]!.attrs).toMatchObject({
      'relay.attempt.outcome': 'failed',
      'relay.retried': false,
    });

    // Cancelled: not an error; the attempt was aborted.
    const cancelled = streamOf(ids.cancelled!);
    expect(cancelled.span.status?.code ?? STATUS.UNSET).toBe(STATUS.UNSET);
    expect(cancelled.attrs).toMatchObject({
      'relay.transport': 'ws',
      'relay.outcome': 'cancelled',
      'relay.cancel_reason': 'client',
    });
    expect(childrenOf(cancelled).map((c) => c.attrs['relay.attempt.outcome'])).toEqual(['aborted']);

    // Cut by the drain's deadline, and still exported.
    expect(streamOf(ids.shutdown!).attrs).toMatchObject({
      'relay.outcome': 'cancelled',
      'relay.cancel_reason': 'shutdown',
    });

    // Never a URL, a key or the prompt in any attribute.
    const values = receiver.spans.flatMap((r) => Object.values(r.attrs).map(String));
    for (const v of values) {
      expect(v).not.toMatch(/https?:\/\//);
      expect(v).not.toContain('sim-key');
      expect(v).not.toContain('[[sim');
    }
  }, 45_000);
});

describe('tracing settings', () => {
  it('are off without an endpoint; the base endpoint gets /v1/traces; the traces endpoint is used as it is', () => {
    expect(tracingSettings(loadConfig({}))).toBeUndefined();
    expect(tracingSettings(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }))).toEqual({
      tracesUrl: 'http://collector:4318/v1/traces',
      serviceName: 'relay',
    });
    expect(
      tracingSettings(
        loadConfig({
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/otlp',
          OTEL_SERVICE_NAME: 'edge-relay',
        }),
      ),
    ).toEqual({ tracesUrl: 'https://traces.example/otlp', serviceName: 'edge-relay' });
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT/,
    );
  });
});

describe('traces with an OTLP endpoint nobody answers', () => {
  it('keeps serving, logs one warning, and exits cleanly on drain', async () => {
    // A port that was free a moment ago: connections to it are refused.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const deadPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const relay = await spawnRelay({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${deadPort}`,
      // Export every 20 ms, so several exports fail while streams run; each gives up within 2 s
      // (the exporter's own retries on a refused connection), read from the variable by the exporter.
      OTEL_BSP_SCHEDULE_DELAY: '20',
      OTEL_EXPORTER_OTLP_TIMEOUT: '2000',
      RELAY_LOG_LEVEL: 'warn',
      RELAY_DRAIN_MS: '1000',
    });
    try {
      for (let i = 0; i < 4; i++) {
        const { frames } = await readSse(
          await post(relay.url, { model: MODEL, message: `x${i} [[sim tokens=3]]` }),
        );
        expect(frames.at(-1)?.event).toBe('done');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await until(() => relay.stderr().includes('trace export failed'), 10_000, 'the export warning');
      // Still serving after the failures.
      expect((await fetch(`${relay.url}/health`)).status).toBe(200);
      relay.child.kill('SIGTERM');
      const exit = await relay.exited;
      expect(exit.code).toBe(0);
      const warnings = relay
        .stderr()
        .split('\n')
        .filter((line) => line.includes('trace export failed'));
      expect(warnings).toHaveLength(1);
      expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 40 });
    } finally {
      await relay.kill();
    }
  }, 45_000);
});
