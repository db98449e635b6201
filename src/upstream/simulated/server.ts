/**
 * The simulated Anthropic upstream: a plain `node:http` server (exact control of framing, socket
 * resets and stalls) that owns every request's AbortController, so closing it releases every
 * timer and socket.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AttemptCounter } from './attempts.js';
import { checkServerFaults } from './directives.js';
import { type Exchange, sendError } from './exchange.js';
import { defaultFixturesDir } from './fixtures.js';
import { handleIntrospection, isIntrospectionPath } from './introspection.js';
import type { SimConfig } from './messages.js';
import { catalogue } from './models.js';
import { clock, RecordStore, type RequestRecords } from './records.js';
import { authKind, routeApi } from './routes.js';
import { randomId } from './seed.js';

export interface SimulatedUpstreamOptions {
  /** Interface to listen on; default `127.0.0.1`. */
  host?: string;
  /** Port; default 0 (a free port). */
  port?: number;
  /** Delay before the first token, ms; default 1000 (realistic). Use 0 in tests. */
  firstTokenMs?: number;
  /** Tokens per second after the first; default 60. 0 or Infinity = no delay between tokens. */
  tokensPerSecond?: number;
  /**
   * Characters (code points) per text token; default 4. Exact for a reply cut by max_tokens; a
   * reply that ends by itself ends a sentence, so its tokens vary around this size.
   */
  charsPerToken?: number;
  /** Benchmark stamping for every request (see bench.ts); default false. */
  benchmark?: boolean;
  /** Where `fixture=` looks; default the repository's `fixtures/`. */
  fixturesDir?: string;
  /**
   * Models to list and accept besides the catalogue (a relay passes its default model, so a
   * configured RELAY_DEFAULT_MODEL works on the simulator too).
   */
  models?: readonly string[];
  /** Keep whole request bodies in the records (tests that read them; `records.keepBodies()` too). Default false. */
  keepBodies?: boolean;
  /**
   * Faults for every request this server serves, in the directive grammar (`status=529`,
   * `status=401`, `ttft=5000` …); a request's own directives win. Default none.
   */
  faults?: string;
  /** One line per finished request (and internal errors). */
  log?: (line: string) => void;
}

export interface SimulatedUpstream {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  /** In-process introspection of the requests served. */
  readonly records: RequestRecords;
  /** Replaces the server's own faults (see `faults`); '' = none. Throws on a bad directive. */
  setFaults(text: string): void;
  /** Closes the server, destroys open sockets and clears all timers. Idempotent. */
  close(): Promise<void>;
}

function nonNegative(name: string, value: number): number {
  if (!(value >= 0)) throw new RangeError(`${name} must be a number >= 0, got ${value}`);
  return value;
}

function resolveConfig(opts: SimulatedUpstreamOptions): SimConfig {
  const charsPerToken = opts.charsPerToken ?? 4;
  if (!Number.isInteger(charsPerToken) || charsPerToken < 1) {
    throw new RangeError(`charsPerToken must be an integer >= 1, got ${charsPerToken}`);
  }
  return {
    firstTokenMs: nonNegative('firstTokenMs', opts.firstTokenMs ?? 1000),
    tokensPerSecond: nonNegative('tokensPerSecond', opts.tokensPerSecond ?? 60),
    charsPerToken,
    benchmark: opts.benchmark ?? false,
    fixturesDir: opts.fixturesDir ?? defaultFixturesDir(),
  };
}

function checkedFaults(text: string): string {
  const problem = checkServerFaults(text);
  if (problem !== undefined) throw new RangeError(problem);
  return text;
}

/** Starts the simulator and resolves once it listens. */
export async function startSimulatedUpstream(
  opts: SimulatedUpstreamOptions = {},
): Promise<SimulatedUpstream> {
  const faults = { text: checkedFaults(opts.faults ?? '') };
  const ctx = {
    config: resolveConfig(opts),
    attempts: new AttemptCounter(),
    models: catalogue(opts.models),
    faults,
  };
  const log = opts.log ?? (() => {});
  const records = new RecordStore();
  records.keepBodies(opts.keepBodies ?? false);
  const organizationId = randomUUID();
  const live = new Set<AbortController>();
  let closing = false;

  function onApiRequest(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const controller = new AbortController();
    live.add(controller);
    const record = records.create({
      id: randomId('req_sim_'),
      method: req.method ?? 'GET',
      path: url.pathname,
      auth: authKind(req.headers),
      anthropicBeta: headerText(req.headers['anthropic-beta']),
    });
    const ex: Exchange = { req, res, record, records, signal: controller.signal, organizationId };
    res.on('close', () => {
      live.delete(controller);
      // A close before we ended our side is the client leaving (not a server shutdown).
      if (!closing && record.completedAt === null && record.clientClosedAt === null) {
        const at = clock();
        records.update(record, {
          clientClosedAt: at.ms,
          clientClosedAtNs: at.ns,
          outcome: record.outcome === 'pending' ? 'client_closed' : record.outcome,
        });
      }
      controller.abort();
      log(
        `${record.method} ${record.path} ${record.status} ${record.outcome} tokens=${record.tokensSent} ${record.id}`,
      );
    });
    routeApi(ex, ctx, url).catch((err: unknown) => {
      // A bug must not take the server down: answer 500 if we still can, else drop the socket.
      log(
        `internal error on ${record.id}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      );
      if (!res.headersSent) sendError(ex, 500, 'Internal server error');
      else res.destroy();
    });
  }

  const server = createServer((req, res) => {
    // Errors on a socket the client dropped surface as 'close'; these listeners keep them from throwing.
    req.on('error', () => {});
    res.on('error', () => {});
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://sim.invalid');
    } catch {
      url = new URL('http://sim.invalid/');
    }
    if (isIntrospectionPath(url.pathname)) handleIntrospection(req.method ?? 'GET', url, res, records);
    else onApiRequest(req, res, url);
  });
  server.on('clientError', (_err, socket) => {
    // Malformed HTTP: answer 400 like any server, never crash.
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closed: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    records,
    setFaults(text) {
      faults.text = checkedFaults(text);
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        closing = true;
        for (const controller of live) controller.abort();
        records.dispose();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

function headerText(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(',') : value;
}
