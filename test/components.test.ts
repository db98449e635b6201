/**
 * The test-components helper: a missing component fails its suite with the install command, only an
 * explicit RELAY_TEST_SKIP skips, and the run's summary names what was skipped.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireComponent, skippedComponents, skipSummary } from './helpers/components.js';

const empty = mkdtempSync(join(tmpdir(), 'relay-components-empty-'));
const fake = mkdtempSync(join(tmpdir(), 'relay-components-fake-'));
writeFileSync(join(fake, 'redis-server'), '#!/bin/sh\n');
chmodSync(join(fake, 'redis-server'), 0o755);
afterAll(() => {
  rmSync(empty, { recursive: true, force: true });
  rmSync(fake, { recursive: true, force: true });
});

describe('requireComponent', () => {
  it('fails with the install command and the opt-out variable when the binary is missing', () => {
    expect(() => requireComponent('nginx', {}, [empty])).toThrow(
      /nginx is missing .*npm run test:setup.*apt-get install -y nginx.*RELAY_TEST_SKIP=nginx/,
    );
  });

  it('returns the binary path when the component is present', () => {
    expect(requireComponent('redis', {}, [empty, fake])).toBe(join(fake, 'redis-server'));
  });

  it('returns undefined (skip) only for a component named in RELAY_TEST_SKIP', () => {
    const env = { RELAY_TEST_SKIP: 'nginx, chromium' };
    expect(requireComponent('nginx', env, [empty])).toBeUndefined();
    expect(() => requireComponent('redis', env, [empty])).toThrow(/redis is missing/);
  });

  it('refuses an unknown name in RELAY_TEST_SKIP instead of ignoring the typo', () => {
    expect(() => skippedComponents({ RELAY_TEST_SKIP: 'chromum' })).toThrow(/unknown component\(s\) chromum/);
  });

  it('summarises skipped components by name and by what they test', () => {
    expect(skipSummary([])).toBe('');
    expect(skipSummary(['chromium'])).toBe(
      'SKIPPED on purpose by RELAY_TEST_SKIP: chromium (the demo page tests)',
    );
  });
});

describe('a vitest run with RELAY_TEST_SKIP', () => {
  it('skips the opted-out suite and says so at the end of its output', async () => {
    const child = spawn(
      process.execPath,
      ['node_modules/vitest/vitest.mjs', 'run', 'test/web-e2e.test.ts', '--reporter=default'],
      { env: { ...process.env, RELAY_TEST_SKIP: 'chromium', CI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`vitest did not finish in 30 s:\n${out}`));
      }, 30_000);
      child.on('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    expect(code, out).toBe(0);
    expect(out).toMatch(/\d+ skipped/);
    expect(out).not.toMatch(/\d+ passed/);
    expect(out).toContain('SKIPPED on purpose by RELAY_TEST_SKIP: chromium (the demo page tests)');
  }, 40_000);
});
