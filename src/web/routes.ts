/**
 * The demo page: `GET /`, `GET /web/<file>` and `GET /web/info.json` (the upstream and default
 * model it shows), served from the hand-written files next to this
 * module (no build step, nothing from the internet). The files are read once, on the first request,
 * and kept in memory; only the files found then are ever served, looked up by exact name, so no
 * path can reach outside `src/web`.
 *
 * `tsc` copies only TypeScript into `dist/`, so from `dist/src/web/routes.js` the assets are found
 * in the repository's `src/web` (three levels up); under vitest this module already sits there.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Env, Hono } from 'hono';
import { notFound } from '../transports/http-errors.js';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Same-origin only; WebSocket to the page's own host is covered by `'self'` (CSP level 3). */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  readonly body: Uint8Array<ArrayBuffer>;
  readonly type: string;
}

/** The directory holding index.html, from either the source tree or the compiled tree. */
export function webAssetsDir(moduleUrl: string = import.meta.url): string {
  const here = dirname(fileURLToPath(moduleUrl));
  const candidates = [here, resolve(here, '..', '..', '..', 'src', 'web')];
  for (const dir of candidates) if (existsSync(join(dir, 'index.html'))) return dir;
  throw new Error(`the web page's files are missing (looked in ${candidates.join(', ')})`);
}

async function loadAssets(dir: string): Promise<ReadonlyMap<string, Asset>> {
  const assets = new Map<string, Asset>();
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const type = CONTENT_TYPES[extname(entry.name)];
    if (!entry.isFile() || type === undefined) continue;
    assets.set(entry.name, { body: new Uint8Array(await readFile(join(dir, entry.name))), type });
  }
  return assets;
}

/** What the page shows about the relay (`GET /web/info.json`): never a key. */
export interface PageInfo {
  /** "simulated", or the upstream base URL's origin. */
  readonly upstream: string;
  readonly simulated: boolean;
  readonly defaultModel: string;
}

export function registerWebRoutes<E extends Env>(
  app: Hono<E>,
  options: { dir?: string; info?: PageInfo } = {},
): void {
  let assets: Promise<ReadonlyMap<string, Asset>> | undefined;
  const serve = async (name: string): Promise<Response | undefined> => {
    assets ??= loadAssets(options.dir ?? webAssetsDir());
    const asset = (await assets).get(name);
    if (asset === undefined) return undefined;
    return new Response(asset.body, {
      headers: {
        'content-type': asset.type,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        ...(asset.type.startsWith('text/html') ? { 'content-security-policy': CSP } : {}),
      },
    });
  };

  app.get('/', async (c) => (await serve('index.html')) ?? notFound(c));
  // info.json is answered in the files' route rather than a route of its own: hono's fast router
  // (app.ts) cannot hold a fixed path beside a parameter in the same place.
  app.get('/web/:name', async (c) => {
    const name = c.req.param('name');
    if (name !== 'info.json') return (await serve(name)) ?? notFound(c);
    const info = options.info;
    if (info === undefined) return notFound(c);
    c.header('cache-control', 'no-cache');
    return c.json({ upstream: info.upstream, simulated: info.simulated, default_model: info.defaultModel });
  });
}
