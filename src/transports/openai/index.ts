/**
 * The OpenAI-compatible routes: `POST /v1/chat/completions`, and `GET /v1/models[/:id]` in OpenAI's
 * shape for OpenAI clients (Anthropic SDKs, which send `anthropic-version`, get Anthropic's).
 */
import { answerErrorsAs } from '../error-answers.js';
import type { RelayApp } from '../relay-env.js';
import { type OpenAIChatDeps, registerOpenAIChatRoute } from './chat-route.js';
import { fromAnthropicSdk, type OpenAIModelsDeps, registerOpenAIModelRoutes } from './models.js';

export type OpenAIDeps = OpenAIChatDeps & OpenAIModelsDeps;

/**
 * Marks these routes' errors as OpenAI-shaped. Mount after the Anthropic error shape (it takes
 * `/v1/models` back for OpenAI clients) and before authentication, so a refusal is OpenAI-shaped too.
 */
export function registerOpenAIErrorShape(app: RelayApp): void {
  app.use('/v1/chat/completions', answerErrorsAs('openai'));
  const openaiUnlessAnthropic = answerErrorsAs('openai');
  for (const path of ['/v1/models', '/v1/models/*']) {
    app.use(path, (c, next) => (fromAnthropicSdk(c) ? next() : openaiUnlessAnthropic(c, next)));
  }
}

/** Register before the Anthropic-compatible routes: `/v1/models` falls through to them for Anthropic SDKs. */
export function registerOpenAIRoutes(app: RelayApp, deps: OpenAIDeps): void {
  registerOpenAIChatRoute(app, deps);
  registerOpenAIModelRoutes(app, deps);
}
