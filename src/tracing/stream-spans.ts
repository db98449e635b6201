/**
 * One trace span per stream generated here, with a child per upstream attempt, named and
 * attributed after OpenTelemetry's GenAI conventions (`chat {model}`, `gen_ai.*`) plus `relay.*`.
 *
 * Spans are built once the stream's upstream loop has unwound, from what the generation already
 * records (its monotonic start and end, its attempt records with their epoch times), so a running
 * stream costs tracing nothing: no span is held open, nothing happens per event.
 *
 * Kinds: the stream span is CLIENT (the relay's call to the model, retries included, as the GenAI
 * conventions ask for an inference span); each attempt is an INTERNAL child that says where it
 * went and how it ended. Never a URL, key, prompt or reply: upstreams appear by pool name and host.
 */
import {
  type Attributes,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { StreamGeneration } from '../core/stream-generation.js';
import type { StreamRegistry } from '../core/streams.js';
import type { AttemptRecord } from '../core/upstream.js';

export interface StreamTracing {
  /** Resolves once every ended stream's spans are handed to the tracer, or after `timeoutMs`. */
  idle(timeoutMs: number): Promise<void>;
  /** Stops listening to the registry. */
  close(): void;
}

/** Traces every stream the registry generates into `tracer`. */
export function traceStreams(streams: StreamRegistry, tracer: Tracer): StreamTracing {
  const pending = new Set<Promise<void>>();
  const stop = streams.observe({
    ended(g) {
      // After the loop unwinds, so the last attempt (an aborted one after a cancel) is recorded.
      const done = g.settled.then(() => {
        pending.delete(done);
        recordStream(tracer, g);
      });
      pending.add(done);
    },
  });
  return {
    async idle(timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      while (pending.size > 0 && performance.now() < deadline) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.all(pending),
          new Promise((resolve) => {
            timer = setTimeout(resolve, Math.max(1, deadline - performance.now()));
          }),
        ]);
        clearTimeout(timer);
      }
    },
    close: stop,
  };
}

/** Epoch ms of a performance.now() reading. */
function epochMs(monotonic: number): number {
  return performance.timeOrigin + monotonic;
}

function recordStream(tracer: Tracer, g: StreamGeneration): void {
  const terminal = g.terminal;
  const span = tracer.startSpan(
    `chat ${g.model}`,
    { kind: SpanKind.CLIENT, startTime: epochMs(g.startedAt), attributes: streamAttributes(g) },
    ROOT_CONTEXT,
  );
  if (terminal?.type === 'error') {
    span.setAttribute('error.type', terminal.code);
    span.setStatus({ code: SpanStatusCode.ERROR, message: terminal.code });
  }
  const parent = trace.setSpan(ROOT_CONTEXT, span);
  for (const a of g.attempts) recordAttempt(tracer, parent, a, g.retries);
  span.end(epochMs(g.endedAt ?? performance.now()));
}

function streamAttributes(g: StreamGeneration): Attributes {
  const req = g.upstreamRequest;
  const terminal = g.terminal;
  const usage = g.usage;
  const cacheRead = usage.cache_read_input_tokens ?? 0;
  const cacheCreation = usage.cache_creation_input_tokens ?? 0;
  // The response's id and model come from the attempt that answered (the last one that began one).
  let answered: AttemptRecord | undefined;
  for (const a of g.attempts) if (a.responseId !== undefined) answered = a;
  const attributes: Attributes = {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'anthropic',
    // The older name, still what many backends read.
    'gen_ai.system': 'anthropic',
    'gen_ai.request.model': req.model,
    'gen_ai.request.max_tokens': req.max_tokens,
    // The conventions count cached input in gen_ai.usage.input_tokens; Anthropic's input_tokens
    // excludes it, so the sum is reported (and each cache count beside it).
    'gen_ai.usage.input_tokens': usage.input_tokens + cacheRead + cacheCreation,
    'gen_ai.usage.output_tokens': usage.output_tokens,
    'gen_ai.usage.cache_read.input_tokens': cacheRead,
    'gen_ai.usage.cache_creation.input_tokens': cacheCreation,
    'relay.usage.estimated': usage.estimated === true,
    'relay.stream_id': g.id,
    'relay.transport': g.transport,
    'relay.principal': g.owner,
    'relay.outcome': terminal?.type ?? 'running',
    'relay.attempts': g.attempts.length,
    'relay.retries': g.retries,
  };
  if (req.temperature !== undefined) attributes['gen_ai.request.temperature'] = req.temperature;
  if (req.top_p !== undefined) attributes['gen_ai.request.top_p'] = req.top_p;
  if (req.top_k !== undefined) attributes['gen_ai.request.top_k'] = req.top_k;
  const conversation = g.request.conversation_id;
  if (conversation !== undefined) attributes['gen_ai.conversation.id'] = conversation;
  if (answered?.responseId !== undefined) attributes['gen_ai.response.id'] = answered.responseId;
  if (answered?.responseModel !== undefined) attributes['gen_ai.response.model'] = answered.responseModel;
  if (terminal?.type === 'done' && terminal.stop_reason !== null)
    attributes['gen_ai.response.finish_reasons'] = [terminal.stop_reason];
  if (terminal?.type === 'cancelled') attributes['relay.cancel_reason'] = terminal.reason;
  if (g.firstContentAt !== undefined)
    attributes['relay.time_to_first_token_ms'] = Math.round(g.firstContentAt - g.startedAt);
  return attributes;
}

function recordAttempt(
  tracer: Tracer,
  parent: ReturnType<typeof trace.setSpan>,
  a: AttemptRecord,
  retries: number,
): void {
  const { address, port } = splitHost(a.host);
  const attributes: Attributes = {
    'relay.attempt': a.attempt,
    'relay.attempt.outcome': a.outcome,
    'relay.upstream': a.upstream,
    'server.address': address,
    // Every failed attempt but a terminal one was retried (the retry loop's rule; metrics use it too).
    'relay.retried': a.outcome === 'failed' && a.attempt <= retries,
  };
  if (port !== undefined) attributes['server.port'] = port;
  if (a.status !== undefined) attributes['http.response.status_code'] = a.status;
  if (a.requestId !== undefined) attributes['relay.upstream.request_id'] = a.requestId;
  if (a.responseId !== undefined) attributes['gen_ai.response.id'] = a.responseId;
  if (a.responseModel !== undefined) attributes['gen_ai.response.model'] = a.responseModel;
  if (a.reason !== undefined) attributes['relay.failure.reason'] = a.reason;
  if (a.errorType !== undefined) attributes['relay.upstream.error_type'] = a.errorType;
  if (a.cause !== undefined) attributes['relay.failure.cause'] = a.cause;
  const span: Span = tracer.startSpan(
    'upstream attempt',
    { kind: SpanKind.INTERNAL, startTime: a.startedAt, attributes },
    parent,
  );
  if (a.outcome === 'failed') {
    const type = a.code ?? 'upstream_error';
    span.setAttribute('error.type', type);
    span.setStatus({ code: SpanStatusCode.ERROR, message: type });
  }
  span.end(a.endedAt);
}

/** `host:port` (or `[v6]:port`) → its parts; no port when none is written. */
function splitHost(host: string): { address: string; port: number | undefined } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(host);
  if (m === null) return { address: host, port: undefined };
  return { address: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] === undefined ? undefined : Number(m[2]) };
}
