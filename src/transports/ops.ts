/**
 * The operator's routes: `GET /ready` (should this instance get new streams?) and `GET /metrics`
 * (Prometheus text, behind a bearer token when RELAY_METRICS_TOKEN is set). `/health` stays the
 * tutorial's liveness answer in classic.ts.
 */
import { timingSafeEqual } from 'node:crypto';
import { RelayError } from '../core/errors.js';
import type { Metrics } from '../metrics.js';
import type { Readiness } from '../readiness.js';
import { errorResponse } from './http-errors.js';
import type { RelayApp } from './relay-env.js';

export interface OpsDeps {
  readonly readiness?: Readiness | undefined;
  readonly metrics?: Metrics | undefined;
  /** When non-empty, /metrics wants `Authorization: Bearer <token>`. */
  readonly metricsToken: string;
}

export function registerOpsRoutes(app: RelayApp, deps: OpsDeps): void {
  const { readiness, metrics } = deps;
  if (readiness) {
    app.get('/ready', async (c) => {
      const report = await readiness.report();
      return c.json(
        { status: report.ready ? 'ready' : 'not_ready', not_ready: report.not_ready, checks: report.checks },
        report.ready ? 200 : 503,
        { 'cache-control': 'no-store' },
      );
    });
  }
  if (metrics) {
    const expected = deps.metricsToken === '' ? undefined : Buffer.from(`Bearer ${deps.metricsToken}`);
    app.get('/metrics', async (c) => {
      if (expected !== undefined && !sameSecret(c.req.header('authorization'), expected)) {
        return errorResponse(
          new RelayError('unauthorized', '/metrics needs "Authorization: Bearer <RELAY_METRICS_TOKEN>"'),
          { 'www-authenticate': 'Bearer' },
        );
      }
      return c.body(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType });
    });
  }
}

/** Constant-time comparison, so the token cannot be guessed byte by byte from response times. */
function sameSecret(given: string | undefined, expected: Buffer): boolean {
  if (given === undefined) return false;
  const bytes = Buffer.from(given);
  return bytes.length === expected.length && timingSafeEqual(bytes, expected);
}
