/** The demo page's static routes, without a browser: content types, caching, 404s, asset lookup. */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../src/config.js';
import type { RelayServer } from '../src/server.js';
import { webAssetsDir } from '../src/web/routes.js';
import { startTestRelay } from './helpers/relay.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const webDir = join(root, 'src', 'web');

let relay: RelayServer;
beforeAll(async () => {
  relay = await startTestRelay();
});
afterAll(async () => {
  await relay.close();
});

const get = (path: string, init?: RequestInit) => fetch(`${relay.url}${path}`, init);

describe('GET / and /web/*', () => {
  it('serves the page as HTML, uncached, with a same-origin CSP', async () => {
    const res = await get('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("connect-src 'self'");
    const html = await res.text();
    expect(html).toContain('<script type="module" src="/web/app.js"></script>');
    expect(html).not.toMatch(/https?:\/\//); // nothing from the internet
  });

  it('answers /web/info.json with the upstream the page talks to and its default model, uncached', async () => {
    const res = await get('/web/info.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(await res.json()).toEqual({
      upstream: 'simulated',
      simulated: true,
      default_model: testConfig().defaultModel,
    });
  });

  it('serves every script and the stylesheet with their content types', async () => {
    const files = readdirSync(webDir).filter((f) => f.endsWith('.js') || f.endsWith('.css'));
    expect(files).toEqual(expect.arrayContaining(['app.js', 'style.css', 'transport-sse.js']));
    for (const file of files) {
      const res = await get(`/web/${file}`);
      expect(res.status, file).toBe(200);
      expect(res.headers.get('content-type'), file).toBe(
        file.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8',
      );
      expect(res.headers.get('cache-control'), file).toBe('no-cache');
      expect(res.headers.get('content-security-policy'), file).toBeNull();
      await res.arrayBuffer();
    }
  });

  it('every module the page imports exists and is served', async () => {
    const seen = new Set<string>();
    const queue = ['app.js'];
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const res = await get(`/web/${file}`);
      expect(res.status, file).toBe(200);
      for (const m of (await res.text()).matchAll(/from '\.\/([\w-]+\.js)'/g)) queue.push(m[1]!);
    }
    expect([...seen]).toEqual(
      expect.arrayContaining(['race.js', 'gap-chart.js', 'transport-ws.js', 'transport-eventsource.js']),
    );
  });

  it('answers 404 JSON for unknown assets, sources and paths outside src/web', async () => {
    for (const path of [
      '/web/nope.js',
      '/web/routes.ts',
      '/web/',
      '/web/..%2Fapp.ts',
      '/web/%2e%2e%2fpackage.json',
      '/web/../package.json',
      '/web/sub/app.js',
      '/index.html',
    ]) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type'), path).toContain('application/json');
      const body = (await res.json()) as { error: { code: string } };
      expect(body.error.code, path).toBe('not_found');
    }
  });

  it('does not take over other routes or methods', async () => {
    expect((await get('/health')).status).toBe(200);
    const post = await get('/', { method: 'POST' });
    expect(post.status).toBe(404);
    await post.arrayBuffer();
  });
});

describe('webAssetsDir', () => {
  it('finds src/web from the source tree and from the compiled dist/src/web', () => {
    expect(webAssetsDir(pathToFileURL(join(webDir, 'routes.ts')).href)).toBe(webDir);
    expect(webAssetsDir(pathToFileURL(join(root, 'dist', 'src', 'web', 'routes.js')).href)).toBe(webDir);
  });

  it('fails loudly when the files are missing', () => {
    expect(() => webAssetsDir(pathToFileURL('/nonexistent/dist/src/web/routes.js').href)).toThrow(
      /web page's files are missing/,
    );
  });

  it.skipIf(!existsSync(join(root, 'dist', 'src', 'web', 'routes.js')))(
    'the compiled module (what `npm start` runs) resolves the same directory',
    async () => {
      const compiled = (await import(pathToFileURL(join(root, 'dist', 'src', 'web', 'routes.js')).href)) as {
        webAssetsDir: () => string;
      };
      expect(compiled.webAssetsDir()).toBe(webDir);
    },
  );
});
