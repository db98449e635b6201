/**
 * A throwaway redis-server on a free loopback port with persistence off: the one starter behind
 * the bench's `redis` scenario and the test suite's Redis files (test/helpers/redis-server.ts
 * re-exports it; the bench cannot import from test/). Stoppable, and restartable on the same
 * port (to test Redis going away).
 *
 * redis-server is not a Node process, so the bench's child guard (an IPC channel) cannot take it
 * down when whoever started it is killed outright (`kill -9`), and redis-server has no parent-death
 * option of its own. So it is started through util-linux's `setpriv --pdeathsig KILL`, which sets
 * the kernel's parent-death signal (prctl PR_SET_PDEATHSIG) and then execs redis-server in the same
 * process: the kernel kills it when the thread that spawned it (Node's main thread) ends, however
 * it ends. Without setpriv (not Linux) it is started directly, and only a clean exit stops it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { findOnPath } from './procs.js';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** The running redis-server's pid (a restart gives a new one); undefined while stopped. */
  readonly pid: number | undefined;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s); its data is gone (no persistence). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
}

export interface RedisServerOptions {
  /** Called with every redis-server process spawned (the bench tracks its children with it). */
  readonly onSpawn?: (child: ChildProcess) => void;
  /** How long it may take to accept a connection (default 10 s). */
  readonly startTimeoutMs?: number;
}

/** A loopback port free right now (another process may take it before it is used). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startRedisServer(binary: string, opts: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const timeoutMs = opts.startTimeoutMs ?? 10_000;
  let child: ChildProcess | undefined;

  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--protected-mode',
    'no',
  ];
  const setpriv = findOnPath('setpriv');
  const launch = async (): Promise<void> => {
    // setpriv execs redis-server: the same pid, so stop() and /proc readers see redis-server itself.
    const c =
      setpriv === undefined
        ? spawn(binary, args, { stdio: 'ignore' })
        : spawn(setpriv, ['--pdeathsig', 'KILL', '--', binary, ...args], { stdio: 'ignore' });
    child = c;
    opts.onSpawn?.(c);
    const deadline = Date.now() + timeoutMs;
    while (!(await canConnect(port))) {
      if (c.exitCode !== null || c.signalCode !== null || Date.now() > deadline) {
        const why =
          c.exitCode !== null || c.signalCode !== null
            ? `exited (${c.exitCode ?? c.signalCode})`
            : `did not listen within ${timeoutMs} ms`;
        await stop();
        throw new Error(`redis-server on port ${port} ${why}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child?.pid;
    },
    stop,
    restart: launch,
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
