/**
 * The page's credentials. A relay that requires keys answers `POST /v1/tickets` without one with
 * 401: then the page asks for a key once and keeps it in sessionStorage (gone with the tab). Fetch
 * requests send it as `x-api-key`; EventSource and WebSocket cannot send headers, so they get a
 * short-lived ticket in the URL instead (`?ticket=`), never the key itself.
 */

const STORAGE_KEY = 'relay.key';

/** @returns {string | undefined} */
export function relayKey() {
  try {
    return sessionStorage.getItem(STORAGE_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

/** @param {Record<string, string>} [headers] @returns {Record<string, string>} */
export function authHeaders(headers = {}) {
  const key = relayKey();
  return key === undefined ? headers : { ...headers, 'x-api-key': key };
}

/**
 * Finds out whether the relay wants a key, and asks for one if it does and none is kept (or the
 * kept one is refused).
 */
export async function ensureKey() {
  for (let attempt = 0; attempt < 3; attempt++) {
    let res;
    try {
      res = await fetch('/v1/tickets', { method: 'POST', headers: authHeaders() });
    } catch {
      return; // unreachable: the first request will say so
    }
    if (res.status !== 401) return;
    const entered = window.prompt(
      relayKey() === undefined
        ? 'This relay requires a key (rk_…). It is kept for this tab only.'
        : 'The relay refused that key. Enter another key:',
    );
    if (entered === null || entered.trim() === '') {
      sessionStorage.removeItem(STORAGE_KEY);
      return;
    }
    sessionStorage.setItem(STORAGE_KEY, entered.trim());
  }
}

/**
 * `url` with a fresh `?ticket=` when the page uses a key (EventSource and WebSocket cannot send
 * headers); unchanged when the relay needs no key.
 * @param {string} url
 * @returns {Promise<string>}
 */
export async function withTicket(url) {
  if (relayKey() === undefined) return url;
  try {
    const res = await fetch('/v1/tickets', { method: 'POST', headers: authHeaders() });
    if (!res.ok) return url;
    const { ticket } = await res.json();
    return `${url}${url.includes('?') ? '&' : '?'}ticket=${encodeURIComponent(String(ticket))}`;
  } catch {
    return url;
  }
}
