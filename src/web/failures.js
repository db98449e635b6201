/**
 * What the page shows when a transport cannot do its job: one shape, `{ code, message, status? }`,
 * built from the relay's JSON error body, from a network failure, or from a WebSocket notice.
 */

/**
 * @typedef {{ code: string, message: string, status?: number }} Failure
 */

/**
 * A non-2xx answer: the relay's `{"error": {"code", "message"}}` when it sent one, else the status.
 * @param {Response} res
 * @returns {Promise<Failure>}
 */
export async function failureFromResponse(res) {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text);
    if (body && typeof body.error === 'object' && body.error !== null) {
      return {
        code: String(body.error.code ?? 'http_error'),
        message: String(body.error.message ?? text),
        status: res.status,
      };
    }
  } catch {
    // not JSON: fall through
  }
  return {
    code: 'http_error',
    message: `HTTP ${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`,
    status: res.status,
  };
}

/**
 * `fetch` rejected or a socket could not open: the relay is not reachable from this page.
 * @param {unknown} err
 * @param {string} what e.g. "POST /v1/streams"
 * @returns {Failure}
 */
export function unreachable(err, what) {
  const detail = err instanceof Error ? err.message : String(err);
  return {
    code: 'relay_unreachable',
    message: `the relay at ${location.host} is unreachable (${what}: ${detail})`,
  };
}
