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
    return errorAnswer(c.get('errorShape'), err);
  };
}
