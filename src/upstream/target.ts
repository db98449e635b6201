/**
 * Which upstream the relay talks to, decided once from the two settings:
 *
 * | ANTHROPIC_API_KEY | ANTHROPIC_BASE_URL | upstream                                         |
 * |---|---|---|
 * | empty             | empty              | the built-in simulated upstream                  |
 * | set               | empty              | https://api.anthropic.com, with the key          |
 * | set               | set                | that base URL, with the key                      |
 * | empty             | set                | that base URL, with no credential at all         |
 *
 * A base URL without a key is used, not refused: Anthropic-compatible gateways and local servers
 * often need no key, and silently switching to the simulator (the old behaviour) hid the setting.
 */
import type { ClientOptions } from '@anthropic-ai/sdk';
import { assertNever } from '../core/events.js';

export const DEFAULT_BASE_URL = 'https://api.anthropic.com';

export type UpstreamTarget =
  | { readonly kind: 'simulated' }
  | { readonly kind: 'api'; readonly baseURL: string; readonly apiKey: string };

export function upstreamTarget(settings: {
  anthropicApiKey: string;
  anthropicBaseUrl: string;
}): UpstreamTarget {
  const { anthropicApiKey: apiKey, anthropicBaseUrl: baseURL } = settings;
  if (apiKey === '' && baseURL === '') return { kind: 'simulated' };
  return { kind: 'api', baseURL: baseURL === '' ? DEFAULT_BASE_URL : baseURL, apiKey };
}

/**
 * What the start line and /ready name: the base URL's origin (scheme, host, port — never its
 * user-info, path or query, where some gateways put tokens) and whether a key is sent, never the key.
 */
export function describeTarget(target: UpstreamTarget): string {
  switch (target.kind) {
    case 'simulated':
      return 'simulated';
    case 'api':
      return `${new URL(target.baseURL).origin}${target.apiKey === '' ? ' (no API key)' : ''}`;
    default:
      return assertNever(target, 'upstream target');
  }
}

/**
 * The SDK's credential options for a key. An empty key sends no credential: the SDK is given an
 * explicit (empty) key so it reads no ANTHROPIC_AUTH_TOKEN or credentials file of its own, and its
 * auth headers are removed, since a keyless upstream must not receive a placeholder.
 */
export function sdkCredentials(apiKey: string): Pick<ClientOptions, 'apiKey' | 'defaultHeaders'> {
  if (apiKey !== '') return { apiKey };
  return { apiKey: '', defaultHeaders: { 'x-api-key': null, authorization: null } };
}
