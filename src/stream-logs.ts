/**
 * The log lines an on-call engineer reads about streams: one per ended stream (who, how, how long,
 * what it cost, the upstream's request ids to match a support ticket) and one per failed upstream
 * attempt with its cause. Never prompt text, reply text, a key or an upstream URL (upstreams are
 * named by their pool name; the start line says where each goes): only ids, codes and counts.
 */
import type { StreamGeneration } from './core/stream-generation.js';
import type { StreamRegistry } from './core/streams.js';
import type { AttemptRecord } from './core/upstream.js';
import type { Logger } from './logger.js';

export function logStreams(streams: StreamRegistry, logger: Logger): () => void {
  return streams.observe({
    attempt(g, record) {
      if (record.outcome !== 'failed') return;
      logger.warn({ stream_id: g.id, ...attemptFields(record) }, 'upstream attempt failed');
    },
    ended(g) {
      const failed = g.terminal?.type === 'error';
      // At the usual `warn` level a clean end writes nothing: no fields, no promise, per stream.
      if (!logger.isLevelEnabled(failed ? 'warn' : 'info')) return;
      // Once the upstream loop has unwound, so the last attempt (and its request id) is recorded.
      void g.settled.then(() => {
        const fields = endFields(g);
        if (failed) logger.warn(fields, 'stream ended');
        else logger.info(fields, 'stream ended');
      });
    },
  });
}

function endFields(g: StreamGeneration): Record<string, unknown> {
  const terminal = g.terminal;
  const requestIds = g.attempts.flatMap((a) => (a.requestId === undefined ? [] : [a.requestId]));
  return {
    stream_id: g.id,
    principal: g.owner,
    transport: g.transport,
    model: g.model,
    outcome: terminal?.type,
    code:
      terminal?.type === 'error'
        ? terminal.code
        : terminal?.type === 'cancelled'
          ? terminal.reason
          : undefined,
    usage: g.usage,
    ttft_ms: g.firstContentAt === undefined ? undefined : Math.round(g.firstContentAt - g.startedAt),
    duration_ms: Math.round((g.endedAt ?? performance.now()) - g.startedAt),
    retries: g.retries,
    attempts: g.attempts.length,
    upstream_request_ids: requestIds,
  };
}

function attemptFields(a: AttemptRecord): Record<string, unknown> {
  return {
    attempt: a.attempt,
    upstream: a.upstream,
    code: a.code,
    reason: a.reason,
    status: a.status,
    error_type: a.errorType,
    cause: a.cause,
    request_id: a.requestId,
    duration_ms: a.endedAt - a.startedAt,
  };
}
