/** RELAY_UPSTREAMS / RELAY_UPSTREAMS_FILE: parsed, keys resolved, and clear errors at start. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadConfig } from '../src/config.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'relay-upstreams-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const list = (...entries: object[]) => JSON.stringify(entries);

describe('the upstream pool setting', () => {
  test('an inline list, defaults applied, keys from api_key or the variable api_key_env names', () => {
    const config = loadConfig({
      RELAY_UPSTREAMS: list(
        { name: 'main', base_url: 'https://relay.example/api', api_key: 'k1', weight: 3, models: ['m1'] },
        { name: 'backup', api_key_env: 'BACKUP_KEY', priority: 1, max_concurrent: 8 },
      ),
      BACKUP_KEY: 'k2',
    });
    expect(config.upstreamPool).toEqual([
      {
        name: 'main',
        baseUrl: 'https://relay.example/api',
        apiKey: 'k1',
        priority: 0,
        weight: 3,
        models: ['m1'],
      },
      {
        name: 'backup',
        baseUrl: 'https://api.anthropic.com',
        apiKey: 'k2',
        priority: 1,
        weight: 1,
        maxConcurrent: 8,
      },
    ]);
  });

  test('the same list from RELAY_UPSTREAMS_FILE', async () => {
    const file = join(dir, 'pool.json');
    await writeFile(file, list({ name: 'a', api_key: 'k' }));
    expect(loadConfig({ RELAY_UPSTREAMS_FILE: file }).upstreamPool.map((u) => u.name)).toEqual(['a']);
  });

  test('unset: ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL make a pool of one; no key, none (the simulator)', () => {
    expect(
      loadConfig({ ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: 'https://proxy.example' }).upstreamPool,
    ).toEqual([{ name: 'anthropic', baseUrl: 'https://proxy.example', apiKey: 'k', priority: 0, weight: 1 }]);
    expect(loadConfig({}).upstreamPool).toEqual([]);
  });

  test.each([
    ['not JSON', '[{', /upstreams \(RELAY_UPSTREAMS\): not JSON/],
    ['an empty list', '[]', /upstreams \(RELAY_UPSTREAMS\)/],
    [
      'a bad URL',
      list({ name: 'a', base_url: 'ftp://x', api_key: 'k' }),
      /upstreams\.0\.base_url \(RELAY_UPSTREAMS\)/,
    ],
    ['a bad name', list({ name: 'a b', api_key: 'k' }), /upstreams\.0\.name \(RELAY_UPSTREAMS\): use 1-64/],
    [
      'both keys',
      list({ name: 'a', api_key: 'k', api_key_env: 'K' }),
      /exactly one of "api_key" and "api_key_env"/,
    ],
    ['no key', list({ name: 'a' }), /exactly one of "api_key" and "api_key_env"/],
    [
      'an unknown field',
      list({ name: 'a', api_key: 'k', wieght: 2 }),
      /upstreams\.0 \(RELAY_UPSTREAMS\).*wieght/,
    ],
    [
      'a zero weight',
      list({ name: 'a', api_key: 'k', weight: 0 }),
      /upstreams\.0\.weight \(RELAY_UPSTREAMS\)/,
    ],
    [
      'a name twice',
      list({ name: 'a', api_key: 'k' }, { name: 'a', api_key: 'k' }),
      /upstreams\.1\.name \(RELAY_UPSTREAMS\): "a" is used twice/,
    ],
    [
      'an unset key variable',
      list({ name: 'a', api_key_env: 'NOPE' }),
      /upstreams\.0\.api_key_env \(RELAY_UPSTREAMS\): the variable NOPE is not set/,
    ],
  ])('%s is refused at start with the item, field and variable named', (_what, value, message) => {
    expect(() => loadConfig({ RELAY_UPSTREAMS: value })).toThrow(message);
  });

  test('a file that is missing or wrong is named by RELAY_UPSTREAMS_FILE', async () => {
    expect(() => loadConfig({ RELAY_UPSTREAMS_FILE: join(dir, 'missing.json') })).toThrow(
      /upstreamsFile \(RELAY_UPSTREAMS_FILE\): cannot read .*missing\.json \(ENOENT\)/,
    );
    const file = join(dir, 'bad.json');
    await writeFile(file, list({ name: 'a', api_key: 'k', priority: -1 }));
    expect(() => loadConfig({ RELAY_UPSTREAMS_FILE: file })).toThrow(
      /upstreams\.0\.priority \(RELAY_UPSTREAMS_FILE\)/,
    );
  });

  test('both variables at once are refused', async () => {
    const file = join(dir, 'both.json');
    await writeFile(file, list({ name: 'a', api_key: 'k' }));
    expect(() =>
      loadConfig({ RELAY_UPSTREAMS_FILE: file, RELAY_UPSTREAMS: list({ name: 'b', api_key: 'k' }) }),
    ).toThrow(/set RELAY_UPSTREAMS or RELAY_UPSTREAMS_FILE, not both/);
  });

  test('an error never shows a key', () => {
    let message = '';
    try {
      loadConfig({ RELAY_UPSTREAMS: list({ name: 'a b', api_key: 'sk-ant-secret-value' }) });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('upstreams.0.name');
    expect(message).not.toContain('sk-ant-secret-value');
  });
});
