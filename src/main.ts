/**
 * The CLI: `relay serve | simulate-upstream | chat | bench | keys`. The only place that reads the
 * environment and traps signals; each command lives in src/cli/.
 */

const HELP = `relay — streams Claude's answers over SSE and WebSocket on one core

Usage: relay <command> [flags]

Commands:
  serve               start the relay (simulated upstream unless ANTHROPIC_API_KEY is set)
  simulate-upstream   start only the simulated Anthropic API
  chat [prompt]       stream an answer in the terminal (no prompt: a multi-turn REPL)
  bench               run the SSE vs WebSocket vs direct benchmark
  keys add|list|revoke  manage relay keys (RELAY_KEYS_FILE)

Run "relay <command> --help" for its flags and environment variables.
`;

type Command = (argv: string[], env: NodeJS.ProcessEnv) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./cli/serve.js')).runServe,
  'simulate-upstream': async () => (await import('./cli/simulate-upstream.js')).runSimulateUpstream,
  chat: async () => (await import('./cli/chat.js')).runChat,
  bench: async () => (await import('./cli/bench.js')).runBench,
  keys: async () => (await import('./cli/keys.js')).runKeys,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP);
    return name === undefined ? 1 : 0;
  }
  const load = COMMANDS[name];
  if (load === undefined) {
    process.stderr.write(`relay: unknown command "${name}"\n\n${HELP}`);
    return 2;
  }
  const run = await load();
  try {
    return await run(rest, process.env);
  } catch (err) {
    if (isUsageError(err)) {
      process.stderr.write(`relay ${name}: ${(err as Error).message}\nRun "relay ${name} --help".\n`);
      return 2;
    }
    throw err;
  }
}

function isUsageError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}
