/** `relay keys add|list|revoke` against a running relay that reloads the file. */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../src/config.js';
import { type RelayServer, startRelay } from '../src/server.js';
import { eventually, writeKeysFile } from './auth-helpers.js';

const run = promisify(execFile);
const BIN = new URL('../bin/relay.js', import.meta.url).pathname;

function keys(file: string, ...args: string[]) {
  return run(process.execPath, [BIN, 'keys', ...args], {
    env: { ...process.env, RELAY_KEYS_FILE: file },
    timeout: 20_000,
  });
}

let relay: RelayServer;
let file: string;
beforeAll(async () => {
  file = writeKeysFile([]);
  relay = await startRelay(testConfig({ host: '127.0.0.1', keysFile: file }), { keysPollMs: 20 });
});
afterAll(() => relay.close());

const status = async (key: string) =>
  (await fetch(`${relay.url}/v1/streams/str_x`, { headers: { 'x-api-key': key } })).status;

describe('relay keys', () => {
  it('add prints a key once, stores only its hash, and the running relay accepts it without a restart', async () => {
    const { stdout } = await keys(
      file,
      'add',
      'team-a',
      '--concurrent',
      '2',
      '--rpm',
      '60',
      '--models',
      'claude-*',
    );
    const key = stdout.trim();
    expect(key).toMatch(/^rk_[A-Za-z0-9_-]{43}$/);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(key);
    expect(JSON.parse(text).keys[0]).toMatchObject({
      id: 'team-a',
      limits: { concurrent_streams: 2, requests_per_minute: 60, models: ['claude-*'] },
    });
    await eventually(async () => (await status(key)) === 404, 5000, 'key accepted');

    const list = await keys(file, 'list');
    expect(list.stdout).toContain('team-a');
    expect(list.stdout).not.toContain(key);
    expect(list.stdout).not.toContain('key_sha256');

    await keys(file, 'revoke', 'team-a');
    await eventually(async () => (await status(key)) === 401, 5000, 'key revoked');
  });

  it('refuses a bad limit and an unknown id with a message and exit 1', async () => {
    await expect(keys(file, 'add', 'x', '--rpm', 'lots')).rejects.toMatchObject({ code: 1 });
    await expect(keys(file, 'revoke', 'nobody')).rejects.toMatchObject({ code: 1 });
    const missing = join(mkdtempSync(join(tmpdir(), 'relay-keys-')), 'none.json');
    const listed = await keys(missing, 'list');
    expect(listed.stdout).toBe('');
  });
});
