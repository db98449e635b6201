/** The relay as users run it: `node bin/relay.js serve` in a child process (build first). */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';

export interface RelayProcess {
  readonly url: string;
  readonly child: ChildProcessWithoutNullStreams;
  /** Resolves when the process has exited, with its exit code and the time (performance.now). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  stdout(): string;
  stderr(): string;
  /** Kills the process if it is still running (test cleanup). */
  kill(): Promise<void>;
}

/**
 * Starts the relay on a free port with the zero-delay simulated upstream and `env` on top;
 * `nodeFlags` go before the script, as `npm start` passes RELAY_NODE_FLAGS.
 */
export async function spawnRelay(
  env: Record<string, string> = {},
  timeoutMs = 15_000,
  nodeFlags: readonly string[] = [],
): Promise<RelayProcess> {
  const child = spawn(process.execPath, [...nodeFlags, 'bin/relay.js', 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      RELAY_HOST: '127.0.0.1',
      RELAY_PORT: '0',
      RELAY_SIM_FIRST_TOKEN_MS: '0',
      RELAY_SIM_TPS: '0',
      RELAY_LOG_LEVEL: 'silent',
      ...env,
    },
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>(
    (resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() }));
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`relay did not start within ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    const onData = (): void => {
      const match = /relay listening on (\S+)/.exec(out);
      if (match?.[1] === undefined) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      resolve(match[1]);
    };
    child.stdout.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`relay exited before listening: ${err}`));
    });
  });
  return {
    url,
    child,
    exited,
    stdout: () => out,
    stderr: () => err,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
