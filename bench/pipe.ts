/**
 * The physical-limit reference: a minimal byte-forwarding Node relay. `POST /v1/messages` is
 * forwarded to the upstream with `node:http` (pooled keep-alive connections, as the SDK pools
 * them) and the response is piped back untouched; a client that leaves aborts the upstream
 * request. No parsing, no log, no resume: what any Node relay costs at least.
 *
 *     node dist/bench/pipe.js [--port N]        (upstream: ANTHROPIC_BASE_URL)
 *
 * Prints `pipe listening on http://127.0.0.1:PORT`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);

function forwardable(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && name !== 'host') out[name] = value;
  }
  return out;
}

function startPipe(upstreamUrl: string, port = 0): Promise<http.Server> {
  const upstream = new URL(upstreamUrl);
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || !req.url?.startsWith('/v1/messages')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    // The body is read whole first (a small JSON request) so that it can be sent again, below.
    const body: Buffer[] = [];
    req.on('data', (chunk: Buffer) => body.push(chunk));
    req.on('end', () => send(Buffer.concat(body), true));
    let up: http.ClientRequest | undefined;
    // The client left before the end: abort the upstream request at once.
    res.on('close', () => {
      if (!res.writableFinished) up?.destroy();
    });

    function send(payload: Buffer, mayRetry: boolean): void {
      if (res.destroyed) return;
      const attempt = http.request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: 'POST',
          path: req.url,
          headers: { ...forwardable(req.headers), host: upstream.host },
          agent,
        },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, forwardable(upRes.headers));
          res.flushHeaders();
          upRes.pipe(res);
          upRes.on('error', () => res.destroy());
        },
      );
      up = attempt;
      attempt.on('error', (err: NodeJS.ErrnoException) => {
        // A pooled keep-alive socket the upstream closed as it was handed out fails before any
        // answer: sent once more (the agent has dropped the dead socket), as undici and the SDK
        // retry; a pipe that failed the stream would fail the run for the reference's sake.
        if (mayRetry && attempt.reusedSocket && err.code === 'ECONNRESET' && !res.headersSent) {
          send(payload, false);
          return;
        }
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
        res.destroy();
      });
      attempt.end(payload);
    }
  });
  server.requestTimeout = 0;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } } });
  const base = process.env.ANTHROPIC_BASE_URL;
  if (base === undefined || base === '') throw new Error('pipe: set ANTHROPIC_BASE_URL to the upstream');
  const server = await startPipe(base, Number(values.port));
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`pipe listening on http://127.0.0.1:${port} (upstream ${base})\n`);
  const stop = (): void => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
