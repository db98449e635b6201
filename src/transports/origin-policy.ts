/**
 * Which browser origins and Host names the relay answers. Browsers let any page reach a local
 * relay: a cross-site WebSocket reads answers (CSWSH), a `text/plain` POST spends the key, and DNS
 * rebinding makes a hostile name resolve to 127.0.0.1. So: cross-origin only for listed origins
 * (RELAY_ALLOWED_ORIGINS, `*` for any), and, while the relay runs anonymous, only Host names it
 * knows (its listening address, localhost, IP literals, RELAY_ALLOWED_HOSTS).
 */

export class OriginPolicy {
  private readonly any: boolean;
  private readonly listed: ReadonlySet<string>;

  constructor(allowedOrigins: readonly string[]) {
    this.any = allowedOrigins.includes('*');
    this.listed = new Set(
      allowedOrigins.filter((o) => o !== '*').map((o) => o.replace(/\/+$/, '').toLowerCase()),
    );
  }

  /** A request with this Origin may proceed: none (not a browser), same origin, or allowed cross-origin. */
  allows(origin: string | undefined, host: string | undefined): boolean {
    return origin === undefined || sameOrigin(origin, host) || this.allowsCrossOrigin(origin);
  }

  /** Whether a cross-origin page at `origin` may call the relay (gets CORS headers). */
  allowsCrossOrigin(origin: string): boolean {
    return this.any || this.listed.has(origin.toLowerCase());
  }
}

export class HostPolicy {
  private readonly names: ReadonlySet<string>;
  private readonly any: boolean;

  constructor(listenHost: string, allowedHosts: readonly string[]) {
    this.any = allowedHosts.includes('*');
    this.names = new Set([
      'localhost',
      listenHost.toLowerCase(),
      ...allowedHosts.map((h) => h.toLowerCase()),
    ]);
  }

  /** DNS rebinding needs a name: IP literals and the names we know are fine. */
  allows(hostHeader: string | undefined): boolean {
    if (this.any) return true;
    if (hostHeader === undefined) return true; // HTTP/1.0 without Host: not a browser
    const name = hostname(hostHeader);
    return this.names.has(name) || isIpLiteral(name) || name.endsWith('.localhost');
  }
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    return new URL(origin).host.toLowerCase() === host.toLowerCase();
  } catch {
    return false;
  }
}

function hostname(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') === -1 ? undefined : h.indexOf(']'));
  const colon = h.lastIndexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

function isIpLiteral(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(':');
}
