/**
 * The hono environment every relay route runs in: Node's request/response bindings, the principal
 * the authentication middleware set, and how this route answers errors.
 */
import type { HttpBindings } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Principal } from '../core/principal.js';

/**
 * `relay`: `{"error": {"code", "message"}}` (the relay's routes and the classic tutorial route);
 * `anthropic`: `{"type":"error","error":{"type","message"}}` (the Anthropic-compatible routes);
 * `openai`: `{"error":{"message","type","param","code"}}` (the OpenAI-compatible routes).
 */
export type ErrorShape = 'relay' | 'anthropic' | 'openai';

export interface RelayEnv {
  Bindings: HttpBindings;
  Variables: {
    /** Who sent the request; set once by `authenticateRequests` before any route runs. */
    principal: Principal;
    /** The error body this route answers in; unset means the relay's own `{"error": {...}}`. */
    errorShape: ErrorShape;
  };
}

export type RelayApp = Hono<RelayEnv>;
