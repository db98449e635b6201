/** `relay serve`: the relay on the real API (ANTHROPIC_API_KEY) or on the built-in simulated upstream. */
import { parseArgs } from 'node:util';
import { type Config, loadConfig, SETTINGS } from '../config.js';
import { type RelayServer, startRelay } from '../server.js';

export const SERVE_HELP = `relay serve — stream Claude's answers over SSE and WebSocket

Usage: relay serve [--port N] [--host ADDR]

Flags:
  --port N      port to listen on; 0 picks a free port (env RELAY_PORT, default 8080)
  --host ADDR   interface to listen on (env RELAY_HOST, default 127.0.0.1)
  -h, --help    this text

Without ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL the relay starts a simulated Anthropic upstream
in-process, so it works offline. ANTHROPIC_BASE_URL without a key is used with no credential.
Environment variables:
${Object.values(SETTINGS)
  .map((s) => `  ${s.env.padEnd(34)} ${s.help}${s.default === '' ? '' : ` (default ${s.default})`}`)
  .join('\n')}
`;

export async function runServe(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { port: { type: 'string' }, host: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  const config = loadConfig(env, {
    ...(values.port === undefined ? {} : { port: values.port }),
    ...(values.host === undefined ? {} : { host: values.host }),
  });
  let relay: RelayServer;
  try {
    relay = await startRelay(config);
  } catch (err) {
    const message = listenFailure(err, config);
    if (message === undefined) throw err;
    process.stderr.write(`relay serve: ${message}\n`);
    return 1;
  }
  // Trapped before the start line: a script that signals as soon as it reads the line must not
  // meet the default action (an immediate kill, seen under load).
  const signalled = waitForSignal();
  // Names the upstream (base URL origin, or "simulated"), never its key.
  const upstream = relay.simulated ? `simulated at ${relay.simulated.url}` : relay.upstreamName;
  process.stdout.write(`relay listening on ${relay.url} (upstream: ${upstream})\n`);
  const signal = await signalled;
  process.stdout.write(
    `relay draining (${signal}): new streams refused, running ones get ${config.drainMs} ms\n`,
  );
  // A second signal skips the wait: every stream is cancelled now.
  const now = new AbortController();
  const onSecond = (): void => now.abort();
  for (const s of DRAIN_SIGNALS) process.on(s, onSecond);
  // Whatever hangs, the process is gone 2 s after the drain's deadline.
  const bound = setTimeout(() => process.exit(0), config.drainMs + 2000);
  bound.unref();
  try {
    await relay.drain(config.drainMs, now.signal);
  } finally {
    for (const s of DRAIN_SIGNALS) process.off(s, onSecond);
    clearTimeout(bound);
  }
  process.stdout.write('relay stopped\n');
  return 0;
}

/** A message that says what to change when the relay could not listen; undefined for any other failure. */
export function listenFailure(err: unknown, config: Pick<Config, 'host' | 'port'>): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  const where = `port ${config.port} on ${config.host}`;
  const change = 'choose another with RELAY_PORT=N or --port N (0 picks a free port)';
  switch (code) {
    case 'EADDRINUSE':
      return `${where} is already in use; ${change}`;
    case 'EACCES':
      return `not allowed to listen on ${where} (ports below 1024 need privileges); ${change}`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${config.host}: no such local address; set RELAY_HOST or --host`;
    default:
      return undefined;
  }
}

/** Each starts the drain; SIGHUP too, so a closed terminal or a supervisor's hangup drains instead of killing. */
const DRAIN_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

/** Resolves on the first SIGTERM, SIGINT or SIGHUP (the caller traps the second one). */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      for (const s of DRAIN_SIGNALS) process.off(s, onSignal);
      resolve(signal);
    };
    for (const s of DRAIN_SIGNALS) process.on(s, onSignal);
  });
}
