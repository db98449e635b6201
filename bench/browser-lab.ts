/**
 * What the browser experiments need around a relay, shared by their test
 * (test/browser-compare.test.ts) and their benchmark (bench/scenarios-browser.ts): a self-signed
 * certificate (openssl CLI), nginx running one of the deploy/ templates, a TCP proxy that can cut
 * every connection through it at once (a network drop the page did not ask for), and headless
 * Chromium with or without HTTP/2. Every process started here is stopped by the returned `stop`.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Browser, LaunchOptions } from 'playwright-core';

/** The repository root, from bench/ (vitest) or dist/bench/ (the built bench). */
function repoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.endsWith(join('dist', 'bench')) ? resolve(here, '..', '..') : resolve(here, '..');
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface Certificate {
  readonly cert: string;
  readonly key: string;
}

/**
 * A self-signed certificate for 127.0.0.1 (one day, P-256), written into `dir` by the openssl CLI;
 * node:crypto cannot sign a certificate. Throws a message that says what to install when it is absent.
 */
export async function selfSignedCertificate(dir: string): Promise<Certificate> {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  try {
    await promisify(execFile)(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { timeout: 20_000 },
    );
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(
      `could not make a self-signed certificate with the openssl CLI (Debian: apt-get install -y openssl): ${why}`,
    );
  }
  return { cert, key };
}

export interface Nginx {
  readonly url: string;
  /** The master process (the bench tracks it so it dies with the run). */
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * nginx running `deploy/<template>` in a temporary prefix, in front of `relays` (one address is
 * used for both of the template's upstream slots). With `tls`, the template is nginx-tls.conf's
 * shape and the URL is https.
 */
export async function startNginx(
  binary: string,
  template: 'nginx.conf' | 'nginx-tls.conf',
  relays: readonly string[],
  tls?: Certificate,
): Promise<Nginx> {
  const port = await freePort();
  const prefix = mkdtempSync(join(tmpdir(), 'relay-nginx-'));
  mkdirSync(join(prefix, 'tmp'));
  const values: Record<string, string> = {
    LISTEN_PORT: `127.0.0.1:${port}`,
    RELAY_1: relays[0]!,
    RELAY_2: relays[1] ?? relays[0]!,
    TLS_CERT: tls?.cert ?? '',
    TLS_KEY: tls?.key ?? '',
  };
  const text = readFileSync(join(repoRoot(), 'deploy', template), 'utf8').replace(
    /\$\{(LISTEN_PORT|RELAY_1|RELAY_2|TLS_CERT|TLS_KEY)\}/g,
    (_, name: string) => values[name]!,
  );
  writeFileSync(join(prefix, 'nginx.conf'), text);
  const child: ChildProcess = spawn(
    binary,
    ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off;'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGQUIT');
      const force = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(force);
    }
    rmSync(prefix, { recursive: true, force: true });
  };
  const url = `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
  try {
    // A plain TCP connect: the TLS listener would need the certificate trusted to answer fetch.
    await until(
      () =>
        new Promise<boolean>((ok) => {
          const socket = connect(port, '127.0.0.1');
          socket.once('connect', () => {
            socket.destroy();
            ok(true);
          });
          socket.once('error', () => ok(false));
        }),
      10_000,
      `nginx (${template}) to listen`,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, child, stop };
}

export interface CutProxy {
  readonly url: string;
  /** Destroys every connection through the proxy (both sides); new ones are accepted as before. */
  cut(): number;
  close(): Promise<void>;
}

/** A TCP proxy to `target` (host:port) on a free loopback port, whose connections can be cut. */
export async function startCutProxy(target: string): Promise<CutProxy> {
  const [host, port] = [
    target.slice(0, target.lastIndexOf(':')),
    Number(target.slice(target.lastIndexOf(':') + 1)),
  ];
  const pairs = new Set<[Socket, Socket]>();
  const server = createServer((inbound) => {
    const outbound = connect(port, host);
    const pair: [Socket, Socket] = [inbound, outbound];
    pairs.add(pair);
    const end = () => {
      inbound.destroy();
      outbound.destroy();
      pairs.delete(pair);
    };
    inbound.on('error', end).on('close', end);
    outbound.on('error', end).on('close', end);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const listenPort = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${listenPort}`,
    cut() {
      const n = pairs.size;
      // resetAndDestroy: an RST, as a dropped mobile link or a killed proxy looks to both ends.
      for (const [a, b] of [...pairs]) {
        a.resetAndDestroy();
        b.resetAndDestroy();
      }
      pairs.clear();
      return n;
    },
    close() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** Chromium flags for a quiet headless run; `--ignore-certificate-errors` accepts the self-signed cert. */
export function chromiumOptions(executablePath: string, http2: boolean): LaunchOptions {
  return {
    executablePath,
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
      '--ignore-certificate-errors',
      ...(http2 ? [] : ['--disable-http2']),
    ],
  };
}

/** Launches Chromium through playwright-core (imported here so the bench loads it only when run). */
export async function launchChromium(executablePath: string, http2: boolean): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch(chromiumOptions(executablePath, http2));
}

/** The first of `names` found on PATH, /usr/sbin or /usr/bin (nginx lives in /usr/sbin). */
export function findBinary(
  names: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const dirs = [...(env.PATH ?? '').split(delimiter).filter((d) => d !== ''), '/usr/sbin', '/usr/bin'];
  for (const name of names) {
    for (const dir of dirs) {
      try {
        accessSync(join(dir, name), constants.X_OK);
        return join(dir, name);
      } catch {
        // not here
      }
    }
  }
  return undefined;
}
