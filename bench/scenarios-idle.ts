/**
 * Scenario `idle`: what an open connection with no stream on it costs the relay — the figure
 * issue 19's guide compares. The orchestrator itself opens N connections to a fresh relay (no load
 * client: nothing is timed), holds them for a moment, and reads the relay's RSS and heap (after a
 * forced GC) against the same process before:
 *
 * - `ws`: N WebSockets on `/v1/ws`, open and idle (a page or CLI between answers). The relay keeps
 *   them, pinging every 25 s.
 * - `sse`: N keep-alive HTTP connections, each idle after one `GET /health` (a page between two
 *   fetch + SSE answers). The relay closes them after its 5 s keep-alive timeout, so this is what
 *   an idle SSE client costs for at most those 5 s; after that it costs nothing.
 */
import { connect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { Harness } from './harness.js';
import { rotate, sleep } from './harness.js';
import { median } from './hist.js';
import { rssBytes } from './procs.js';

export interface IdleRun {
  readonly target: 'sse' | 'ws';
  readonly rep: number;
  readonly connections: number;
  readonly rssPerConnectionKb: number;
  readonly heapPerConnectionKb: number;
  readonly gc: boolean;
}

export interface IdleRow {
  readonly target: 'sse' | 'ws';
  readonly connections: number;
  readonly rssPerConnectionKb: number | null;
  readonly heapPerConnectionKb: number | null;
}

export interface IdleData {
  readonly connections: number;
  readonly runs: IdleRun[];
  readonly rows: IdleRow[];
}

/** How long connections are held before measuring (well inside the relay's 5 s keep-alive). */
const HOLD_MS = 1000;
/** Connections opened at once: a bounded ramp, not a connection storm. */
const BATCH = 100;
/** Every connection must be open within this long, or the run fails. */
const OPEN_TIMEOUT_MS = 10_000;

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`idle: ${what} not done within ${OPEN_TIMEOUT_MS} ms`)),
      OPEN_TIMEOUT_MS,
    );
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

function openWs(base: string): Promise<() => void> {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/v1/ws`);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(() => ws.terminate()));
    ws.once('error', reject);
  });
}

/** One keep-alive connection, left idle after a complete `GET /health` exchange. */
function openKeepAlive(base: string): Promise<() => void> {
  const { hostname, port } = new URL(base);
  const socket: Socket = connect({ host: hostname, port: Number(port) });
  return new Promise((resolve, reject) => {
    let seen = '';
    socket.once('error', reject);
    socket.once('connect', () => socket.write(`GET /health HTTP/1.1\r\nHost: ${hostname}:${port}\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      // The body is `{"status":"ok"}`: once it is in, the exchange is over and the socket idle.
      if (seen.includes('\r\n\r\n') && seen.endsWith('}')) {
        socket.removeAllListeners('data');
        resolve(() => socket.destroy());
      }
    });
  });
}

export async function idle(h: Harness): Promise<IdleData> {
  const connections = h.opts.sizes.idle.connections;
  const names = h.opts.targets.filter((t): t is 'sse' | 'ws' => t === 'sse' || t === 'ws');
  const runs: IdleRun[] = [];
  const reps = Array.from({ length: h.opts.reps }, (_, i) => i);
  for (const rep of reps) {
    for (const name of rotate(names, rep)) {
      h.log(`idle ${name} rep ${rep + 1}`);
      const server = await h.startRelay();
      const closers: (() => void)[] = [];
      try {
        const target = h.targets([name])[0]!;
        await h.warmUp([target]);
        await sleep(300);
        const base = await server.memory();
        const baseRss = rssBytes(server.pid);
        const open = name === 'ws' ? openWs : openKeepAlive;
        for (let i = 0; i < connections; i += BATCH) {
          const n = Math.min(BATCH, connections - i);
          const batch = await withTimeout(
            Promise.all(Array.from({ length: n }, () => open(server.url))),
            `opening ${name} connections ${i + 1}..${i + n}`,
          );
          closers.push(...batch);
        }
        await sleep(HOLD_MS);
        const mem = await server.memory();
        const rss = rssBytes(server.pid);
        runs.push({
          target: name,
          rep,
          connections,
          rssPerConnectionKb: (rss - baseRss) / connections / 1024,
          heapPerConnectionKb: (mem.heapUsed - base.heapUsed) / connections / 1024,
          gc: mem.gc,
        });
      } finally {
        for (const close of closers) close();
        await h.stopServers();
      }
    }
  }
  const rows = names.map((name): IdleRow => {
    const mine = runs.filter((r) => r.target === name);
    return {
      target: name,
      connections,
      rssPerConnectionKb: median(mine.map((r) => r.rssPerConnectionKb)),
      heapPerConnectionKb: median(mine.map((r) => r.heapPerConnectionKb)),
    };
  });
  return { connections, runs, rows };
}

const kb = (v: number | null): string => (v === null || !Number.isFinite(v) ? '–' : v.toFixed(1));

/** The Markdown section for bench/report.ts. */
export function idleSection(d: IdleData): string[] {
  return [
    '## Idle connections',
    '',
    `${d.connections} connections with no stream, opened by the orchestrator to a fresh relay and held ${HOLD_MS} ms; growth of the relay's RSS and heap (after a forced GC) per connection, median of the repetitions. \`sse\`: keep-alive HTTP connections idle after one request (the relay closes them after 5 s); \`ws\`: open WebSockets (kept, pinged every 25 s).`,
    '',
    '| target | connections | RSS per connection (KB) | heap per connection (KB) |',
    '| --- | ---: | ---: | ---: |',
    ...d.rows.map(
      (r) =>
        `| ${r.target} | ${r.connections} | ${kb(r.rssPerConnectionKb)} | ${kb(r.heapPerConnectionKb)} |`,
    ),
    '',
  ];
}
