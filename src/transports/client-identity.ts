/**
 * Who the client is. Streams and conversations are owned by this identity. Client authentication
 * (relay API keys) plugs in here; until then every client is "anonymous".
 *
 * A client's `x-api-key` or bearer token is never forwarded upstream: the relay holds its own key.
 */
import type { IncomingHttpHeaders } from 'node:http';

export function clientIdentity(_headers: IncomingHttpHeaders | Headers): string {
  return 'anonymous';
}
