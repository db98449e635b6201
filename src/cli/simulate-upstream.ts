/**
 * `relay simulate-upstream`: runs only the simulated Anthropic API, until SIGINT or SIGTERM.
 * Prints exactly one line on stdout when ready: `simulated Anthropic upstream listening on URL`.
 */
import { parseArgs } from 'node:util';
import { DIRECTIVE_KEYS, startSimulatedUpstream } from '../upstream/simulated/index.js';

/** Default port: fixed so other processes (a relay, a benchmark) can find it; 0 picks a free one. */
export const DEFAULT_SIM_PORT = 8787;

const HELP = `relay simulate-upstream — a local server speaking Anthropic's Messages API (streaming and not)

Usage: relay simulate-upstream [flags]

Flags:
  --port N             port to listen on (0 = a free port); default ${DEFAULT_SIM_PORT}
  --host H             interface to listen on; default 127.0.0.1
  --ttft-ms MS         delay before the first token of each reply; default 1000
  --tps N              tokens per second after the first (0 = no delay); default 60
  --chars-per-token N  characters in each text token; default 4
  --benchmark          stamp every text token as "SEQ@HRTIME_NS " (monotonic clock, ns)
  --fixtures-dir DIR   where fixture=NAME finds NAME.sse; default the repo's fixtures/
  --verbose            log one line per request on stderr
  --keep-bodies        keep each request's whole body in its record (default: size and SHA-256 only)
  -h, --help           show this help

Any API key is accepted (x-api-key or Authorization: Bearer). Per request, faults and shapes are
chosen by a directive in the last user message, [[sim key=value ...]], or in the model string,
claude-sim#key=value,... Keys: ${DIRECTIVE_KEYS.join(', ')}.

Introspection: GET /_sim/requests[?prompt_contains=], GET /_sim/requests/ID, DELETE /_sim/requests,
GET /health.
`;

/** Streams and a stop signal, injectable for tests; by default the process's own. */
export interface SimulateUpstreamIo {
  readonly stdout?: (text: string) => void;
  readonly stderr?: (text: string) => void;
  /** Stops the server when aborted; default: the first SIGINT or SIGTERM. */
  readonly signal?: AbortSignal;
}

/** A bad flag value, coded like node's own parseArgs errors so the CLI reports it as usage. */
function usageError(message: string): Error {
  return Object.assign(new TypeError(message), { code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' });
}

function numberFlag(
  name: string,
  raw: string | undefined,
  integer: boolean,
  min: number,
): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw usageError(`--${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got "${raw}"`);
  }
  return value;
}

/** Resolves on the first SIGINT/SIGTERM and removes its listeners. */
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

export async function runSimulateUpstream(
  argv: string[],
  _env?: NodeJS.ProcessEnv,
  io: SimulateUpstreamIo = {},
): Promise<number> {
  const stdout = io.stdout ?? ((text: string) => process.stdout.write(text));
  const stderr = io.stderr ?? ((text: string) => process.stderr.write(text));
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'ttft-ms': { type: 'string' },
      tps: { type: 'string' },
      'chars-per-token': { type: 'string' },
      benchmark: { type: 'boolean' },
      'fixtures-dir': { type: 'string' },
      verbose: { type: 'boolean' },
      'keep-bodies': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    stdout(HELP);
    return 0;
  }
  const port = numberFlag('port', values.port, true, 0) ?? DEFAULT_SIM_PORT;
  if (port > 65535) throw usageError(`--port must be <= 65535, got "${values.port}"`);
  const firstTokenMs = numberFlag('ttft-ms', values['ttft-ms'], false, 0);
  const tokensPerSecond = numberFlag('tps', values.tps, false, 0);
  const charsPerToken = numberFlag('chars-per-token', values['chars-per-token'], true, 1);

  const sim = await startSimulatedUpstream({
    host: values.host ?? '127.0.0.1',
    port,
    benchmark: values.benchmark === true,
    keepBodies: values['keep-bodies'] === true,
    ...(firstTokenMs === undefined ? {} : { firstTokenMs }),
    ...(tokensPerSecond === undefined ? {} : { tokensPerSecond }),
    ...(charsPerToken === undefined ? {} : { charsPerToken }),
    ...(values['fixtures-dir'] === undefined ? {} : { fixturesDir: values['fixtures-dir'] }),
    ...(values.verbose === true ? { log: (line: string) => stderr(`${line}\n`) } : {}),
  });
  stdout(`simulated Anthropic upstream listening on ${sim.url}\n`);
  await (io.signal === undefined ? untilSignal() : untilAborted(io.signal));
  await sim.close();
  return 0;
}
