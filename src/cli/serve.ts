/** `relay serve`: the relay on the real API (ANTHROPIC_API_KEY) or on the built-in simulated upstream. */
import { parseArgs } from 'node:util';
import { loadConfig, SETTINGS } from '../config.js';
import { startRelay } from '../server.js';

export const SERVE_HELP = `relay serve — stream Claude's answers over SSE and WebSocket

Usage: relay serve [--port N] [--host ADDR]

Flags:
  --port N      port to listen on; 0 picks a free port (env RELAY_PORT, default 8080)
  --host ADDR   interface to listen on (env RELAY_HOST, default 127.0.0.1)
  -h, --help    this text

Without ANTHROPIC_API_KEY the relay starts a simulated Anthropic upstream in-process, so it works
offline. Environment variables:
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
  const relay = await startRelay(config);
  const upstream = relay.simulated ? `simulated upstream at ${relay.simulated.url}` : 'Anthropic API';
  process.stdout.write(`relay listening on ${relay.url} (upstream: ${upstream})\n`);
  await waitForSignal();
  process.stdout.write('relay shutting down\n');
  await relay.close();
  return 0;
}

/** Resolves on the first SIGINT or SIGTERM; a second one exits at once. */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
