/**
 * One place where a thrown error becomes an HTTP answer (the app's `onError`). A `RelayError` is an
 * answer, not a bug: it goes out in the route's own error shape. Anything else is a bug: logged,
 * and answered as `internal_error` without its internals.
 */
import type { Context, ErrorHandler, MiddlewareHandler } from 'hono';
import { RelayError } from '../core/errors.js';
import { assertNever } from '../core/events.js';
import type { Logger } from '../logger.js';
import { anthropicErrorResponse } from './anthropic-error.js';
import { errorResponse } from './http-errors.js';
import { openaiErrorResponse } from './openai/errors.js';
import type { ErrorShape, RelayEnv } from './relay-env.js';

export type { ErrorShape } from './relay-env.js';

/** Marks the routes it is mounted on as answering errors in `shape`; mount it before auth. */
export function answerErrorsAs(shape: ErrorShape): MiddlewareHandler<RelayEnv> {
  return async (c, next) => {
    c.set('errorShape', shape);
    await next();
  };
}

export function errorAnswer(shape: ErrorShape | undefined, err: unknown): Response {
  switch (shape) {
    case 'anthropic':
      return anthropicErrorResponse(err);
    case 'openai':
      return openaiErrorResponse(err);
    case 'relay':
    case undefined:
      return errorResponse(err);
    default:
      return assertNever(shape, 'error shape');
  }
}

export function answerErrors(logger: Logger): ErrorHandler<RelayEnv> {
  return (err, c: Context<RelayEnv>) => {
    // A bug (anything not a RelayError, or one already turned into internal_error): logged with its stack.
    if (!(err instanceof RelayError) || err.code === 'internal_error')
      logger.error({ err }, 'unhandled route error');
    // One line per refused request: its code, never its body.
    else if (err.status >= 500) logger.warn(refusal(c, err), 'request refused');
    else logger.info(refusal(c, err), 'request refused');
    return errorAnswer(c.get('errorShape'), err);
  };
}

function refusal(c: Context<RelayEnv>, err: RelayError): Record<string, unknown> {
  const cause = causeCode(err.cause);
  return {
    method: c.req.method,
    path: c.req.path,
    status: err.status,
    code: err.code,
    principal: c.var.principal?.id,
    ...(cause === undefined ? {} : { cause }),
  };
}

/** The system error code behind an upstream failure (ECONNREFUSED, ENOTFOUND, …), if any. */
function causeCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 6; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
