/**
 * OpenTelemetry tracing over OTLP/HTTP (JSON), on only when an OTLP endpoint is configured (the
 * server imports this module only then, so a relay without tracing never loads the OTel SDK).
 *
 * A provider of our own (never registered globally: nothing else in the process is traced by
 * accident), a BatchSpanProcessor (spans leave in batches, off the streams' path) and the OTLP
 * exporter, which reads the standard variables itself (OTEL_EXPORTER_OTLP_HEADERS,
 * OTEL_EXPORTER_OTLP_TIMEOUT, …). A collector that cannot be reached costs one warning line, not
 * one per batch, and never a stream: spans are dropped until it answers again.
 */
import type { Tracer } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import type { Logger } from '../logger.js';
import type { TracingSettings } from './tracing-settings.js';

export interface Tracing {
  readonly tracer: Tracer;
  /** Sends what is batched; bounded by `timeoutMs`, never throws. */
  flush(timeoutMs: number): Promise<void>;
  /** Flushes (bounded) and stops the exporter. */
  shutdown(timeoutMs: number): Promise<void>;
}

export function startTracing(settings: TracingSettings, logger: Logger): Tracing {
  const exporter = new WarnOnceExporter(new OTLPTraceExporter({ url: settings.tracesUrl }), logger);
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': settings.serviceName }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  const bounded = async (work: Promise<unknown>, timeoutMs: number, what: string): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
      timer.unref();
    });
    try {
      const result = await Promise.race([work.then(() => 'ok' as const), timeout]);
      if (result === 'timeout') logger.warn({ timeout_ms: timeoutMs }, `trace ${what} timed out`);
    } catch (err) {
      logger.warn({ err }, `trace ${what} failed`);
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    tracer: provider.getTracer('relay'),
    flush: (timeoutMs) => bounded(provider.forceFlush(), timeoutMs, 'flush'),
    shutdown: (timeoutMs) => bounded(provider.shutdown(), timeoutMs, 'shutdown'),
  };
}

/**
 * The exporter, telling the log when exports start failing (once, with the cause) and when they
 * work again; the failed batch itself is dropped, as the OTel SDK does.
 */
class WarnOnceExporter implements SpanExporter {
  private failing = false;

  constructor(
    private readonly inner: SpanExporter,
    private readonly logger: Logger,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) {
        if (this.failing) this.logger.info('trace export works again');
        this.failing = false;
      } else if (!this.failing) {
        this.failing = true;
        this.logger.warn(
          { err: result.error?.message, spans: spans.length },
          'trace export failed; spans are dropped until the OTLP endpoint answers (streams are not affected)',
        );
      }
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}
